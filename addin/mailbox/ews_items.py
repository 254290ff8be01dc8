"""Conversion between exchangelib items and the Mailbox port's value types, and the stamp.

The stamp is a private named MAPI property in the product's own property set:

    PropertySetId  f5230414-6a2a-4630-a44d-8e3ee6bf692d   (fixed for the product; never change it)
    PropertyName   CrmBridgeActivityId
    PropertyType   String

The same property is reachable from Microsoft Graph as
``String {f5230414-6a2a-4630-a44d-8e3ee6bf692d} Name CrmBridgeActivityId``, so a mailbox
stamped through EWS stays findable when the user moves to the Graph backend.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from exchangelib import ExtendedProperty, FileAttachment, HTMLBody, ItemAttachment
from exchangelib import Mailbox as ExMailbox
from exchangelib import Message as ExMessage
from exchangelib.properties import Body

from addin.errors import HeaderInjectionError
from addin.mailbox import ews_compat
from addin.mailbox.types import (
    Address,
    Attachment,
    Message,
    MessageSummary,
    OutgoingMessage,
    Sensitivity,
)

STAMP_PROPERTY_SET = "f5230414-6a2a-4630-a44d-8e3ee6bf692d"
STAMP_PROPERTY_NAME = "CrmBridgeActivityId"
STAMP_FIELD = "crm_bridge_activity_id"


class ActivityStamp(ExtendedProperty):  # type: ignore[misc]
    """The bridge's private property on a message: the CRM activity id."""

    property_set_id = STAMP_PROPERTY_SET
    property_name = STAMP_PROPERTY_NAME
    property_type = "String"


def register_stamp() -> None:
    """Register the stamp on exchangelib's Message model once per process."""
    if STAMP_FIELD in {f.name for f in ExMessage.FIELDS}:
        return
    with contextlib.suppress(ValueError):  # a concurrent registration won the race
        ExMessage.register(STAMP_FIELD, ActivityStamp)


register_stamp()

SUMMARY_FIELDS = (
    "subject",
    "message_id",
    "author",
    "sender",
    "datetime_received",
    "categories",
    "sensitivity",
    "has_attachments",
    "is_read",
    "parent_folder_id",
    STAMP_FIELD,
)

MESSAGE_FIELDS = (
    "subject",
    "message_id",
    "sender",
    "author",
    "to_recipients",
    "cc_recipients",
    "bcc_recipients",
    "in_reply_to",
    "references",
    "body",
    "text_body",
    "datetime_sent",
    "datetime_received",
    "sensitivity",
    "categories",
    "attachments",
    "headers",
    "parent_folder_id",
    STAMP_FIELD,
)

_SENSITIVITY = {
    "Normal": Sensitivity.NORMAL,
    "Personal": Sensitivity.PERSONAL,
    "Private": Sensitivity.PRIVATE,
    "Confidential": Sensitivity.CONFIDENTIAL,
}


