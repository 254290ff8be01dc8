"""Reading the item XML clients send (CreateItem, UpdateItem, CreateAttachment): the fields of a
``<t:Message>`` or ``<t:Item>``, its file attachments and its attached e-mails (``ItemAttachment``)."""

from __future__ import annotations

import re
from typing import Any

from addin.sandbox.mail.mime import build_mime, parse_mime
from addin.sandbox.mail.soap import Element, EwsError, attrs_of, child_text, local, t, to_bool, unb64
from addin.sandbox.mail.store_attachments import EMBEDDED_KEY, AttachmentRow, embedded_key

# FieldURI -> key in the stored field dict, for fields a client may set.
WRITABLE = {
    "item:subject": "subject",
    "item:body": "body",
    "item:sensitivity": "sensitivity",
    "item:importance": "importance",
    "item:categories": "categories",
    "item:inreplyto": "in_reply_to",
    "message:torecipients": "to",
    "message:ccrecipients": "cc",
    "message:bccrecipients": "bcc",
    "message:replyto": "reply_to",
    "message:from": "author",
    "message:sender": "sender",
    "message:internetmessageid": "message_id",
    "message:references": "references",
    "message:isread": "is_read",
    "item:itemclass": "item_class",
    "item:culture": "culture",
    "item:reminderisset": "reminder_is_set",
    "item:reminderminutesbeforestart": "reminder_minutes",
    "item:reminderdueby": "reminder_due_by",
    "message:isreadreceiptrequested": "is_read_receipt_requested",
    "message:isdeliveryreceiptrequested": "is_delivery_receipt_requested",
    "message:isresponserequested": "is_response_requested",
}

_LIST_FIELDS = {"to", "cc", "bcc", "reply_to", "categories"}


# Element -> (stored key, kind) of the scalar fields kept as the client set them.
_SCALARS: dict[str, tuple[str, str]] = {
    "Culture": ("culture", "str"),
    "ReminderIsSet": ("reminder_is_set", "bool"),
    "ReminderMinutesBeforeStart": ("reminder_minutes", "int"),
    "ReminderDueBy": ("reminder_due_by", "str"),
    "IsReadReceiptRequested": ("is_read_receipt_requested", "bool"),
    "IsDeliveryReceiptRequested": ("is_delivery_receipt_requested", "bool"),
    "IsResponseRequested": ("is_response_requested", "bool"),
}

# The item elements an ItemAttachment may hold; the sandbox keeps mail only (MS-OXWSATT 2.2.4.6,
# https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxwsatt/46a7d12e-f378-4bbe-beab-8c0f97002685).
_ATTACHABLE = ("Message", "Item")

SUBJECT_LIMIT = 255


def cut_subject(subject: str) -> str:
    """Exchange keeps at most 255 characters of a subject (PidTagSubject as EWS stores it) and
    drops the rest without an error; exchangelib's own field limit is the same 255."""
    return subject[:SUBJECT_LIMIT]


def _scalar(kind: str, text: str, name: str) -> Any:
    if kind == "bool":
        return to_bool(text)
    if kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise EwsError("ErrorInvalidValueForProperty", f"{name} must be a whole number.") from None
    return text.strip()


def body_text(fields: dict[str, Any]) -> str:
    """The plain text of an item's body (Exchange's TextBody)."""
    if fields.get("body_type") == "HTML":
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fields.get("body") or "")).strip()
    return str(fields.get("body") or "")


def _parse_mailbox(el: Element | None) -> dict[str, str] | None:
    if el is None:
        return None
    mb = el if local(el) == "Mailbox" else el.find(t("Mailbox"))
    if mb is None:
        return None
    address = child_text(mb, t("EmailAddress")).strip()
    if not address:
        raise EwsError("ErrorInvalidRecipients", "A recipient has no e-mail address.")
    return {"name": child_text(mb, t("Name")), "email": address}


def parse_ext(el: Element) -> dict[str, Any]:
    uri = el.find(t("ExtendedFieldURI"))
    if uri is None:
        raise EwsError("ErrorInvalidExtendedProperty", "ExtendedProperty without ExtendedFieldURI.")
    values = el.find(t("Values"))
    if values is not None:
        return {"attrs": attrs_of(uri), "values": [v.text or "" for v in values]}
    return {"attrs": attrs_of(uri), "value": child_text(el, t("Value"))}


