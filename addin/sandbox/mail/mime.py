"""MIME in and out of the sandbox Exchange.

Reading is the product's one MIME reading, ``addin.mime``: the sandbox files delivered mail
with the same subject, addresses, bodies and attachments the bridge reads from a dropped
file, the way Exchange presents them.  Parsing never raises: malformed mail is stored as
given and served with whatever fields could be read.  Writing (``build_mime``) is what a
server generates for an item created from fields.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from addin.engine.html_text import html_to_text
from addin.mailbox.types import Address, Sensitivity
from addin.mime import MimeMessage, header_text, read_mime
from addin.sandbox.mail.soap import iso

INTERNET_HEADERS_SET = "internetheaders"
INTERNET_HEADERS_GUID = "00020386-0000-0000-c000-000000000046"

# (name, content_type, content_id, is_inline, content)
AttachmentTuple = tuple[str, str, str | None, bool, bytes]

_SENSITIVITY_NAMES = {
    Sensitivity.NORMAL: "Normal",
    Sensitivity.PERSONAL: "Personal",
    Sensitivity.PRIVATE: "Private",
    Sensitivity.CONFIDENTIAL: "Confidential",
}
_SENSITIVITY_OUT = {"Personal": "Personal", "Private": "Private", "Confidential": "Company-Confidential"}


def _decode(value: Any) -> str:
    """Header text as a mail client shows it (kept for callers; the reading is ``addin.mime``)."""
    return header_text(value)


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n]+\s*", " ", text).strip()


def _box(address: Address) -> dict[str, str]:
    return {"name": address.name, "email": address.email}


def fields_from(parsed: MimeMessage, raw: bytes, received: datetime | None = None) -> dict[str, Any]:
    """The item fields Exchange stores for a parsed message (Subject, From, HasAttachments, ...)."""
    received = received or datetime.now(UTC)
    fields: dict[str, Any] = {"item_class": "IPM.Note", "categories": [], "ext": []}
    fields["subject"] = parsed.subject or None
    fields["author"] = _box(parsed.author) if parsed.author else None
    fields["sender"] = _box(parsed.sender) if parsed.sender else fields["author"]
    fields["to"] = [_box(a) for a in parsed.to]
    fields["cc"] = [_box(a) for a in parsed.cc]
    fields["bcc"] = [_box(a) for a in parsed.bcc]
    fields["reply_to"] = [_box(a) for a in parsed.reply_to]
    fields["message_id"] = parsed.message_id
    fields["in_reply_to"] = parsed.in_reply_to
    fields["references"] = " ".join(parsed.references) or None
    fields["datetime_sent"] = iso(parsed.date or received)
    fields["datetime_received"] = iso(received)
    fields["datetime_created"] = iso(received)
    fields["last_modified"] = iso(received)
    fields["sensitivity"] = _SENSITIVITY_NAMES[parsed.sensitivity]
    fields["importance"] = parsed.importance
    fields["headers"] = [[name, value] for name, value in parsed.headers]
    if parsed.html_body is not None:
        fields["body"], fields["body_type"] = parsed.html_body, "HTML"
    else:
        fields["body"], fields["body_type"] = parsed.text_body or "", "Text"
    fields["text_body"] = (
        parsed.text_body if parsed.text_body is not None else html_to_text(parsed.html_body or "")
    )
    fields["is_read"] = False
    fields["is_draft"] = False
    fields["size"] = len(raw)
    return fields


def attachment_tuples(parsed: MimeMessage) -> list[AttachmentTuple]:
    return [(a.name, a.content_type, a.content_id, a.is_inline, a.content) for a in parsed.attachments]


def parse_mime(raw: bytes, received: datetime | None = None) -> tuple[dict[str, Any], list[AttachmentTuple]]:
    """Fields and attachments of a MIME message; never raises (the reading is ``addin.mime``)."""
    parsed = read_mime(raw)
    return fields_from(parsed, raw, received), attachment_tuples(parsed)


_AS_IS = email.policy.compat32.clone(linesep="\r\n", max_line_length=0)


def attached_messages(raw: bytes) -> list[bytes]:
    """The e-mails attached to a message (its message/rfc822 parts, not those nested deeper), in
    order, with their header lines kept as written: re-folding can damage malformed headers."""
    try:
        msg = email.message_from_bytes(raw, policy=_AS_IS)
        out: list[bytes] = []
        _collect_messages(msg, out)
        return out
    except Exception:  # malformed mail: the caller keeps what the reading found
        return []


def _collect_messages(msg: Any, out: list[bytes]) -> None:
    for part in msg.get_payload() if msg.is_multipart() else []:
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                out.append(payload[0].as_bytes(policy=_AS_IS))
            elif isinstance(payload, str):
                out.append(payload.encode("ascii", "surrogateescape"))
        elif part.is_multipart():
            _collect_messages(part, out)


def parse_attached(raw: bytes) -> tuple[dict[str, Any], list[AttachmentTuple]]:
    """``parse_mime``, with each attached e-mail's bytes as written in ``raw``."""
    fields, rows = parse_mime(raw)
    rfc822 = [n for n, row in enumerate(rows) if row[1].lower() == "message/rfc822"]
    kept = attached_messages(raw)
    if len(kept) == len(rfc822):
        for n, content in zip(rfc822, kept, strict=True):
            name, ctype, cid, inline, _ = rows[n]
            rows[n] = (name, ctype, cid, inline, content)
    return fields, rows


