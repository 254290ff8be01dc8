"""Items as EWS XML: rendering stored items for a requested shape, and reading the item XML
clients send in CreateItem and UpdateItem."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from addin.sandbox.mail.mime import INTERNET_HEADERS_GUID, INTERNET_HEADERS_SET, parse_mime
from addin.sandbox.mail.soap import (
    Element,
    attrs_of,
    b64,
    bool_text,
    child_text,
    local,
    sub,
    t,
    to_bool,
)
from addin.sandbox.mail.store import Attachment, Item, MailStore

# What BaseShape Default / AllProperties return (exchangelib asks for fields explicitly).
DEFAULT_FIELDS = [
    "item:ParentFolderId",
    "item:ItemClass",
    "item:Subject",
    "item:Sensitivity",
    "item:Body",
    "item:Attachments",
    "item:DateTimeReceived",
    "item:Size",
    "item:Categories",
    "item:Importance",
    "item:InReplyTo",
    "item:IsDraft",
    "item:DateTimeSent",
    "item:DateTimeCreated",
    "item:HasAttachments",
    "message:Sender",
    "message:ToRecipients",
    "message:CcRecipients",
    "message:From",
    "message:InternetMessageId",
    "message:IsRead",
    "message:References",
]


@dataclass
class Shape:
    base: str = "Default"
    fields: list[str] = field(default_factory=list)
    ext: list[dict[str, str]] = field(default_factory=list)
    body_type: str = "Best"
    include_mime: bool = False

    def field_uris(self) -> list[str]:
        uris = list(self.fields)
        if self.base in ("Default", "AllProperties"):
            uris = DEFAULT_FIELDS + [u for u in uris if u not in DEFAULT_FIELDS]
        if self.include_mime and "item:MimeContent" not in uris:
            uris.append("item:MimeContent")
        return uris


def parse_shape(el: Element | None) -> Shape:
    shape = Shape()
    if el is None:
        return shape
    shape.base = child_text(el, t("BaseShape"), "Default")
    shape.body_type = child_text(el, t("BodyType"), "Best")
    shape.include_mime = to_bool(child_text(el, t("IncludeMimeContent")))
    props = el.find(t("AdditionalProperties"))
    if props is not None:
        for p in props:
            name = local(p)
            if name == "FieldURI":
                shape.fields.append(p.get("FieldURI", ""))
            elif name == "ExtendedFieldURI":
                shape.ext.append(attrs_of(p))
    return shape


# -- extended properties ----------------------------------------------------------------------------


def ext_key(attrs: dict[str, str]) -> tuple[str, str, str, str]:
    """Identity of a MAPI property, independent of spelling (case, hex or decimal tags)."""
    a = {k.lower(): v for k, v in attrs.items()}
    pset = (a.get("distinguishedpropertysetid") or a.get("propertysetid") or "").lower()
    if pset == INTERNET_HEADERS_GUID:
        pset = INTERNET_HEADERS_SET
    tag = a.get("propertytag") or ""
    if tag:
        try:
            tag = str(int(tag, 0))
        except ValueError:
            tag = tag.lower()
    name = a.get("propertyname") or ""
    if pset == INTERNET_HEADERS_SET:
        name = name.lower()  # header names are case-insensitive
    return pset, name, tag, a.get("propertyid") or ""


def ext_value(item: Item, attrs: dict[str, str]) -> dict[str, Any] | None:
    key = ext_key(attrs)
    for prop in item.data.get("ext") or []:
        if ext_key(prop["attrs"]) == key:
            return dict(prop)
    if key[0] == INTERNET_HEADERS_SET and key[1]:
        # A header of received mail is readable through the InternetHeaders property set.
        for name, value in item.data.get("headers") or []:
            if name.lower() == key[1]:
                return {"attrs": attrs, "value": value}
    return None


def set_ext(data: dict[str, Any], prop: dict[str, Any]) -> None:
    key = ext_key(prop["attrs"])
    props = [p for p in data.get("ext") or [] if ext_key(p["attrs"]) != key]
    props.append(prop)
    data["ext"] = props


def delete_ext(data: dict[str, Any], attrs: dict[str, str]) -> None:
    key = ext_key(attrs)
    data["ext"] = [p for p in data.get("ext") or [] if ext_key(p["attrs"]) != key]


# -- rendering ----------------------------------------------------------------------------------


def _mailbox(parent: Element, box: dict[str, str]) -> None:
    mb = sub(parent, t("Mailbox"))
    if box.get("name"):
        sub(mb, t("Name"), box["name"])
    sub(mb, t("EmailAddress"), box.get("email") or "")
    sub(mb, t("RoutingType"), "SMTP")
    sub(mb, t("MailboxType"), "Mailbox")


def render_attachment(parent: Element, att: Attachment, root: Item, content: bytes | None = None) -> None:
    """A ``FileAttachment``, or for an attached e-mail an ``ItemAttachment``, as listed on an item
    (``content`` given: a file's bytes, as GetAttachment answers)."""
    el = sub(parent, t("ItemAttachment" if att.is_item else "FileAttachment"))
    sub(el, t("AttachmentId"), Id=att.id, RootItemId=root.id, RootItemChangeKey=root.changekey)
    sub(el, t("Name"), att.name)
    sub(el, t("ContentType"), att.content_type)
    if att.content_id:
        sub(el, t("ContentId"), att.content_id)
    sub(el, t("Size"), str(att.size))
    if att.modified:
        sub(el, t("LastModifiedTime"), att.modified)
    sub(el, t("IsInline"), bool_text(att.is_inline))
    if not att.is_item:
        sub(el, t("IsContactPhoto"), "false")
        if content is not None:
            sub(el, t("Content"), b64(content))


def attached_item(att: Attachment, root: Item, store: MailStore) -> Item:
    """The e-mail an ItemAttachment holds, as an item without an id of its own (Exchange gives
    attached items none: they are reached through the attachment id)."""
    data = att.item_data
    if data is None:  # stored before attached e-mails kept their fields: read them from the MIME
        data = parse_mime(att.content or b"")[0]
    return Item("", root.mailbox, "", 1, data, store.nested_attachments(att.id))


def render_item_attachment(
    parent: Element, att: Attachment, root: Item, shape: Shape, store: MailStore
) -> None:
    """GetAttachment's answer for an attached e-mail: the attachment with the e-mail inside, in
    the requested shape, its MIME when asked (https://learn.microsoft.com/en-us/exchange/
    client-developer/web-service-reference/getattachment-operation)."""
    render_attachment(parent, att, root)
    holder = parent[-1]
    mime = att.content or b""
    render_item(holder, attached_item(att, root, store), shape, store, lambda _: mime, embedded_in=root)


# FieldURI -> (element, stored key, value when unset) of the scalar fields kept as set.
_SCALAR_FIELDS: dict[str, tuple[str, str, Any]] = {
    "item:culture": ("Culture", "culture", "en-US"),
    "item:reminderisset": ("ReminderIsSet", "reminder_is_set", False),
    "item:reminderminutesbeforestart": ("ReminderMinutesBeforeStart", "reminder_minutes", 0),
    "item:reminderdueby": ("ReminderDueBy", "reminder_due_by", None),
    "message:isreadreceiptrequested": ("IsReadReceiptRequested", "is_read_receipt_requested", False),
    "message:isdeliveryreceiptrequested": (
        "IsDeliveryReceiptRequested",
        "is_delivery_receipt_requested",
        False,
    ),
    "message:isresponserequested": ("IsResponseRequested", "is_response_requested", False),
}


def _render_scalar(msg: Element, key: str, d: dict[str, Any]) -> None:
    tag, field_key, unset = _SCALAR_FIELDS[key]
    value = d.get(field_key)
    if value is None:
        value = unset
    if value is None:
        return
    sub(msg, t(tag), bool_text(value) if isinstance(value, bool) else str(value))


def _names(boxes: list[dict[str, str]]) -> str:
    return "; ".join(b.get("name") or b.get("email") or "" for b in boxes)


def render_item(
    parent: Element,
    item: Item,
    shape: Shape,
    store: MailStore,
    mime_source: Any = None,
    embedded_in: Item | None = None,
) -> Element:
    """``<t:Message>`` with the ItemId and every requested field the item has; an attached e-mail
    (``embedded_in`` its store item) has no ItemId or folder of its own."""
    d = item.data
    msg = sub(parent, t("Message"))
    if embedded_in is None:
        sub(msg, t("ItemId"), Id=item.id, ChangeKey=item.changekey)
    if shape.base == "IdOnly" and not shape.fields and not shape.ext and not shape.include_mime:
        return msg
    root = embedded_in or item
    folder = store.folder(item.folder_id) if embedded_in is None else None
    for uri in shape.field_uris():
        key = uri.lower()
        if key == "item:mimecontent":
            raw = store.mime(item.id) if embedded_in is None else None
            if raw is None and mime_source is not None:
                raw = mime_source(item)
            if raw is not None:
                sub(msg, t("MimeContent"), b64(raw), CharacterSet="UTF-8")
        elif key == "item:parentfolderid" and folder is not None:
            sub(msg, t("ParentFolderId"), Id=folder.id, ChangeKey=folder.changekey)
        elif key == "item:itemclass":
            sub(msg, t("ItemClass"), d.get("item_class") or "IPM.Note")
        elif key == "item:subject" and d.get("subject") is not None:
            sub(msg, t("Subject"), d["subject"])
        elif key == "item:sensitivity":
            sub(msg, t("Sensitivity"), d.get("sensitivity") or "Normal")
        elif key == "item:body":
            body_type = d.get("body_type") or "Text"
            body = d.get("body") or ""
            if shape.body_type == "Text" and body_type == "HTML":
                body_type, body = "Text", d.get("text_body") or ""
            sub(msg, t("Body"), body, BodyType=body_type)
        elif key == "item:textbody":
            sub(msg, t("TextBody"), d.get("text_body") or "", BodyType="Text")
        elif key == "item:attachments" and item.attachments:
            atts = sub(msg, t("Attachments"))
            for att in item.attachments:
                render_attachment(atts, att, root)
        elif key in (
            "item:datetimereceived",
            "item:datetimesent",
            "item:datetimecreated",
            "item:lastmodifiedtime",
        ):
            name = {
                "item:datetimereceived": ("DateTimeReceived", "datetime_received"),
                "item:datetimesent": ("DateTimeSent", "datetime_sent"),
                "item:datetimecreated": ("DateTimeCreated", "datetime_created"),
                "item:lastmodifiedtime": ("LastModifiedTime", "last_modified"),
            }[key]
            if d.get(name[1]):
                sub(msg, t(name[0]), d[name[1]])
        elif key == "item:size":
            sub(msg, t("Size"), str(int(d.get("size") or 0)))
        elif key == "item:categories" and d.get("categories"):
            cats = sub(msg, t("Categories"))
            for c in d["categories"]:
                sub(cats, t("String"), c)
        elif key == "item:importance":
            sub(msg, t("Importance"), d.get("importance") or "Normal")
        elif key == "item:inreplyto" and d.get("in_reply_to"):
            sub(msg, t("InReplyTo"), d["in_reply_to"])
        elif key in (
            "item:issubmitted",
            "item:isdraft",
            "item:isfromme",
            "item:isresend",
            "item:isunmodified",
        ):
            name = {
                "item:issubmitted": ("IsSubmitted", "is_submitted"),
                "item:isdraft": ("IsDraft", "is_draft"),
                "item:isfromme": ("IsFromMe", "is_from_me"),
                "item:isresend": ("IsResend", "is_resend"),
                "item:isunmodified": ("IsUnmodified", "is_unmodified"),
            }[key]
            sub(msg, t(name[0]), bool_text(bool(d.get(name[1]))))
        elif key == "item:internetmessageheaders" and d.get("headers"):
            hs = sub(msg, t("InternetMessageHeaders"))
            for name, value in d["headers"]:
                sub(hs, t("InternetMessageHeader"), value, HeaderName=name)
        elif key == "item:displayto":
            sub(msg, t("DisplayTo"), _names(d.get("to") or []))
        elif key == "item:displaycc":
            sub(msg, t("DisplayCc"), _names(d.get("cc") or []))
        elif key == "item:hasattachments":
            sub(msg, t("HasAttachments"), bool_text(any(not a.is_inline for a in item.attachments)))
        elif key == "item:isassociated":
            sub(msg, t("IsAssociated"), "false")
        elif key == "item:conversationid":
            sub(msg, t("ConversationId"), Id=conversation_id(d) or item.id)
        elif key in _SCALAR_FIELDS:
            _render_scalar(msg, key, d)
        elif key in ("message:sender", "message:from", "message:receivedby", "message:receivedrepresenting"):
            tag, src = {
                "message:sender": ("Sender", "sender"),
                "message:from": ("From", "author"),
                "message:receivedby": ("ReceivedBy", "received_by"),
                "message:receivedrepresenting": ("ReceivedRepresenting", "received_by"),
            }[key]
            if d.get(src):
                _mailbox(sub(msg, t(tag)), d[src])
        elif key in (
            "message:torecipients",
            "message:ccrecipients",
            "message:bccrecipients",
            "message:replyto",
        ):
            tag, src = {
                "message:torecipients": ("ToRecipients", "to"),
                "message:ccrecipients": ("CcRecipients", "cc"),
                "message:bccrecipients": ("BccRecipients", "bcc"),
                "message:replyto": ("ReplyTo", "reply_to"),
            }[key]
            if d.get(src):
                holder = sub(msg, t(tag))
                for box in d[src]:
                    _mailbox(holder, box)
        elif key == "message:conversationtopic" and d.get("subject") is not None:
            sub(msg, t("ConversationTopic"), _topic(d["subject"]))
        elif key == "message:internetmessageid" and d.get("message_id"):
            sub(msg, t("InternetMessageId"), d["message_id"])
        elif key == "message:isread":
            sub(msg, t("IsRead"), bool_text(bool(d.get("is_read"))))
        elif key == "message:references" and d.get("references"):
            sub(msg, t("References"), d["references"])
    for attrs in shape.ext:
        prop = ext_value(item, attrs)
        if prop is None:
            continue
        ep = sub(msg, t("ExtendedProperty"))
        sub(ep, t("ExtendedFieldURI"), **attrs)
        if prop.get("values") is not None:
            vals = sub(ep, t("Values"))
            for v in prop["values"]:
                sub(vals, t("Value"), str(v))
        else:
            sub(ep, t("Value"), str(prop.get("value") or ""))
    return msg


def conversation_id(d: dict[str, Any]) -> str:
    """A stable id per thread: derived from the thread's first Message-ID (References order)."""
    refs = (d.get("references") or "").split()
    root = refs[0] if refs else (d.get("in_reply_to") or d.get("message_id") or "")
    if not root:
        return ""
    return "AAQkAD" + hashlib.sha1(root.strip().lower().encode()).hexdigest().upper()


def _topic(subject: str) -> str:
    s = subject
    while True:
        head, sep, rest = s.partition(":")
        if sep and head.strip().lower() in ("re", "fw", "fwd", "aw", "sv", "wg"):
            s = rest.strip()
            continue
        return s
