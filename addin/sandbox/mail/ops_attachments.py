"""The attachment operations: GetAttachment, CreateAttachment and DeleteAttachment, for files and
for attached e-mails (``ItemAttachment``), nested ones included."""

from __future__ import annotations

from typing import Any

from addin.sandbox.mail.context import Ctx
from addin.sandbox.mail.item_answers import item_from
from addin.sandbox.mail.item_xml import parse_file_attachment, parse_item_attachment
from addin.sandbox.mail.items import Shape, parse_shape, render_attachment, render_item_attachment
from addin.sandbox.mail.soap import Element, EwsError, error_message, local, m, ok_message, sub, t
from addin.sandbox.mail.store_attachments import embedded_key
from addin.sandbox.mail.store_records import Attachment, Item, is_attachment_id


def _attachment_from(ctx: Ctx, att_id: str) -> tuple[Attachment, Item]:
    """The attachment and the store item it belongs to. An id the server cannot have issued is
    ``ErrorInvalidIdMalformed``; one that names nothing (any more) ``ErrorInvalidAttachmentId``
    (GetAttachment operation: https://learn.microsoft.com/en-us/exchange/client-developer/
    web-service-reference/getattachment-operation)."""
    if not is_attachment_id(att_id):
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
    att = ctx.store.attachment(att_id)
    item = ctx.store.item(att.item_id) if att is not None else None
    if att is None or item is None or item.mailbox != ctx.user:
        raise EwsError("ErrorInvalidAttachmentId", "The attachment id is not valid.")
    return att, item


def _attachment_shape(req: Element) -> Shape:
    """``m:AttachmentShape`` reads like an item shape (BodyType, IncludeMimeContent, properties)."""
    shape = parse_shape(req.find(m("AttachmentShape")))
    if req.find(m("AttachmentShape")) is None or not shape.fields:
        shape.base = "Default"
    else:
        shape.base = "IdOnly"
    return shape


def get_attachment(ctx: Ctx, req: Element, messages: Element) -> None:
    ids = req.find(m("AttachmentIds"))
    shape = _attachment_shape(req)
    for aid in ids if ids is not None else []:
        if local(aid) != "AttachmentId":
            continue
        try:
            att, item = _attachment_from(ctx, aid.get("Id", ""))
        except EwsError as exc:
            error_message(messages, "GetAttachment", exc.code, exc.message)
            continue
        holder = sub(ok_message(messages, "GetAttachment"), m("Attachments"))
        if att.is_item:
            render_item_attachment(holder, att, item, shape, ctx.store)
        else:
            render_attachment(holder, att, item, att.content or b"")


def _parse_attachment(el: Element) -> tuple[tuple[str, str, str | None, bool, bytes], dict[str, Any]]:
    if local(el) == "FileAttachment":
        return parse_file_attachment(el), {}
    if local(el) == "ItemAttachment":
        row, data = parse_item_attachment(el)
        return row, {embedded_key(row[4]): data}
    raise EwsError("ErrorInvalidAttachmentType", f"{local(el)} is not an attachment type.")


def create_attachment(ctx: Ctx, req: Element, messages: Element) -> None:
    """Attach files or e-mails to a store item (CreateAttachment operation:
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createattachment-operation).
    Attaching to an attached e-mail is not supported by the sandbox."""
    parent = req.find(m("ParentItemId"))
    atts = req.find(m("Attachments"))
    for el in atts if atts is not None else []:
        if not isinstance(el.tag, str):
            continue
        try:
            if parent is None:
                raise EwsError("ErrorInvalidIdEmpty", "CreateAttachment without a ParentItemId.")
            if is_attachment_id(parent.get("Id", "")):
                raise EwsError("ErrorInvalidParentItem", "The sandbox attaches to store items only.")
            item = item_from(ctx, parent)
            (name, ctype, cid, inline, content), embedded = _parse_attachment(el)
            att_id = ctx.store.add_attachment(item.id, name, ctype, cid, inline, content, embedded)
            item = item_from(ctx, parent)
        except EwsError as exc:
            error_message(messages, "CreateAttachment", exc.code, exc.message)
            continue
        msg = ok_message(messages, "CreateAttachment")
        kind = "ItemAttachment" if ctype.lower() == "message/rfc822" else "FileAttachment"
        created = sub(sub(msg, m("Attachments")), t(kind))
        sub(created, t("AttachmentId"), Id=att_id, RootItemId=item.id, RootItemChangeKey=item.changekey)


def delete_attachment(ctx: Ctx, req: Element, messages: Element) -> None:
    ids = req.find(m("AttachmentIds"))
    for aid in ids if ids is not None else []:
        if not isinstance(aid.tag, str):
            continue
        try:
            att, item = _attachment_from(ctx, aid.get("Id", ""))
            ctx.store.delete_attachment(att.id)
            refreshed = ctx.store.item(item.id)
            assert refreshed is not None
        except EwsError as exc:
            error_message(messages, "DeleteAttachment", exc.code, exc.message)
            continue
        msg = ok_message(messages, "DeleteAttachment")
        sub(msg, m("RootItemId"), RootItemId=refreshed.id, RootItemChangeKey=refreshed.changekey)
