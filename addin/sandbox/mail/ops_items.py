"""Creating and sending items: CreateItem (drafts, sends, replies and forwards), SendItem, and the
send path the transport queue and Graph share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from addin.sandbox.mail.context import Ctx
from addin.sandbox.mail.item_answers import SEND_DISPOSITIONS, item_from, item_ids, saved_folder
from addin.sandbox.mail.item_xml import body_text, cut_subject, new_item_fields, parse_item_xml
from addin.sandbox.mail.mime import build_mime, make_message_id, parse_mime, replace_header
from addin.sandbox.mail.soap import Element, EwsError, error_message, local, m, now_iso, ok_message, sub, t
from addin.sandbox.mail.store import Folder, Item
from addin.sandbox.mail.store_attachments import EMBEDDED_KEY, AttachmentRow

# Kept importable from here for the transport queue and Graph.
__all__ = ["SEND_DISPOSITIONS", "compose_fields", "item_mime", "send_existing", "send_fields", "send_stored"]


def item_mime(ctx: Ctx, item: Item) -> bytes:
    """The item's MIME, generated from its fields when it has none stored yet."""
    raw = ctx.store.mime(item.id)
    if raw is not None:
        return raw
    atts, _ = ctx.store.attachment_rows(item.id)
    return build_mime(item.data, atts, include_bcc=True)


# -- creating and sending -------------------------------------------------------------------------


def _me(ctx: Ctx) -> dict[str, str]:
    return {"name": ctx.store.display_name(ctx.user), "email": ctx.user}


def compose_fields(
    ctx: Ctx, fields: dict[str, Any], atts: list[AttachmentRow], mime: bytes | None
) -> tuple[dict[str, Any], list[AttachmentRow], bytes | None]:
    """Complete an item a client creates: from its MIME if given, else from the fields."""
    if mime is not None:
        base, mime_atts = parse_mime(mime, datetime.now(UTC))
        base.update({k: v for k, v in fields.items() if k not in ("ext",)})
        base["ext"] = list(fields.get("ext") or [])
        base["subject"] = cut_subject(base["subject"]) if base.get("subject") is not None else None
        return base, mime_atts + atts, mime
    now = now_iso()
    data = new_item_fields(is_read=False)
    data.update(datetime_created=now, datetime_received=now, datetime_sent=now, last_modified=now)
    data.update(fields)
    data["author"] = data.get("author") or _me(ctx)
    data["sender"] = data.get("sender") or data["author"]
    _resolve_names(ctx, data)
    if not data.get("message_id"):
        data["message_id"] = make_message_id(ctx.user)
    data["text_body"] = body_text(data)
    data["is_from_me"] = True
    return data, atts, None


def _resolve_names(ctx: Ctx, data: dict[str, Any]) -> None:
    """A recipient given by address alone gets the mailbox's display name when it is a mailbox of
    this server, as Exchange resolves recipients against its address list on save."""
    for key in ("to", "cc", "bcc", "reply_to"):
        for box in data.get(key) or []:
            address = (box.get("email") or "").strip().lower()
            if not box.get("name") and ctx.store.has_mailbox(address):
                box["name"] = ctx.store.display_name(address)