def parse_item_xml(el: Element) -> tuple[dict[str, Any], list[AttachmentRow], bytes | None]:
    """Fields set in a ``<t:Message>`` (or other item) element: (fields, attachments, mime)."""
    fields: dict[str, Any] = {}
    atts: list[AttachmentRow] = []
    mime: bytes | None = None
    for child in el:
        name = local(child)
        if name == "MimeContent":
            mime = unb64(child.text or "")
        elif name == "Subject":
            fields["subject"] = cut_subject(child.text or "")
        elif name == "Body":
            fields["body"] = child.text or ""
            fields["body_type"] = "HTML" if child.get("BodyType", "Text").upper() == "HTML" else "Text"
        elif name == "Sensitivity":
            fields["sensitivity"] = child.text or "Normal"
        elif name == "Importance":
            fields["importance"] = child.text or "Normal"
        elif name == "ItemClass":
            fields["item_class"] = child.text or "IPM.Note"
        elif name == "Categories":
            fields["categories"] = [s.text or "" for s in child if local(s) == "String"]
        elif name in ("ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo"):
            key = {"ToRecipients": "to", "CcRecipients": "cc", "BccRecipients": "bcc", "ReplyTo": "reply_to"}[
                name
            ]
            fields[key] = [b for b in (_parse_mailbox(mb) for mb in child) if b]
        elif name in ("From", "Sender"):
            fields["author" if name == "From" else "sender"] = _parse_mailbox(child)
        elif name == "InternetMessageId":
            fields["message_id"] = (child.text or "").strip()
        elif name == "InReplyTo":
            fields["in_reply_to"] = (child.text or "").strip()
        elif name == "References":
            fields["references"] = (child.text or "").strip()
        elif name == "IsRead":
            fields["is_read"] = to_bool(child.text)
        elif name in _SCALARS:
            key, kind = _SCALARS[name]
            fields[key] = _scalar(kind, child.text or "", name)
        elif name == "ExtendedProperty":
            fields.setdefault("ext", []).append(parse_ext(child))
        elif name == "Attachments":
            for att in child:
                if local(att) == "FileAttachment":
                    atts.append(parse_file_attachment(att))
                elif local(att) == "ItemAttachment":
                    row, data = parse_item_attachment(att)
                    atts.append(row)
                    fields.setdefault(EMBEDDED_KEY, {})[embedded_key(row[4])] = data
    return fields, atts, mime


def parse_file_attachment(fa: Element) -> AttachmentRow:
    return (
        child_text(fa, t("Name"), "attachment"),
        child_text(fa, t("ContentType"), "application/octet-stream"),
        child_text(fa, t("ContentId")) or None,
        to_bool(child_text(fa, t("IsInline"))),
        unb64(child_text(fa, t("Content"))),
    )


def item_id_of(el: Element) -> str:
    return str(el.get("Id", ""))


def is_list_field(key: str) -> bool:
    return key in _LIST_FIELDS


def parse_item_attachment(ia: Element) -> tuple[AttachmentRow, dict[str, Any]]:
    """An attached e-mail: its stored row (the e-mail as message/rfc822 MIME) and its exact fields."""
    inner = next((c for c in ia if local(c) in _ATTACHABLE), None)
    if inner is None:
        kinds = [local(c) for c in ia if local(c) not in _ATTACHMENT_PROPS]
        if kinds:
            raise EwsError(
                "ErrorInvalidItemForOperationCreateItemAttachment",
                f"The sandbox attaches e-mails only, not {kinds[0]} items.",
            )
        raise EwsError("ErrorMissingItemForCreateItemAttachment", "The ItemAttachment holds no item.")
    fields, atts, mime = parse_item_xml(inner)
    data = embedded_fields(fields, mime)
    if mime is None:
        mime = build_mime(data, atts, include_bcc=True)
    name = child_text(ia, t("Name")) or data.get("subject") or "message"
    row: AttachmentRow = (
        name,
        "message/rfc822",
        child_text(ia, t("ContentId")) or None,
        to_bool(child_text(ia, t("IsInline"))),
        mime,
    )
    return row, data


_ATTACHMENT_PROPS = (
    "AttachmentId",
    "Name",
    "ContentType",
    "ContentId",
    "ContentLocation",
    "Size",
    "LastModifiedTime",
    "IsInline",
)


def new_item_fields(*, is_read: bool) -> dict[str, Any]:
    """What a message has before a client sets anything (an empty note in IPM.Note)."""
    return {
        "item_class": "IPM.Note",
        "subject": "",
        "body": "",
        "body_type": "Text",
        "sensitivity": "Normal",
        "importance": "Normal",
        "categories": [],
        "ext": [],
        "to": [],
        "cc": [],
        "bcc": [],
        "reply_to": [],
        "is_read": is_read,
    }


def embedded_fields(fields: dict[str, Any], mime: bytes | None) -> dict[str, Any]:
    """The stored fields of an attached e-mail: as a client built it, over its MIME if it sent one."""
    data = new_item_fields(is_read=True)
    if mime is not None:
        data.update(parse_mime(mime)[0])
    data.update(fields)
    data["text_body"] = body_text(data)
    return data
