"""Pure helpers of the IMAP backend: ids, keywords, stamps, summaries and outgoing MIME.

Nothing here talks to a server, so all of it is testable on its own.

Ids: a folder id is the folder's IMAP name (decoded from modified UTF-7); a message id
is ``"<UIDVALIDITY>:<UID>:<folder>"``, because a UID only names a message inside one
folder and one UIDVALIDITY epoch.

Categories are IMAP keywords.  A keyword is an atom (no spaces), so a category's spaces
become ``_``; the bridge's two categories are also recognised in the lower-case form
Thunderbird gives tags (``track_in_crm``), so a tag set in Thunderbird asks for
tracking.  Keywords starting with ``$`` (``$Forwarded``, ``$label1``, ``$Junk``) are
client bookkeeping, not categories.  On Gmail (``X-GM-EXT-1``) categories are labels
instead (``X-GM-LABELS``), so they show in Gmail's own interface; system labels are not
categories.

The stamp (the bridge's private mark, the CRM activity id) is the ``X-CRM-Activity-Id``
header on mail the bridge sends (found by ``SEARCH HEADER``), and a ``crmstamp_<id>``
keyword on mail it tracks (IMAP cannot change a stored message's headers).  Clearing the
stamp of a message that carries the header adds ``crm_nostamp``.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from imapclient.imap_utf7 import decode as utf7_decode

from addin.errors import MessageError
from addin.mailbox.types import (
    TRACK_REQUEST_CATEGORY,
    TRACKED_CATEGORY,
    Address,
    MessageSummary,
    OutgoingMessage,
    Sensitivity,
)

STAMP_HEADER = "X-CRM-Activity-Id"
STAMP_PREFIX = "crmstamp_"
NO_STAMP = "crm_nostamp"
_STAMP_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
# RFC 3501 atom-specials plus the list wildcards and "]" (resp-specials).
_NOT_ATOM = re.compile(r'[\x00-\x20\x7f(){%*"\\\]]')
_KNOWN = {c.replace(" ", "_").lower(): c for c in (TRACKED_CATEGORY, TRACK_REQUEST_CATEGORY)}

SUMMARY_HEADERS = (
    "MESSAGE-ID",
    "SUBJECT",
    "FROM",
    "DATE",
    "CONTENT-TYPE",
    "SENSITIVITY",
    STAMP_HEADER.upper(),
)


def message_id_of(folder: str, uidvalidity: int, uid: int) -> str:
    return f"{uidvalidity}:{uid}:{folder}"


def parse_id(item_id: str) -> tuple[str, int, int] | None:
    """(folder, uidvalidity, uid), or None when the text is no id of this backend."""
    validity, _, rest = item_id.partition(":")
    uid, _, folder = rest.partition(":")
    if not (validity.isdigit() and uid.isdigit() and folder):
        return None
    return folder, int(validity), int(uid)


def keyword_of(category: str) -> str:
    """The IMAP keyword that carries a category."""
    text = category.strip()
    if not text:
        raise MessageError("A category name cannot be empty.")
    keyword = _NOT_ATOM.sub("_", text)
    if keyword.startswith("$") or keyword.lower().startswith((STAMP_PREFIX, NO_STAMP)):
        keyword = "_" + keyword
    return keyword


def category_of(keyword: str) -> str | None:
    """The category a keyword stands for; None for system flags and bookkeeping keywords."""
    if not keyword or keyword.startswith(("\\", "$")):
        return None
    lower = keyword.lower()
    if lower.startswith(STAMP_PREFIX) or lower == NO_STAMP:
        return None
    if lower in _KNOWN:
        return _KNOWN[lower]
    return keyword.replace("_", " ").strip() or None


def flag_text(flag: bytes | str) -> str:
    return flag.decode("utf-8", "replace") if isinstance(flag, bytes) else str(flag)


def categories_of(flags: Iterable[bytes | str]) -> tuple[str, ...]:
    out: list[str] = []
    for flag in flags:
        category = category_of(flag_text(flag))
        if category and category not in out:
            out.append(category)
    return tuple(out)


def label_text(label: bytes | str) -> str:
    """A Gmail label from an X-GM-LABELS answer (modified UTF-7 on the wire)."""
    if isinstance(label, bytes):
        return str(utf7_decode(label))
    return str(label)


def categories_of_labels(labels: Iterable[bytes | str]) -> tuple[str, ...]:
    """Gmail: user labels are the categories; system labels (``\\Inbox``, ``\\Important``) are not."""
    out: list[str] = []
    for label in labels:
        text = label_text(label)
        if text and not text.startswith("\\") and text not in out:
            out.append(text)
    return tuple(out)


def stamp_keyword(stamp: str) -> str:
    if not _STAMP_RE.match(stamp):
        raise MessageError("A stamp may hold only letters, digits, '.', '_' and '-'.")
    return STAMP_PREFIX + stamp


def stamp_of(flags: Iterable[bytes | str], header_value: str | None) -> str | None:
    texts = [flag_text(f) for f in flags]
    for text in texts:
        if text.lower().startswith(STAMP_PREFIX):
            return text[len(STAMP_PREFIX) :]
    if any(t.lower() == NO_STAMP for t in texts):
        return None
    return (header_value or "").strip() or None


def stamp_keywords(flags: Iterable[bytes | str]) -> list[str]:
    return [t for t in (flag_text(f) for f in flags) if t.lower().startswith(STAMP_PREFIX)]


def category_keywords(flags: Iterable[bytes | str]) -> list[str]:
    return [t for t in (flag_text(f) for f in flags) if category_of(t)]


def _header(msg: EmailMessage, name: str) -> str:
    try:
        return str(msg.get(name) or "").strip()
    except Exception:  # a malformed header must not lose the summary
        return ""


def _address(value: str) -> Address | None:
    for name, addr in email.utils.getaddresses([value]):
        if addr and "@" in addr:
            return Address(addr.strip(), name.strip())
    return None


SENSITIVITY = {
    "private": Sensitivity.PRIVATE,
    "personal": Sensitivity.PERSONAL,
    "company-confidential": Sensitivity.CONFIDENTIAL,
}


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def summary(
    item_id: str,
    folder: str,
    header_bytes: bytes,
    flags: Iterable[bytes | str],
    internaldate: datetime | None,
    labels: Iterable[bytes | str] | None = None,
) -> MessageSummary:
    flags = list(flags)
    msg = email.message_from_bytes(header_bytes or b"", policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    ctype = _header(msg, "Content-Type").lower()
    return MessageSummary(
        id=item_id,
        folder_id=folder,
        message_id=_header(msg, "Message-ID") or None,
        subject=_header(msg, "Subject"),
        sender=_address(_header(msg, "From")),
        received=as_utc(internaldate),
        categories=categories_of(flags) if labels is None else categories_of_labels(labels),
        sensitivity=SENSITIVITY.get(_header(msg, "Sensitivity").lower(), Sensitivity.NORMAL),
        has_attachments=ctype.startswith("multipart/mixed"),
        is_read=any(flag_text(f).lower() == "\\seen" for f in flags),
        stamp=stamp_of(flags, _header(msg, STAMP_HEADER)),
    )


def compose(message: OutgoingMessage, sender: Address) -> EmailMessage:
    """The MIME the bridge sends by SMTP and files in Sent (the same bytes for both)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = str(sender)
    if message.to:
        msg["To"] = ", ".join(str(a) for a in message.to)
    if message.cc:
        msg["Cc"] = ", ".join(str(a) for a in message.cc)
    msg["Subject"] = message.subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = message.message_id
    if message.in_reply_to:
        msg["In-Reply-To"] = message.in_reply_to
    if message.references:
        msg["References"] = " ".join(message.references)
    if message.stamp:
        stamp_keyword(message.stamp)  # validates
        msg[STAMP_HEADER] = message.stamp
    msg.set_content(message.text_body or "")
    if message.html_body:
        msg.add_alternative(message.html_body, subtype="html")
    for att in message.attachments:
        maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(
            att.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=att.name,
            disposition="inline" if att.is_inline else "attachment",
            cid=f"<{att.content_id}>" if att.content_id else None,
        )
    return msg


def recipients(message: OutgoingMessage) -> list[str]:
    return list(dict.fromkeys(a.email for a in (*message.to, *message.cc, *message.bcc) if a.email))


def header_bytes(data: dict[bytes, Any]) -> bytes:
    """The header section of a FETCH answer (its key echoes the requested fields)."""
    for key, value in data.items():
        if key.startswith(b"BODY[HEADER") and isinstance(value, bytes):
            return value
    return b""


def header_list(raw: bytes) -> list[tuple[str, str]]:
    """All header fields of raw MIME, unfolded, in order."""
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    parsed = email.message_from_bytes(head + b"\r\n\r\n")
    return [(str(key), " ".join(str(value).split())) for key, value in parsed.items()]
