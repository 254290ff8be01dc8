"""Conversion between Microsoft Graph message JSON and the Mailbox port's value types.

Pure functions only (no HTTP), so they are unit-tested without a server.

The stamp is the SAME private named MAPI property the EWS backend writes (property set and
name at the top of :mod:`addin.mailbox.ews_items`), addressed the way Graph names extended
properties: ``String {guid} Name CrmBridgeActivityId``.  A mailbox stamped over EWS keeps
its stamps when the user moves to Exchange Online and the Graph backend.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from addin.engine.html_text import html_to_text
from addin.errors import HeaderInjectionError, MessageError
from addin.mailbox.ews_items import STAMP_PROPERTY_NAME, STAMP_PROPERTY_SET
from addin.mailbox.types import (
    Address,
    Attachment,
    Message,
    MessageSummary,
    OutgoingMessage,
    Sensitivity,
)

STAMP_PROPERTY_ID = f"String {{{STAMP_PROPERTY_SET}}} Name {STAMP_PROPERTY_NAME}"
# Graph v1.0 messages have no "sensitivity" property (only events do): read the MAPI
# property PidTagSensitivity (0x0036) instead: 0 normal, 1 personal, 2 private, 3 confidential.
SENSITIVITY_PROPERTY_ID = "Integer 0x36"

# Graph's own properties a listing or a delta round needs (MessageSummary).
SUMMARY_SELECT = (
    "id,parentFolderId,subject,internetMessageId,from,sender,receivedDateTime,categories,"
    "hasAttachments,isRead"
)
MESSAGE_SELECT = (
    "id,parentFolderId,subject,internetMessageId,from,sender,toRecipients,ccRecipients,bccRecipients,"
    "body,sentDateTime,receivedDateTime,categories,internetMessageHeaders,hasAttachments,"
    "isRead,isDraft"
)
# $expand reading only the stamp and the sensitivity among the message's extended properties.
STAMP_EXPAND = (
    f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY_ID}' or id eq '{SENSITIVITY_PROPERTY_ID}')"
)

# Attachments above this size go through an upload session (Graph's documented limit for
# a plain POST of an attachment is 3 MB).
UPLOAD_SESSION_THRESHOLD = 3 * 1024 * 1024
# Upload-session chunks must be multiples of 320 KiB; 10 of them is well under Graph's 60 MiB cap.
UPLOAD_CHUNK = 320 * 1024 * 10

_SENSITIVITY = {
    "0": Sensitivity.NORMAL,
    "1": Sensitivity.PERSONAL,
    "2": Sensitivity.PRIVATE,
    "3": Sensitivity.CONFIDENTIAL,
}


def odata_literal(value: str) -> str:
    """A string literal for ``$filter``: single quotes doubled (OData ABNF)."""
    return "'" + value.replace("'", "''") + "'"


def stamp_filter(stamp: str) -> str:
    return (
        f"singleValueExtendedProperties/any(ep: ep/id eq {odata_literal(STAMP_PROPERTY_ID)}"
        f" and ep/value eq {odata_literal(stamp)})"
    )


def message_id_filter(message_id: str) -> str:
    return f"internetMessageId eq {odata_literal(message_id)}"


def search_literal(text: str) -> str:
    """``$search`` takes one double-quoted KQL phrase; inner double quotes cannot be escaped,
    so they are dropped (they would only end the phrase early)."""
    return '"' + text.replace('"', " ").replace("\\", " ").strip() + '"'


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def address(value: Any) -> Address | None:
    """A Graph ``recipient`` (``{"emailAddress": {"address", "name"}}``) as an Address."""
    if not isinstance(value, Mapping):
        return None
    inner = value.get("emailAddress")
    if not isinstance(inner, Mapping):
        return None
    email = str(inner.get("address") or "")
    name = str(inner.get("name") or "")
    if not email and not name:
        return None
    # Graph repeats the address as the name when the header had none.
    return Address(email=email, name="" if name == email else name)


def addresses(values: Any) -> tuple[Address, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(a for a in (address(v) for v in values) if a is not None)


def _extended(data: Mapping[str, Any], property_id: str) -> str | None:
    for prop in data.get("singleValueExtendedProperties") or ():
        if isinstance(prop, Mapping) and str(prop.get("id", "")).lower() == property_id.lower():
            value = prop.get("value")
            return None if value is None else str(value)
    return None


def stamp_of(data: Mapping[str, Any]) -> str | None:
    # A cleared stamp is written as "" (Graph cannot remove a property by PATCH).
    return _extended(data, STAMP_PROPERTY_ID) or None


def _sensitivity(data: Mapping[str, Any]) -> Sensitivity:
    value = (_extended(data, SENSITIVITY_PROPERTY_ID) or "0").strip()
    return _SENSITIVITY.get(value, Sensitivity.NORMAL)


def _from(data: Mapping[str, Any]) -> Address | None:
    # "from" is the From header; "sender" the Sender header (a delegate, a list server).
    return address(data.get("from")) or address(data.get("sender"))


def summary(data: Mapping[str, Any], folder_id: str = "") -> MessageSummary:
    return MessageSummary(
        id=str(data["id"]),
        folder_id=str(data.get("parentFolderId") or folder_id),
        message_id=data.get("internetMessageId") or None,
        subject=str(data.get("subject") or ""),
        sender=_from(data),
        received=parse_datetime(data.get("receivedDateTime")),
        categories=tuple(str(c) for c in data.get("categories") or ()),
        sensitivity=_sensitivity(data),
        has_attachments=bool(data.get("hasAttachments")),
        is_read=bool(data.get("isRead")),
        stamp=stamp_of(data),
    )


def attachment(data: Mapping[str, Any]) -> Attachment | None:
    """A fileAttachment with its bytes; item and reference attachments carry none (None)."""
    kind = str(data.get("@odata.type") or "")
    if kind and not kind.endswith("fileAttachment"):
        return None
    raw = data.get("contentBytes")
    try:
        content = base64.b64decode(raw, validate=True) if raw else b""
    except (binascii.Error, ValueError, TypeError):
        raise MessageError(
            f"The attachment {data.get('name')!r} came back garbled from the server."
        ) from None
    return Attachment(
        name=str(data.get("name") or "attachment"),
        content_type=str(data.get("contentType") or "application/octet-stream"),
        content=content,
        is_inline=bool(data.get("isInline")),
        content_id=data.get("contentId") or None,
    )


def _headers(data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for h in data.get("internetMessageHeaders") or ():
        if isinstance(h, Mapping) and h.get("name"):
            out.append((str(h["name"]), str(h.get("value") or "")))
    return tuple(out)


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name.lower():
            return value.strip() or None
    return None


def message(
    data: Mapping[str, Any], attachments: tuple[Attachment, ...] = (), mime: bytes | None = None
) -> Message:
    body = data.get("body") if isinstance(data.get("body"), Mapping) else {}
    assert isinstance(body, Mapping)
    content = str(body.get("content") or "")
    if str(body.get("contentType") or "").lower() == "html":
        text_body, html_body = html_to_text(content), content
    else:
        text_body, html_body = content, None
    headers = _headers(data)
    references = _header(headers, "References")
    return Message(
        id=str(data["id"]),
        folder_id=str(data.get("parentFolderId") or ""),
        message_id=data.get("internetMessageId") or None,
        subject=str(data.get("subject") or ""),
        sender=_from(data),
        to=addresses(data.get("toRecipients")),
        cc=addresses(data.get("ccRecipients")),
        bcc=addresses(data.get("bccRecipients")),
        in_reply_to=_header(headers, "In-Reply-To"),
        references=tuple(references.split()) if references else (),
        text_body=text_body,
        html_body=html_body,
        sent=parse_datetime(data.get("sentDateTime")),
        received=parse_datetime(data.get("receivedDateTime")),
        sensitivity=_sensitivity(data),
        categories=tuple(str(c) for c in data.get("categories") or ()),
        attachments=attachments,
        stamp=stamp_of(data),
        mime=mime,
        headers=headers,
    )


def _check_header(value: str, what: str) -> str:
    if any(ch in value for ch in ("\r", "\n", "\x00")):
        raise HeaderInjectionError(f"The {what} contains a line break or a NUL character and was not sent.")
    return value


def _recipients(values: tuple[Address, ...]) -> list[dict[str, Any]]:
    out = []
    for a in values:
        entry: dict[str, str] = {"address": _check_header(a.email, "recipient address")}
        if a.name:
            entry["name"] = _check_header(a.name, "recipient name")
        out.append({"emailAddress": entry})
    return out


def file_attachment(a: Attachment) -> dict[str, Any]:
    data: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": _check_header(a.name, "attachment name"),
        "contentType": a.content_type or "application/octet-stream",
        "contentBytes": base64.b64encode(a.content).decode("ascii"),
        "isInline": a.is_inline,
    }
    if a.content_id:
        data["contentId"] = a.content_id
    return data


def upload_session_request(a: Attachment) -> dict[str, Any]:
    item: dict[str, Any] = {
        "attachmentType": "file",
        "name": _check_header(a.name, "attachment name"),
        "size": a.size,
        "contentType": a.content_type or "application/octet-stream",
    }
    if a.is_inline:
        item["isInline"] = True
        if a.content_id:
            item["contentId"] = a.content_id
    return {"AttachmentItem": item}


def split_attachments(attachments: Sequence[Attachment]) -> tuple[list[Attachment], list[Attachment]]:
    """(small ones posted as JSON, large ones uploaded in chunks)."""
    small = [a for a in attachments if a.size <= UPLOAD_SESSION_THRESHOLD]
    large = [a for a in attachments if a.size > UPLOAD_SESSION_THRESHOLD]
    return small, large


def draft(msg: OutgoingMessage) -> dict[str, Any]:
    """The JSON of a draft carrying the chosen Message-ID and the stamp (attachments apart)."""
    if not msg.to and not msg.cc and not msg.bcc:
        raise MessageError("The message has no recipients.")
    data: dict[str, Any] = {
        "subject": _check_header(msg.subject, "subject"),
        "body": (
            {"contentType": "html", "content": msg.html_body}
            if msg.html_body is not None
            else {"contentType": "text", "content": msg.text_body}
        ),
        "toRecipients": _recipients(msg.to),
        "ccRecipients": _recipients(msg.cc),
        "bccRecipients": _recipients(msg.bcc),
    }
    if msg.message_id:
        # Writable only while the message is a draft (Graph's message resource).
        data["internetMessageId"] = _check_header(msg.message_id, "Message-ID")
    if msg.stamp:
        data["singleValueExtendedProperties"] = [
            {"id": STAMP_PROPERTY_ID, "value": _check_header(msg.stamp, "stamp")}
        ]
    # Graph accepts only x- headers in internetMessageHeaders, so In-Reply-To and References
    # cannot be set on a new draft; the CRM's outbox does not send replies through this path.
    return data


def mark_body(categories: Sequence[str] | None, stamp: str | None, *, set_stamp: bool) -> dict[str, Any]:
    """PATCH body for categories and/or the stamp; a cleared stamp is written as ""."""
    body: dict[str, Any] = {}
    if categories is not None:
        body["categories"] = list(dict.fromkeys(c for c in categories if c))
    if set_stamp:
        body["singleValueExtendedProperties"] = [
            {"id": STAMP_PROPERTY_ID, "value": _check_header(stamp, "stamp") if stamp else ""}
        ]
    return body
