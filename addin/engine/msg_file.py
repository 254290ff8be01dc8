"""Turn an Outlook .msg file (MS-OXMSG: an OLE compound file of MAPI properties) into a Message.

Where the file keeps the original Internet headers (PR_TRANSPORT_MESSAGE_HEADERS, present on
received mail) they win for Message-ID, threading, addresses and date: they are what the
other side's mail client saw.  Drafts and sent items have no such headers, so those fields
come from the MAPI properties and the recipient storages instead.

An embedded message (an e-mail attached to an e-mail) becomes an RFC 822 ``.eml`` attachment
named after its subject: a .msg cannot be rebuilt without an OLE writer, while an .eml
opens in every mail client.  Embedded OLE objects (attach method 6, pictures pasted into
RTF mail) carry no file a CRM user could open and are left out.  Compressed RTF bodies are
not decompressed: Outlook also stores the plain-text body, which is what is read.
"""

from __future__ import annotations

import codecs
import email
import email.policy
import email.utils
import io
import re
import struct
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import olefile

from addin.errors import MessageError
from addin.mailbox.types import Address, Attachment, Message, Sensitivity
from addin.mime import parse_address_list

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PROPS = "__properties_version1.0"
_RECIP = "__recip_version1.0_#"
_ATTACH = "__attach_version1.0_#"
_EMBEDDED = "__substg1.0_3701000D"
_MAX_DEPTH = 4  # e-mails attached to e-mails attached to ...: deeper ones are dropped
_SENSITIVITY = {1: Sensitivity.PERSONAL, 2: Sensitivity.PRIVATE, 3: Sensitivity.CONFIDENTIAL}
_RECIPIENT_KINDS = {1: "to", 2: "cc", 3: "bcc"}
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def is_msg(data: bytes) -> bool:
    """Whether the bytes start like an OLE compound file (what every .msg is)."""
    return data[:8] == OLE_MAGIC


class _Storage:
    """One property storage: the message itself, a recipient, an attachment or an embedded message."""

    def __init__(self, ole: olefile.OleFileIO, path: list[str], header_size: int) -> None:
        self.ole, self.path = ole, path
        self.fixed: dict[int, tuple[int, bytes]] = {}
        raw = self._read(_PROPS)
        if raw is None:
            raise MessageError("The file is not an Outlook message: it has no MAPI property stream.")
        # Fixed-size properties: 16-byte entries of tag (type in the low word), flags, 8-byte value.
        for offset in range(header_size, len(raw) - 15, 16):
            tag = struct.unpack_from("<I", raw, offset)[0]
            self.fixed[tag >> 16] = (tag & 0xFFFF, raw[offset + 8 : offset + 16])
        codepage = self.integer(0x3FFD) or 1252
        try:
            self.codec = codecs.lookup(f"cp{codepage}" if codepage != 65001 else "utf-8").name
        except LookupError:
            self.codec = "cp1252"

    def _read(self, name: str) -> bytes | None:
        entry = [*self.path, name]
        if self.ole.exists(entry) and self.ole.get_type(entry) == olefile.STGTY_STREAM:
            return bytes(self.ole.openstream(entry).read())
        return None

    def children(self, prefix: str) -> list[list[str]]:
        depth = len(self.path) + 1
        found = [
            entry
            for entry in self.ole.listdir(streams=False, storages=True)
            if len(entry) == depth and entry[:-1] == self.path and entry[-1].startswith(prefix)
        ]
        return sorted(found)

    def has_storage(self, name: str) -> bool:
        return bool(self.ole.exists([*self.path, name]))

    def string(self, prop: int) -> str:
        raw = self._read(f"__substg1.0_{prop:04X}001F")
        if raw is not None:
            return raw.decode("utf-16-le", "replace").rstrip("\x00")
        raw = self._read(f"__substg1.0_{prop:04X}001E")
        return raw.decode(self.codec, "replace").rstrip("\x00") if raw is not None else ""

    def binary(self, prop: int) -> bytes | None:
        return self._read(f"__substg1.0_{prop:04X}0102")

    def integer(self, prop: int) -> int | None:
        kind, value = self.fixed.get(prop, (0, b""))
        if kind in (0x0002, 0x0003, 0x000B):  # 16/32-bit integer and boolean share the low bytes
            return int(struct.unpack_from("<i" if kind == 0x0003 else "<h", value)[0])
        return None

    def time(self, prop: int) -> datetime | None:
        kind, value = self.fixed.get(prop, (0, b""))
        ticks = struct.unpack_from("<Q", value)[0] if kind == 0x0040 else 0
        if not ticks:
            return None
        try:
            return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
        except OverflowError:
            return None


