"""A dropped .eml file (or any raw MIME a backend holds) as the port's Message value.

The reading itself is ``addin.mime`` (shared with the sandbox Exchange and every backend);
this module only maps it onto ``Message`` and refuses input that is not a message.
"""

from __future__ import annotations

from addin.engine.html_text import html_to_text
from addin.errors import MessageError
from addin.mailbox.types import Message
from addin.mime import EMPTY_REASON, NO_HEADERS_REASON, MimeMessage, read_mime


def to_message(
    parsed: MimeMessage, data: bytes | None = None, *, item_id: str = "", folder_id: str = ""
) -> Message:
    """The port's Message for a parsed MIME message (a backend passes its own ids)."""
    html = parsed.html_body
    text = parsed.text_body if parsed.text_body is not None else html_to_text(html or "")
    return Message(
        id=item_id,
        folder_id=folder_id,
        message_id=parsed.message_id,
        subject=parsed.subject,
        sender=parsed.author or parsed.sender,
        to=parsed.to,
        cc=parsed.cc,
        bcc=parsed.bcc,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        text_body=text,
        html_body=html,
        sent=parsed.date,
        received=parsed.date,
        sensitivity=parsed.sensitivity,
        attachments=parsed.attachments,
        mime=data,
        headers=parsed.headers,
        warnings=parsed.warnings,
    )


def parse_mime(data: bytes, *, item_id: str = "", folder_id: str = "") -> Message:
    """Read raw MIME; raises MessageError only for input that is not a message at all."""
    if not data.strip(b" \t\r\n\x00"):
        raise MessageError(EMPTY_REASON)
    parsed = read_mime(data)
    if not parsed.has_headers:
        raise MessageError(NO_HEADERS_REASON)
    return to_message(parsed, data, item_id=item_id, folder_id=folder_id)
