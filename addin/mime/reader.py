"""Raw MIME bytes -> one ``MimeMessage``: the product's single reading of Internet mail."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message

from addin.mailbox.types import Address, Attachment, Sensitivity
from addin.mime.headers import addresses, header_text, text_header
from addin.mime.parts import Parts, collect

# Refusals shared by every path (a dropped file, a mailbox item), so the user reads one reason.
EMPTY_REASON = "The message is empty: it has no content at all."
NO_HEADERS_REASON = (
    "The message has no e-mail headers (no sender, recipient, subject or Message-ID), so it is "
    "not an e-mail message."
)

_OBS_NAME = re.compile(rb"(?m)^([!-9;-~]+)[ \t]+:")

_SENSITIVITY = {
    "personal": Sensitivity.PERSONAL,
    "private": Sensitivity.PRIVATE,
    "company-confidential": Sensitivity.CONFIDENTIAL,
    "confidential": Sensitivity.CONFIDENTIAL,
}


@dataclass(frozen=True)
class MimeMessage:
    """What a mail client shows for a MIME message; ``warnings`` says what was read leniently."""

    subject: str
    from_: tuple[Address, ...]
    sender: Address | None  # the Sender header (a list server, a delegate), else None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    text_body: str | None
    html_body: str | None
    attachments: tuple[Attachment, ...]
    sensitivity: Sensitivity
    importance: str  # "High", "Normal" or "Low", as Exchange names it
    headers: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    has_headers: bool

    @property
    def author(self) -> Address | None:
        """The first From address: who the message is from."""
        return self.from_[0] if self.from_ else None

    @property
    def has_attachments(self) -> bool:
        """What Exchange answers for HasAttachments: inline images do not count."""
        return any(not a.is_inline for a in self.attachments)


def parse_bytes(data: bytes) -> EmailMessage:
    """The standard library's parse (policy.default); it does not raise on malformed mail."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def refusal(data: bytes) -> str | None:
    """Why these bytes are not a message (empty, or no header a mail client would show), or None."""
    if not data.strip(b" \t\r\n\x00"):
        return EMPTY_REASON
    message = read_mime(data)
    return None if message.has_headers else NO_HEADERS_REASON


def read_mime(data: bytes) -> MimeMessage:
    """Read raw MIME; never raises.  Unreadable parts become warnings, never a refusal."""
    warnings: list[str] = []

    def warn(text: str) -> None:
        if text not in warnings:
            warnings.append(text)

    try:
        msg: Message = parse_bytes(_obsolete_header_names(data))
    except Exception:  # the parser is tolerant; this is a last resort for hostile input
        msg = EmailMessage()
        warn("The message structure cannot be read; only what could be parsed is shown.")

    raw_headers: dict[str, list[str]] = {}
    for key, value in _raw_items(msg):
        raw_headers.setdefault(key.lower(), []).append(value)

    def get(name: str) -> str:
        values = raw_headers.get(name.lower())
        try:
            return text_header(name, values[0], warn) if values else ""
        except Exception:  # one malformed header must not lose the message
            warn(f"The {name} header cannot be read.")
            return ""

    def boxes(name: str) -> tuple[Address, ...]:
        try:
            return addresses(raw_headers.get(name.lower(), []), warn)
        except Exception:  # defensive: the best-effort path does not raise either
            warn(f"The {name} header cannot be read.")
            return ()

    try:
        parts = collect(msg, warn)
    except Exception:  # a broken tree: keep the headers and what the walk reached
        warn("Part of the message body cannot be read.")
        parts = Parts()
    date_text = get("Date")
    try:
        date = email.utils.parsedate_to_datetime(date_text) if date_text else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        date = None
    importance = get("Importance").lower()
    priority = get("X-Priority")[:1]
    level = (
        "High"
        if importance == "high" or priority in ("1", "2")
        else "Low"
        if importance == "low" or priority in ("4", "5")
        else "Normal"
    )
    from_ = boxes("From")
    sender = boxes("Sender")
    to, cc, bcc = boxes("To"), boxes("Cc"), boxes("Bcc")
    subject = get("Subject")
    message_id = get("Message-ID") or None
    headers = tuple((str(k), header_text(v)) for k, v in _raw_items(msg))
    return MimeMessage(
        subject=subject,
        from_=from_,
        sender=sender[0] if sender else None,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=boxes("Reply-To"),
        message_id=message_id,
        in_reply_to=get("In-Reply-To") or None,
        references=tuple(get("References").split()),
        date=date,
        text_body=parts.text,
        html_body=parts.html,
        attachments=tuple(parts.attachments),
        sensitivity=_SENSITIVITY.get(get("Sensitivity").lower(), Sensitivity.NORMAL),
        importance=level,
        headers=headers,
        warnings=tuple(warnings),
        has_headers=bool(raw_headers),
    )


def _obsolete_header_names(data: bytes) -> bytes:
    """``Subject  : x`` (RFC 5322 obsolete syntax: blanks before the colon) as ``Subject: x``.

    Python's parser takes such a line for the end of the headers (or ``From  :`` for an mbox
    envelope line); mail clients read it as the header it is.  Only the header section is touched.
    """
    end = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0), default=len(data))
    head = data[:end]
    if not _OBS_NAME.search(head):
        return data
    return _OBS_NAME.sub(rb"\1:", head) + data[end:]


def _raw_items(msg: Message) -> list[tuple[str, str]]:
    try:
        return [(k, str(v)) for k, v in msg.raw_items()]
    except Exception:  # not an EmailMessage (the last-resort branch above)
        return []