def parse_msg(data: bytes, *, item_id: str = "", folder_id: str = "") -> Message:
    """Parse the bytes of an Outlook .msg file; any unreadable file raises MessageError."""
    if not data.strip(b"\x00 \r\n\t"):
        raise MessageError("The file is empty; it is not an e-mail message.")
    if not is_msg(data):
        raise MessageError("The file is not an Outlook .msg message (it is not an OLE compound file).")
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as exc:  # olefile raises OSError, struct.error, IndexError ... on damaged files
        raise MessageError(f"The Outlook message is damaged or truncated: {type(exc).__name__}") from None
    try:
        # A cut-off file still opens; its allocation table then points at sectors past the end.
        if any(ole.nb_sect <= sector < 0xFFFFFFFA for sector in ole.fat):
            raise MessageError("The Outlook message is truncated: part of the file is missing.")
        return _message(_Storage(ole, [], 32), item_id, folder_id, depth=0)
    except MessageError:
        raise
    except Exception as exc:  # a stream that points past the end of a truncated file, and the like
        raise MessageError(f"The Outlook message is damaged or truncated: {type(exc).__name__}") from None
    finally:
        ole.close()


def _addresses(value: str) -> tuple[Address, ...]:
    # The transport headers are read like any MIME header: one reading for the product.
    return parse_address_list(value) if value.strip() else ()


def _smtp(store: _Storage, *props: int) -> str:
    """The first property that holds an SMTP address (Exchange X.500 DNs are skipped)."""
    for prop in props:
        value = store.string(prop).strip()
        if "@" in value and not value.startswith("/"):
            return value
    return ""


def _recipients(store: _Storage) -> dict[str, list[Address]]:
    kinds: dict[str, list[Address]] = {"to": [], "cc": [], "bcc": []}
    for path in store.children(_RECIP):
        recip = _Storage(store.ole, path, 8)
        addr = _smtp(recip, 0x39FE, 0x3003, 0x5FF6)
        if addr:
            kind = _RECIPIENT_KINDS.get(recip.integer(0x0C15) or 1, "to")
            name = recip.string(0x3001).strip()
            kinds[kind].append(Address(addr, "" if name == addr else name))
    return kinds


def _headers(text: str) -> EmailMessage | None:
    if not text.strip():
        return None
    parsed = email.message_from_string(text, policy=email.policy.default)
    return parsed if isinstance(parsed, EmailMessage) else None


def _header(headers: EmailMessage | None, name: str) -> str:
    if headers is None:
        return ""
    try:
        return " ".join(str(headers.get(name) or "").split())
    except Exception:  # one malformed header must not lose the message
        return ""


def _header_pairs(headers: EmailMessage | None) -> tuple[tuple[str, str], ...]:
    # Raw values: a Received line the header classes cannot parse is still worth keeping.
    raw = headers.raw_items() if headers is not None else []
    return tuple((key, " ".join(str(value).split())) for key, value in raw)


def _message(store: _Storage, item_id: str, folder_id: str, *, depth: int) -> Message:
    raw_headers = store.string(0x007D)
    headers = _headers(raw_headers)
    recips = _recipients(store)
    name = store.string(0x0C1A).strip() or store.string(0x0042).strip()
    address = _smtp(store, 0x5D01, 0x0C1F, 0x5D02, 0x0065)
    from_header = _addresses(_header(headers, "From"))
    sender = from_header[0] if from_header else (Address(address, name) if address else None)
    try:
        date = _header(headers, "Date")
        sent = email.utils.parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        sent = None
    sent = sent or store.time(0x0039)
    html = store.binary(0x1013)
    html_body = html.decode(_html_codec(store), "replace") if html else store.string(0x1013) or None
    references = _header(headers, "References") or store.string(0x1039)
    return Message(
        id=item_id,
        folder_id=folder_id,
        message_id=_header(headers, "Message-ID") or store.string(0x1035).strip() or None,
        subject=store.string(0x0037) or _header(headers, "Subject"),
        sender=sender,
        to=_addresses(_header(headers, "To")) or tuple(recips["to"]),
        cc=_addresses(_header(headers, "Cc")) or tuple(recips["cc"]),
        bcc=tuple(recips["bcc"]),  # Bcc never travels in headers; only the sender's copy knows it
        in_reply_to=_header(headers, "In-Reply-To") or store.string(0x1042).strip() or None,
        references=tuple(references.split()),
        text_body=store.string(0x1000),
        html_body=html_body,
        sent=sent,
        received=store.time(0x0E06) or sent,
        sensitivity=_SENSITIVITY.get(store.integer(0x0036) or 0, Sensitivity.NORMAL),
        attachments=tuple(a for p in store.children(_ATTACH) if (a := _attachment(store, p, depth))),
        headers=_header_pairs(headers),
    )