def send_fields(
    ctx: Ctx,
    data: dict[str, Any],
    atts: list[AttachmentRow],
    mime: bytes | None,
    save_folder: Folder | None,
    copy_id: str | None = None,
) -> None:
    """Deliver to every sandbox recipient's Inbox and optionally keep a copy in ``save_folder``
    (under ``copy_id`` when given: Graph's sent draft keeps its immutable id)."""
    data = dict(data)
    now = now_iso()
    if ctx.replace_message_ids:
        data["message_id"] = make_message_id(ctx.user)
        if mime is not None:
            mime = replace_header(mime, "Message-ID", data["message_id"])
    data["datetime_sent"] = now
    data["datetime_received"] = now
    data["is_draft"] = False
    data["is_submitted"] = True
    if mime is None:
        outgoing = build_mime(data, atts)
        stored = build_mime(data, atts, include_bcc=True)
    else:
        outgoing = stored = mime
    recipients: list[str] = []
    for box in (data.get("to") or []) + (data.get("cc") or []) + (data.get("bcc") or []):
        address = (box.get("email") or "").strip().lower()
        if address and address not in recipients:
            recipients.append(address)
    if not recipients:
        raise EwsError("ErrorInvalidRecipients", "At least one recipient isn't valid.")
    with ctx.store.tx():
        if save_folder is not None:
            data["is_read"] = True
            data["size"] = len(stored)
            ctx.store.insert_item(ctx.user, save_folder.id, data, stored, atts, item_id=copy_id)
        for address in recipients:
            if ctx.store.has_mailbox(address):
                delivered = ctx.deliver(address, outgoing, "inbox")
                # Delivery inside the organisation copies the message's properties: the subject
                # arrives as sent, blanks and all, not as re-read from the MIME.
                ctx.store.amend_item_data(delivered, {"subject": data.get("subject")})


RESPONSE_KINDS = ("ReplyToItem", "ReplyAllToItem", "ForwardItem")


def _quote(orig: dict[str, Any], html: bool) -> str:
    author = orig.get("author") or {}
    lines = [
        "-----Original Message-----",
        f"From: {author.get('name') or ''} <{author.get('email') or ''}>",
        f"Sent: {orig.get('datetime_sent') or ''}",
        f"To: {'; '.join(b.get('email') or '' for b in orig.get('to') or [])}",
        f"Subject: {orig.get('subject') or ''}",
        "",
        orig.get("text_body") or "",
    ]
    if html:
        escaped = [x.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for x in lines]
        return "<hr><div>" + "<br>".join(escaped) + "</div>"
    return "\n\n" + "\n".join(lines)


def response_fields(ctx: Ctx, el: Element) -> tuple[dict[str, Any], list[AttachmentRow]]:
    """A reply, reply-all or forward of a stored item, as the fields of a new message."""
    kind = local(el)
    ref = el.find(t("ReferenceItemId"))
    if ref is None:
        raise EwsError("ErrorInvalidIdEmpty", f"{kind} without a ReferenceItemId.")
    orig_item = item_from(ctx, ref)
    orig = orig_item.data
    fields, atts, _ = parse_item_xml(el)
    new_body = el.find(t("NewBodyContent"))
    if new_body is not None:
        fields["body"] = new_body.text or ""
        fields["body_type"] = "HTML" if new_body.get("BodyType", "Text").upper() == "HTML" else "Text"
    html = fields.get("body_type") == "HTML"
    fields["body"] = (fields.get("body") or "") + _quote(orig, html)
    prefix = "FW: " if kind == "ForwardItem" else "RE: "
    fields.setdefault("subject", prefix + (orig.get("subject") or ""))
    me = ctx.user

    def others(boxes: list[dict[str, str]]) -> list[dict[str, str]]:
        return [b for b in boxes if (b.get("email") or "").lower() != me]

    if kind != "ForwardItem" and not fields.get("to"):
        sender = (orig.get("reply_to") or []) or ([orig["author"]] if orig.get("author") else [])
        fields["to"] = sender if kind == "ReplyToItem" else sender + others(orig.get("to") or [])
        if kind == "ReplyAllToItem" and not fields.get("cc"):
            fields["cc"] = others(orig.get("cc") or [])
    if kind != "ForwardItem" and orig.get("message_id"):
        fields["in_reply_to"] = orig["message_id"]
    if orig.get("message_id"):
        fields["references"] = " ".join(x for x in (orig.get("references"), orig["message_id"]) if x)
    if kind == "ForwardItem":
        rows, embedded = ctx.store.attachment_rows(orig_item.id)
        atts = rows + atts
        fields[EMBEDDED_KEY] = {**embedded, **(fields.get(EMBEDDED_KEY) or {})}
    return fields, atts