def _fmt(box: dict[str, str] | None) -> str:
    if not box:
        return ""
    return email.utils.formataddr((_one_line(box.get("name") or ""), _one_line(box.get("email") or "")))


def internet_header_props(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """The PS_INTERNET_HEADERS extended properties of an item, as (header name, value)."""
    out = []
    for prop in fields.get("ext") or []:
        attrs = {k.lower(): v for k, v in prop["attrs"].items()}
        dist = (attrs.get("distinguishedpropertysetid") or "").lower()
        guid = (attrs.get("propertysetid") or "").lower()
        name = attrs.get("propertyname")
        if name and (dist == INTERNET_HEADERS_SET or guid == INTERNET_HEADERS_GUID) and prop.get("value"):
            out.append((str(name), str(prop["value"])))
    return out


def build_mime(
    fields: dict[str, Any], attachments: list[AttachmentTuple], include_bcc: bool = False
) -> bytes:
    """RFC 5322 bytes for an item created from fields (what a real server generates on send)."""
    # Header lines up to RFC 5322's 998 characters: Python's folding at 78 can drop a blank
    # where it breaks a line, and Exchange keeps a subject's blanks. Attached e-mails keep their
    # header lines as they are (no refolding of a parsed source).
    policy = email.policy.SMTP.clone(refold_source="none", max_line_length=998)
    raw = _build_mime(fields, attachments, include_bcc, policy)
    if 0 <= raw.find(b"\r\n\r\n") < raw.find(b"\r\nContent-Type:"):
        # Python's folding of a long malformed id header (Message-ID, References with spaces)
        # can emit an empty line, which would end the header block early: keep such lines whole.
        raw = _build_mime(fields, attachments, include_bcc, policy.clone(max_line_length=10_000))
    return raw


def _build_mime(
    fields: dict[str, Any], attachments: list[AttachmentTuple], include_bcc: bool, policy: Any
) -> bytes:
    msg = EmailMessage(policy=policy)

    def put(name: str, value: str) -> None:
        value = _one_line(value)
        if not value:
            return
        try:
            msg[name] = value
        except Exception:  # a value the header classes reject: carry it unparsed
            msg[name] = value.encode("ascii", "replace").decode("ascii")

    author = fields.get("author") or fields.get("sender")
    put("From", _fmt(author))
    if fields.get("sender") and author and fields["sender"].get("email") != author.get("email"):
        put("Sender", _fmt(fields["sender"]))
    for header, key in (("To", "to"), ("Cc", "cc"), ("Reply-To", "reply_to")):
        put(header, ", ".join(_fmt(b) for b in fields.get(key) or []))
    if include_bcc:
        put("Bcc", ", ".join(_fmt(b) for b in fields.get("bcc") or []))
    put("Subject", fields.get("subject") or "")
    sent = fields.get("datetime_sent")
    try:
        date = datetime.fromisoformat(str(sent).replace("Z", "+00:00")) if sent else datetime.now(UTC)
    except ValueError:
        date = datetime.now(UTC)
    put("Date", email.utils.format_datetime(date))
    put("Message-ID", fields.get("message_id") or "")
    put("In-Reply-To", fields.get("in_reply_to") or "")
    put("References", fields.get("references") or "")
    if fields.get("sensitivity") in _SENSITIVITY_OUT:
        put("Sensitivity", _SENSITIVITY_OUT[fields["sensitivity"]])
    if fields.get("importance") in ("High", "Low"):
        put("Importance", fields["importance"])
    for name, value in internet_header_props(fields):
        if re.fullmatch(r"[!-9;-~]+", name):
            put(name, value)
    body = fields.get("body") or ""
    if fields.get("body_type") == "HTML":
        msg.set_content(body, subtype="html")
    else:
        msg.set_content(body)
    for name, ctype, cid, inline, content in attachments:
        maintype, _, subtype = (ctype or "application/octet-stream").partition("/")
        if (ctype or "").lower() == "message/rfc822":
            # An attached e-mail travels as a message/rfc822 part holding the message itself
            # (RFC 2046 5.2.1: no base64 for it), as Exchange writes a forwarded-as-attachment mail.
            # Its bytes go in unchanged: re-generating its headers could refold them.
            _attach_message(msg, content, name or "message", inline)
            continue
        msg.add_attachment(
            content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=name or "attachment",
            disposition="inline" if inline else "attachment",
            cid=f"<{cid}>" if cid else None,
        )
    return msg.as_bytes()


def _attach_message(msg: EmailMessage, content: bytes, name: str, inline: bool) -> None:
    if msg.get_content_type() != "multipart/mixed":
        msg.make_mixed()
    part = EmailMessage(policy=msg.policy)
    part["Content-Type"] = "message/rfc822"
    part["Content-Transfer-Encoding"] = "8bit" if any(b > 127 for b in content) else "7bit"
    part["Content-Disposition"] = "inline" if inline else "attachment"
    part.set_param("filename", name, header="Content-Disposition")
    # A string payload of a message/rfc822 part is written out as it is.
    part.set_payload(content.decode("ascii", "surrogateescape"))
    msg.attach(part)


def make_message_id(address: str) -> str:
    domain = address.rpartition("@")[2] or "sandbox.example"
    return f"<{uuid.uuid4().hex}@{domain}>"


def replace_header(raw: bytes, name: str, value: str) -> bytes:
    """``raw`` with header ``name`` set to ``value`` (the rest kept as is where possible)."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        if name in msg:
            msg.replace_header(name, value)
        else:
            msg[name] = value
        return msg.as_bytes()
    except Exception:
        return f"{name}: {value}\r\n".encode() + raw