def _html_codec(store: _Storage) -> str:
    cpid = store.integer(0x3FDE)  # PR_INTERNET_CPID: the code page the HTML body is written in
    try:
        return codecs.lookup("utf-8" if cpid in (None, 65001) else f"cp{cpid}").name
    except LookupError:
        return "utf-8"


def _attachment(parent: _Storage, path: list[str], depth: int) -> Attachment | None:
    store = _Storage(parent.ole, path, 8)
    name = store.string(0x3707) or store.string(0x3704) or store.string(0x3001)
    content_id = store.string(0x3712).strip("<> ") or None
    inline = bool(store.integer(0x7FFE))  # PR_ATTACHMENT_HIDDEN: an image the HTML body shows
    if store.has_storage(_EMBEDDED):
        if store.integer(0x3705) == 6 or depth + 1 >= _MAX_DEPTH:  # an OLE object, or nested too deep
            return None
        inner = _message(_Storage(parent.ole, [*path, _EMBEDDED], 24), "", "", depth=depth + 1)
        title = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", inner.subject).strip(" .") or "message"
        return Attachment(f"{title[:120]}.eml", "message/rfc822", to_rfc822(inner), inline, content_id)
    data = store.binary(0x3701)
    if data is None:  # attach method 2-4: a link to a file on the sender's disk, no content
        return None
    mime_type = store.string(0x370E).strip().lower() or "application/octet-stream"
    return Attachment(name or "attachment", mime_type, data, inline, content_id)


def to_rfc822(message: Message) -> bytes:
    """Render a parsed message as RFC 822 bytes (how an attached e-mail is handed on)."""
    out = EmailMessage(policy=email.policy.SMTP)

    def put(header: str, value: str) -> None:
        value = " ".join(value.split())  # no CR/LF may reach a header from a hostile file
        if value:
            try:
                out[header] = value
            except Exception:  # a value the header classes reject: carry it as plain ASCII
                out[header] = value.encode("ascii", "replace").decode("ascii")

    put("From", str(message.sender) if message.sender else "")
    put("To", ", ".join(map(str, message.to)))
    put("Cc", ", ".join(map(str, message.cc)))
    put("Subject", message.subject)
    put("Date", email.utils.format_datetime(message.sent) if message.sent else "")
    put("Message-ID", message.message_id or "")
    put("In-Reply-To", message.in_reply_to or "")
    put("References", " ".join(message.references))
    # Bare line feeds in: the SMTP policy writes CRLF, and a CR left in would come out doubled.
    out.set_content((message.text_body or "").replace("\r\n", "\n"))
    if message.html_body:
        out.add_alternative(message.html_body.replace("\r\n", "\n"), subtype="html")
        html = out.get_body(("html",))
        for item in message.attachments:
            if item.is_inline and item.content_id and html is not None:
                # Inline pictures stay inline: related to the HTML that shows them by cid.
                main, _, sub = item.content_type.partition("/")
                html.add_related(
                    item.content,
                    main or "application",
                    sub or "octet-stream",
                    cid=f"<{item.content_id}>",
                    filename=item.name,
                    disposition="inline",
                )
    for item in message.attachments:
        if item.is_inline and item.content_id and message.html_body:
            continue
        main, _, sub = item.content_type.partition("/")
        if item.content_type == "message/rfc822":  # the email package wants a Message object here
            inner = email.message_from_bytes(item.content, policy=email.policy.default)
            out.add_attachment(inner, filename=item.name)
        else:
            out.add_attachment(item.content, main or "application", sub or "octet-stream", filename=item.name)
    return out.as_bytes()