def create_item(ctx: Ctx, req: Element, messages: Element) -> None:
    disposition = req.get("MessageDisposition", "SaveOnly")
    items = req.find(m("Items"))
    for el in items if items is not None else []:
        try:
            if local(el) in RESPONSE_KINDS:
                fields, atts = response_fields(ctx, el)
                mime = None
            elif local(el) in ("Message", "Item"):
                fields, atts, mime = parse_item_xml(el)
            else:
                raise EwsError(
                    "ErrorInvalidItemForOperationCreateItem", f"{local(el)} items are not supported."
                )
            data, atts, mime = compose_fields(ctx, fields, atts, mime)
            if disposition in SEND_DISPOSITIONS:
                save = saved_folder(ctx, req, "sentitems") if disposition == "SendAndSaveCopy" else None
                _send_new(ctx, data, atts, mime, save)
                msg = ok_message(messages, "CreateItem")
                sub(msg, m("Items"))
                continue
            folder = saved_folder(ctx, req, "drafts")
            data["is_draft"] = mime is None
            if mime is None:
                data["size"] = 0
            item = ctx.store.insert_item(ctx.user, folder.id, data, mime, atts)
        except EwsError as exc:
            error_message(messages, "CreateItem", exc.code, exc.message)
            continue
        _answer_created(messages, item)


def _answer_created(messages: Element, item: Item) -> None:
    """CreateItem's answer names the new item and the attachments saved with it, which is how a
    client learns their ids without another call (CreateItem operation, email message:
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem-operation-email-message)."""
    msg = ok_message(messages, "CreateItem")
    el = sub(sub(msg, m("Items")), t("Message"))
    sub(el, t("ItemId"), Id=item.id, ChangeKey=item.changekey)
    if item.attachments:
        holder = sub(el, t("Attachments"))
        for att in item.attachments:
            kind = sub(holder, t("ItemAttachment" if att.is_item else "FileAttachment"))
            sub(kind, t("AttachmentId"), Id=att.id, RootItemId=item.id, RootItemChangeKey=item.changekey)


def send_existing(ctx: Ctx, item: Item, save_folder: Folder | None, keep_id: bool = False) -> None:
    """Send a stored item and remove it; ``keep_id`` gives the Sent Items copy the item's id."""
    atts, embedded = ctx.store.attachment_rows(item.id)
    mime = ctx.store.mime(item.id) if not item.data.get("is_draft") else None
    with ctx.store.tx():
        # Removed first so the copy can take over the id; one transaction, so a refused send
        # (no valid recipient) leaves the item where it was.
        ctx.store.delete_item(item)
        data = {**item.data, EMBEDDED_KEY: embedded}
        send_fields(ctx, data, atts, mime, save_folder, copy_id=item.id if keep_id else None)


def _send_new(
    ctx: Ctx, data: dict[str, Any], atts: list[AttachmentRow], mime: bytes | None, save: Folder | None
) -> None:
    """Through the server's transport queue (it may hold the message in Outbox), else at once."""
    if ctx.transport is None:
        send_fields(ctx, data, atts, mime, save)
    else:
        ctx.transport.send_new(ctx, data, atts, mime, save)


def send_stored(ctx: Ctx, item: Item, save: Folder | None) -> None:
    if ctx.transport is None:
        send_existing(ctx, item, save)
    else:
        ctx.transport.send_stored(ctx, item, save)


def send_item(ctx: Ctx, req: Element, messages: Element) -> None:
    save = req.get("SaveItemToFolder", "true").lower() == "true"
    for iid in item_ids(req.find(m("ItemIds"))):
        try:
            item = item_from(ctx, iid)
            send_stored(ctx, item, saved_folder(ctx, req, "sentitems") if save else None)
        except EwsError as exc:
            error_message(messages, "SendItem", exc.code, exc.message)
            continue
        ok_message(messages, "SendItem")
