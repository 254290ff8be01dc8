"""MIME in and out of the sandbox Exchange, with the stdlib ``email`` package.

Parsing never raises: malformed mail is stored as given and served with whatever fields could
be read, the way a real server keeps a message it cannot fully understand.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import mimetypes
import re
import uuid
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from typing import Any

from addin.sandbox.mail.soap import iso

INTERNET_HEADERS_SET = "internetheaders"
INTERNET_HEADERS_GUID = "00020386-0000-0000-c000-000000000046"

# (name, content_type, content_id, is_inline, content)
AttachmentTuple = tuple[str, str, str | None, bool, bytes]

_SENSITIVITY_IN = {
    "personal": "Personal",
    "private": "Private",
    "company-confidential": "Confidential",
    "confidential": "Confidential",
}
_SENSITIVITY_OUT = {"Personal": "Personal", "Private": "Private", "Confidential": "Company-Confidential"}


def _decode(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # malformed encoded-words: keep the raw text
        return text


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n]+\s*", " ", text).strip()


def _addresses(msg: Message, name: str) -> list[dict[str, str]]:
    values = msg.get_all(name) or []
    try:
        pairs = email.utils.getaddresses([_decode(v) for v in values])
    except Exception:
        return []
    return [{"name": n, "email": a} for n, a in pairs if a and "@" in a]


def _text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _walk(part: Message, out: dict[str, Any], atts: list[AttachmentTuple]) -> None:
    ctype = part.get_content_type()
    if part.is_multipart() and ctype != "message/rfc822":
        for sub in part.get_payload() or []:
            if isinstance(sub, Message):
                _walk(sub, out, atts)
        return
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    filename = _decode(filename) if filename else None
    cid = part.get("Content-ID")
    cid = _one_line(str(cid)).strip("<>") if cid else None
    if ctype == "message/rfc822":
        inner = part.get_payload()
        inner_msg = inner[0] if isinstance(inner, list) and inner else None
        try:
            data = inner_msg.as_bytes() if isinstance(inner_msg, Message) else b""
        except Exception:
            data = b""
        name = filename or (_decode(inner_msg.get("Subject")) if isinstance(inner_msg, Message) else "")
        atts.append(((name or "message") + ("" if filename else ".eml"), ctype, cid, False, data))
        return
    is_body = disposition != "attachment" and not filename and ctype in ("text/plain", "text/html")
    if is_body:
        key = "html" if ctype == "text/html" else "text"
        if key not in out:
            out[key] = _text(part)
            return
    try:
        content = part.get_payload(decode=True)
    except Exception:
        content = None
    if not isinstance(content, bytes):
        content = b""
    name = filename or ("attachment" + (mimetypes.guess_extension(ctype) or ".bin"))
    atts.append((name, ctype, cid, disposition == "inline" and bool(cid), content))


def parse_mime(raw: bytes, received: datetime | None = None) -> tuple[dict[str, Any], list[AttachmentTuple]]:
    """Fields and attachments of a MIME message; never raises."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:
        msg = Message()
    fields: dict[str, Any] = {"item_class": "IPM.Note", "categories": [], "ext": []}
    fields["subject"] = _one_line(_decode(msg.get("Subject"))) if msg.get("Subject") is not None else None
    senders = _addresses(msg, "From")
    fields["author"] = senders[0] if senders else None
    sender = _addresses(msg, "Sender")
    fields["sender"] = sender[0] if sender else fields["author"]
    fields["to"] = _addresses(msg, "To")
    fields["cc"] = _addresses(msg, "Cc")
    fields["bcc"] = _addresses(msg, "Bcc")
    fields["reply_to"] = _addresses(msg, "Reply-To")
    for key, header in (
        ("message_id", "Message-ID"),
        ("in_reply_to", "In-Reply-To"),
        ("references", "References"),
    ):
        value = msg.get(header)
        fields[key] = _one_line(str(value)) if value is not None else None
    sent: datetime | None = None
    try:
        date = msg.get("Date")
        if date is not None:
            sent = email.utils.parsedate_to_datetime(str(date))
            if sent.tzinfo is None:
                sent = sent.replace(tzinfo=UTC)
    except Exception:
        sent = None
    received = received or datetime.now(UTC)
    fields["datetime_sent"] = iso(sent or received)
    fields["datetime_received"] = iso(received)
    fields["datetime_created"] = iso(received)
    fields["last_modified"] = iso(received)
    sens = str(msg.get("Sensitivity") or "").strip().lower()
    fields["sensitivity"] = _SENSITIVITY_IN.get(sens, "Normal")
    importance = str(msg.get("Importance") or "").strip().lower()
    priority = str(msg.get("X-Priority") or "").strip()[:1]
    if importance == "high" or priority in ("1", "2"):
        fields["importance"] = "High"
    elif importance == "low" or priority in ("4", "5"):
        fields["importance"] = "Low"
    else:
        fields["importance"] = "Normal"
    headers: list[list[str]] = []
    for name, value in msg.items():
        headers.append([str(name), _one_line(_decode(value))])
    fields["headers"] = headers
    body: dict[str, Any] = {}
    atts: list[AttachmentTuple] = []
    try:
        _walk(msg, body, atts)
    except Exception:
        body.setdefault("text", "")
    if "html" in body:
        fields["body"], fields["body_type"] = body["html"], "HTML"
    else:
        fields["body"], fields["body_type"] = body.get("text", ""), "Text"
    fields["text_body"] = body.get("text") if "text" in body else _strip_html(body.get("html", ""))
    fields["is_read"] = False
    fields["is_draft"] = False
    fields["size"] = len(raw)
    return fields, atts


def _strip_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


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
    msg = EmailMessage(policy=email.policy.SMTP)

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
        msg.add_attachment(
            content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=name or "attachment",
            disposition="inline" if inline else "attachment",
            cid=f"<{cid}>" if cid else None,
        )
    return msg.as_bytes()


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
