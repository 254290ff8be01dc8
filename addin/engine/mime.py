"""Turn raw MIME (a dropped .eml file) into the port's Message value, tolerating bad mail."""

from __future__ import annotations

import email
import email.policy
import email.utils
from email.message import EmailMessage
from email.utils import getaddresses

from addin.errors import MessageError
from addin.mailbox.types import Address, Attachment, Message, Sensitivity


def _addresses(values: list[str]) -> tuple[Address, ...]:
    result = []
    for name, addr in getaddresses(values):
        if addr and "@" in addr:
            result.append(Address(addr.strip(), name.strip()))
    return tuple(result)


def parse_mime(data: bytes, *, item_id: str = "", folder_id: str = "") -> Message:
    if not data.strip():
        raise MessageError("The file is empty; it is not an e-mail message.")
    try:
        msg = email.message_from_bytes(data, policy=email.policy.default)
    except Exception as exc:  # the parser is tolerant; anything it still raises is a bad file
        raise MessageError(f"The message cannot be read as MIME: {type(exc).__name__}") from None
    if not isinstance(msg, EmailMessage) or not any(
        k in msg for k in ("From", "Subject", "Message-ID", "Date")
    ):
        raise MessageError("The file has no e-mail headers (From, Subject, Message-ID or Date).")

    def header(name: str) -> str:
        try:
            value = msg.get(name)
        except Exception:  # a malformed header must not lose the whole message
            return ""
        return str(value or "").strip()

    sender = _addresses([header("From")])
    try:
        sent = email.utils.parsedate_to_datetime(header("Date")) if header("Date") else None
    except (TypeError, ValueError):
        sent = None
    text_body, html_body = "", None
    attachments: list[Attachment] = []
    try:
        body = msg.get_body(preferencelist=("plain",))
        if body is not None:
            text_body = str(body.get_content())
        html = msg.get_body(preferencelist=("html",))
        if html is not None:
            html_body = str(html.get_content())
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                attachments.append(
                    Attachment(part.get_filename() or "attachment", part.get_content_type(), payload)
                )
    except Exception as exc:  # broken multipart structure: keep the headers, report the body
        raise MessageError(f"The message body cannot be decoded: {type(exc).__name__}") from None
    sensitivity = {
        "private": Sensitivity.PRIVATE,
        "personal": Sensitivity.PERSONAL,
        "company-confidential": Sensitivity.CONFIDENTIAL,
    }.get(header("Sensitivity").lower(), Sensitivity.NORMAL)
    return Message(
        id=item_id,
        folder_id=folder_id,
        message_id=header("Message-ID") or None,
        subject=header("Subject"),
        sender=sender[0] if sender else None,
        to=_addresses([header("To")]),
        cc=_addresses([header("Cc")]),
        in_reply_to=header("In-Reply-To") or None,
        references=tuple(header("References").split()),
        text_body=text_body,
        html_body=html_body,
        sent=sent,
        received=sent,
        sensitivity=sensitivity,
        attachments=tuple(attachments),
        mime=data,
    )