def plain_datetime(value: Any) -> datetime | None:
    """An aware UTC ``datetime`` (not exchangelib's EWSDateTime subclass)."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def address(mailbox: Any) -> Address | None:
    if mailbox is None:
        return None
    email = getattr(mailbox, "email_address", None) or ""
    name = getattr(mailbox, "name", None) or ""
    if not email and not name:
        return None
    return Address(email=email, name=name)


def addresses(mailboxes: Any) -> tuple[Address, ...]:
    result = []
    for mb in mailboxes or ():
        a = address(mb)
        if a is not None:
            result.append(a)
    return tuple(result)


def _from(item: Any) -> Address | None:
    # EWS "author" is the From header; "sender" is the Sender header (a list server, a
    # delegate).  The person the mail is from, for the CRM, is From.
    return address(getattr(item, "author", None)) or address(getattr(item, "sender", None))


def _folder_id(item: Any, default: str) -> str:
    parent = getattr(item, "parent_folder_id", None)
    return str(getattr(parent, "id", None) or default)


def _stamp(item: Any) -> str | None:
    value = getattr(item, STAMP_FIELD, None)
    return str(value) if value else None


def summary(item: Any, folder_id: str = "") -> MessageSummary:
    return MessageSummary(
        id=str(item.id),
        folder_id=_folder_id(item, folder_id),
        message_id=getattr(item, "message_id", None) or None,
        subject=getattr(item, "subject", None) or "",
        sender=_from(item),
        received=plain_datetime(getattr(item, "datetime_received", None)),
        categories=tuple(getattr(item, "categories", None) or ()),
        sensitivity=_SENSITIVITY.get(getattr(item, "sensitivity", None) or "", Sensitivity.NORMAL),
        has_attachments=bool(getattr(item, "has_attachments", False)),
        is_read=bool(getattr(item, "is_read", False)),
        stamp=_stamp(item),
    )


def _bodies(item: Any) -> tuple[str, str | None]:
    body = getattr(item, "body", None)
    text_body = getattr(item, "text_body", None)
    if isinstance(body, HTMLBody):
        return (str(text_body) if text_body else ""), str(body)
    if body is not None:
        return str(body), None
    return (str(text_body) if text_body else ""), None


def _references(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part for part in str(value).split() if part)


def message(item: Any, attachments: tuple[Attachment, ...], *, folder_id: str = "") -> Message:
    text_body, html_body = _bodies(item)
    sender = _from(item)
    headers = tuple((str(h.name), str(h.value or "")) for h in (getattr(item, "headers", None) or ()))
    mime = getattr(item, "mime_content", None)
    return Message(
        id=str(item.id),
        folder_id=_folder_id(item, folder_id),
        message_id=getattr(item, "message_id", None) or None,
        subject=getattr(item, "subject", None) or "",
        sender=sender,
        to=addresses(getattr(item, "to_recipients", None)),
        cc=addresses(getattr(item, "cc_recipients", None)),
        bcc=addresses(getattr(item, "bcc_recipients", None)),
        in_reply_to=getattr(item, "in_reply_to", None) or None,
        references=_references(getattr(item, "references", None)),
        text_body=text_body,
        html_body=html_body,
        sent=plain_datetime(getattr(item, "datetime_sent", None)),
        received=plain_datetime(getattr(item, "datetime_received", None)),
        sensitivity=_SENSITIVITY.get(getattr(item, "sensitivity", None) or "", Sensitivity.NORMAL),
        categories=tuple(getattr(item, "categories", None) or ()),
        attachments=attachments,
        stamp=_stamp(item),
        mime=bytes(mime) if mime else None,
        headers=headers,
    )


def attachment_from_ews(att: Any) -> Attachment:
    """A fully loaded FileAttachment or ItemAttachment (from GetAttachment) as a value."""
    if isinstance(att, ItemAttachment):
        inner = att.item
        mime = getattr(inner, "mime_content", None) if inner is not None else None
        name = att.name or (getattr(inner, "subject", None) or "message")
        return Attachment(
            name=name if name.lower().endswith(".eml") else f"{name}.eml",
            content_type="message/rfc822",
            content=bytes(mime or b""),
            is_inline=bool(att.is_inline),
            content_id=att.content_id or None,
        )
    # GetAttachment answers carry the content inline; reading ``att.content`` on an
    # empty one would make exchangelib fetch it again, so read the loaded value.
    content = ews_compat.loaded_content(att)
    return Attachment(
        name=att.name or "attachment",
        content_type=att.content_type or "application/octet-stream",
        content=bytes(content or b""),
        is_inline=bool(att.is_inline),
        content_id=att.content_id or None,
    )


def _check_header(value: str, what: str) -> str:
    if any(ch in value for ch in ("\r", "\n", "\x00")):
        raise HeaderInjectionError(f"The {what} contains a line break or a NUL character and was not sent.")
    return value


def _mailboxes(values: tuple[Address, ...], what: str) -> list[ExMailbox]:
    return [
        ExMailbox(
            email_address=_check_header(a.email, what), name=_check_header(a.name, what) if a.name else None
        )
        for a in values
    ]


def outgoing(account: Any, folder: Any, msg: OutgoingMessage) -> ExMessage:
    """An unsent exchangelib Message carrying the chosen Message-ID and the stamp."""
    if not msg.to and not msg.cc and not msg.bcc:
        from addin.errors import MessageError

        raise MessageError("The message has no recipients.")
    fields: dict[str, Any] = {
        "account": account,
        "folder": folder,
        "subject": _check_header(msg.subject, "subject"),
        "body": HTMLBody(msg.html_body) if msg.html_body is not None else Body(msg.text_body),
        "to_recipients": _mailboxes(msg.to, "recipient address"),
        "cc_recipients": _mailboxes(msg.cc, "recipient address") or None,
        "bcc_recipients": _mailboxes(msg.bcc, "recipient address") or None,
        "message_id": _check_header(msg.message_id, "Message-ID") if msg.message_id else None,
    }
    if msg.in_reply_to:
        fields["in_reply_to"] = _check_header(msg.in_reply_to, "In-Reply-To")
    if msg.references:
        fields["references"] = _check_header(" ".join(msg.references), "References")
    if msg.stamp:
        fields[STAMP_FIELD] = _check_header(msg.stamp, "stamp")
    item = ExMessage(**fields)
    for a in msg.attachments:
        item.attach(
            FileAttachment(
                name=_check_header(a.name, "attachment name"),
                content=a.content,
                content_type=a.content_type,
                is_inline=a.is_inline,
                content_id=a.content_id,
            )
        )
    return item
