"""Item operations: FindItem, GetItem, CreateItem, UpdateItem, DeleteItem, MoveItem, SendItem,
UploadItems."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from addin.sandbox.mail.context import Ctx, folder_ids
from addin.sandbox.mail.items import (
    WRITABLE,
    delete_ext,
    is_list_field,
    parse_ext,
    parse_item_xml,
    parse_shape,
    render_item,
    set_ext,
)
from addin.sandbox.mail.mime import (
    AttachmentTuple,
    build_mime,
    make_message_id,
    parse_mime,
    replace_header,
)
from addin.sandbox.mail.restrict import matches, matches_query, sort_items
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    answer_each,
    b64,
    error_message,
    local,
    m,
    now_iso,
    ok_message,
    sub,
    t,
    unb64,
)
from addin.sandbox.mail.store import Folder, Item

SEND_DISPOSITIONS = ("SendOnly", "SendAndSaveCopy")


def item_mime(ctx: Ctx, item: Item) -> bytes:
    """The item's MIME, generated from its fields when it has none stored yet."""
    raw = ctx.store.mime(item.id)
    if raw is not None:
        return raw
    atts = [
        (a.name, a.content_type, a.content_id, a.is_inline, c)
        for a, c in ctx.store.attachment_contents(item.id)
    ]
    return build_mime(item.data, atts, include_bcc=True)


def _item_ids(parent: Element | None) -> list[Element]:
    if parent is None:
        return []
    return [c for c in parent if local(c) in ("ItemId", "OccurrenceItemId", "RecurringMasterItemId")]


# -- FindItem / GetItem ---------------------------------------------------------------------------


def _message_id_lookup(restriction_el: Element | None) -> str | None:
    """The Message-ID of a restriction that requires ``message:InternetMessageId == X``."""
    if restriction_el is None:
        return None
    candidates = [restriction_el] if local(restriction_el) != "And" else list(restriction_el)
    for el in candidates:
        path = el.find(t("FieldURI"))
        constant = el.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
        if (
            local(el) == "IsEqualTo"
            and path is not None
            and (path.get("FieldURI") or "").lower() == "message:internetmessageid"
            and constant is not None
        ):
            return str(constant.get("Value", ""))
    return None


def _received_order(sort_el: Element | None) -> bool | None:
    """True/False for newest/oldest-first by DateTimeReceived (or no order); None otherwise."""
    orders = [fo for fo in sort_el if local(fo) == "FieldOrder"] if sort_el is not None else []
    if not orders:
        return True
    if len(orders) > 1:
        return None
    path = orders[0].find(t("FieldURI"))
    if path is None or (path.get("FieldURI") or "").lower() != "item:datetimereceived":
        return None
    return bool(orders[0].get("Order", "Ascending") == "Descending")


def find_item(ctx: Ctx, req: Element, messages: Element) -> None:
    shape = parse_shape(req.find(m("ItemShape")))
    view = req.find(m("IndexedPageItemView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
    from_end = view is not None and view.get("BasePoint") == "End"
    query = (req.findtext(m("QueryString")) or "").strip()
    associated = req.get("Traversal", "Shallow") == "Associated"  # no folder-associated items here
    restriction = req.find(m("Restriction"))
    restriction_el = (
        next((c for c in restriction if isinstance(c.tag, str)), None) if restriction is not None else None
    )
    sort_el = req.find(m("SortOrder"))
    needs_attachments = any(
        u.lower() in ("item:attachments", "item:hasattachments") for u in shape.field_uris()
    )
    for fid in folder_ids(req.find(m("ParentFolderIds"))):
        try:
            folder = ctx.folder_from(fid)
            fast = _received_order(sort_el) if restriction_el is None and not query else None
            if associated:
                total, start, page = 0, 0, []
            elif fast is not None:
                # The common unfiltered listing pages in SQL: flat cost on large folders.
                total = ctx.store.count_items(folder.id)
                start = max(0, total - offset - limit) if from_end else offset
                end = (total - offset) if from_end else offset + limit
                ids = ctx.store.page_ids(folder.id, start, max(0, end - start), descending=fast)
                page = ctx.store.items_by_ids(ids)
            else:
                mid = _message_id_lookup(restriction_el)
                if mid is not None:
                    # Lookups by Message-ID (dedupe, Sent Items checks) use the index, not a scan.
                    items = ctx.store.items_with_message_id(folder.id, mid)
                else:
                    items = ctx.store.folder_items(folder.id)
                if restriction_el is not None:
                    items = [i for i in items if matches(i, restriction_el)]
                if query:
                    items = [i for i in items if matches_query(i, query)]
                items = sort_items(items, sort_el)
                total = len(items)
                start = max(0, total - offset - limit) if from_end else offset
                end = (total - offset) if from_end else offset + limit
                page = items[start : max(start, end)]
        except EwsError as exc:
            error_message(messages, "FindItem", exc.code, exc.message)
            continue
        msg = ok_message(messages, "FindItem")
        next_offset = offset + len(page)
        root = sub(
            msg,
            m("RootFolder"),
            IndexedPagingOffset=str(next_offset),
            TotalItemsInView=str(total),
            IncludesLastItemInRange="true" if next_offset >= total else "false",
        )
        holder = sub(root, t("Items"))
        for item in page:
            if needs_attachments:
                item.attachments = ctx.store.attachments(item.id)
            render_item(holder, item, shape, ctx.store, lambda i: item_mime(ctx, i))


def _answer_item_id(messages: Element, op: str, item: Item) -> Element:
    """Success, naming the message created, changed, copied or moved (its new change key)."""
    msg = ok_message(messages, op)
    sub(sub(sub(msg, m("Items")), t("Message")), t("ItemId"), Id=item.id, ChangeKey=item.changekey)
    return msg


def get_item(ctx: Ctx, req: Element, messages: Element) -> None:
    shape = parse_shape(req.find(m("ItemShape")))
    for item, msg in answer_each(messages, "GetItem", _item_ids(req.find(m("ItemIds"))), ctx.item_from):
        render_item(sub(msg, m("Items")), item, shape, ctx.store, lambda i: item_mime(ctx, i))


# -- creating and sending -------------------------------------------------------------------------


def _me(ctx: Ctx) -> dict[str, str]:
    return {"name": ctx.store.display_name(ctx.user), "email": ctx.user}


def compose_fields(
    ctx: Ctx, fields: dict[str, Any], atts: list[AttachmentTuple], mime: bytes | None
) -> tuple[dict[str, Any], list[AttachmentTuple], bytes | None]:
    """Complete an item a client creates: from its MIME if given, else from the fields."""
    if mime is not None:
        base, mime_atts = parse_mime(mime, datetime.now(UTC))
        base.update({k: v for k, v in fields.items() if k not in ("ext",)})
        base["ext"] = list(fields.get("ext") or [])
        return base, mime_atts + atts, mime
    now = now_iso()
    data: dict[str, Any] = {
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
        "is_read": False,
        "datetime_created": now,
        "datetime_received": now,
        "datetime_sent": now,
        "last_modified": now,
    }
    data.update(fields)
    data["author"] = data.get("author") or _me(ctx)
    data["sender"] = data.get("sender") or data["author"]
    if not data.get("message_id"):
        data["message_id"] = make_message_id(ctx.user)
    if data.get("body_type") == "HTML":
        data["text_body"] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", data.get("body") or "")).strip()
    else:
        data["text_body"] = data.get("body") or ""
    data["is_from_me"] = True
    return data, atts, None


def send_fields(
    ctx: Ctx,
    data: dict[str, Any],
    atts: list[AttachmentTuple],
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
                ctx.deliver(address, outgoing, "inbox")


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


def response_fields(ctx: Ctx, el: Element) -> tuple[dict[str, Any], list[AttachmentTuple]]:
    """A reply, reply-all or forward of a stored item, as the fields of a new message."""
    kind = local(el)
    ref = el.find(t("ReferenceItemId"))
    if ref is None:
        raise EwsError("ErrorInvalidIdEmpty", f"{kind} without a ReferenceItemId.")
    orig_item = ctx.item_from(ref)
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
        atts = [
            (a.name, a.content_type, a.content_id, a.is_inline, c)
            for a, c in ctx.store.attachment_contents(orig_item.id)
        ] + atts
    return fields, atts


def _saved_folder(ctx: Ctx, req: Element, default: str) -> Folder:
    holder = req.find(m("SavedItemFolderId"))
    targets = folder_ids(holder)
    if targets:
        return ctx.folder_from(targets[0])
    folder = ctx.store.distinguished(ctx.user, default)
    assert folder is not None
    return folder


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
                save = _saved_folder(ctx, req, "sentitems") if disposition == "SendAndSaveCopy" else None
                _send_new(ctx, data, atts, mime, save)
                msg = ok_message(messages, "CreateItem")
                sub(msg, m("Items"))
                continue
            folder = _saved_folder(ctx, req, "drafts")
            data["is_draft"] = mime is None
            if mime is None:
                data["size"] = 0
            item = ctx.store.insert_item(ctx.user, folder.id, data, mime, atts)
        except EwsError as exc:
            error_message(messages, "CreateItem", exc.code, exc.message)
            continue
        _answer_item_id(messages, "CreateItem", item)


def send_existing(ctx: Ctx, item: Item, save_folder: Folder | None, keep_id: bool = False) -> None:
    """Send a stored item and remove it; ``keep_id`` gives the Sent Items copy the item's id."""
    atts = [
        (a.name, a.content_type, a.content_id, a.is_inline, c)
        for a, c in ctx.store.attachment_contents(item.id)
    ]
    mime = ctx.store.mime(item.id) if not item.data.get("is_draft") else None
    with ctx.store.tx():
        # Removed first so the copy can take over the id; one transaction, so a refused send
        # (no valid recipient) leaves the item where it was.
        ctx.store.delete_item(item)
        send_fields(ctx, item.data, atts, mime, save_folder, copy_id=item.id if keep_id else None)


def _send_new(
    ctx: Ctx, data: dict[str, Any], atts: list[AttachmentTuple], mime: bytes | None, save: Folder | None
) -> None:
    """Through the server's transport queue (it may hold the message in Outbox), else at once."""
    if ctx.transport is None:
        send_fields(ctx, data, atts, mime, save)
    else:
        ctx.transport.send_new(ctx, data, atts, mime, save)


def _send_stored(ctx: Ctx, item: Item, save: Folder | None) -> None:
    if ctx.transport is None:
        send_existing(ctx, item, save)
    else:
        ctx.transport.send_stored(ctx, item, save)


def send_item(ctx: Ctx, req: Element, messages: Element) -> None:
    save = req.get("SaveItemToFolder", "true").lower() == "true"
    for iid in _item_ids(req.find(m("ItemIds"))):
        try:
            item = ctx.item_from(iid)
            _send_stored(ctx, item, _saved_folder(ctx, req, "sentitems") if save else None)
        except EwsError as exc:
            error_message(messages, "SendItem", exc.code, exc.message)
            continue
        ok_message(messages, "SendItem")


# -- updating -------------------------------------------------------------------------------------


def _apply_update(item: Item, upd: Element) -> bool:
    """Apply one Set/Append/DeleteItemField; returns True when only the read flag changed."""
    action = local(upd)
    path = next((c for c in upd if local(c) in ("FieldURI", "ExtendedFieldURI", "IndexedFieldURI")), None)
    if path is None:
        raise EwsError("ErrorInvalidPropertySet", f"{action} without a field path.")
    wrapper = next((c for c in upd if isinstance(c.tag, str) and c is not path), None)
    d = item.data
    if local(path) == "ExtendedFieldURI":
        if action == "DeleteItemField":
            delete_ext(d, dict(path.attrib))
            return False
        prop_el = wrapper.find(t("ExtendedProperty")) if wrapper is not None else None
        if prop_el is None:
            raise EwsError("ErrorInvalidPropertySet", "SetItemField without an ExtendedProperty value.")
        set_ext(d, parse_ext(prop_el))
        return False
    if local(path) == "IndexedFieldURI":
        raise EwsError("ErrorInvalidPropertyUpdateSentMessage", "Indexed fields do not exist on messages.")
    uri = (path.get("FieldURI") or "").lower()
    key = WRITABLE.get(uri)
    if key is None:
        # Fields the sandbox does not model (reminders, flags): accepted and ignored, like a no-op.
        return False
    if action == "DeleteItemField":
        d[key] = [] if is_list_field(key) else None
        if key == "body":
            d["text_body"] = ""
        return False
    if wrapper is None:
        raise EwsError("ErrorInvalidPropertySet", f"{action} without a value.")
    fields, _, _ = parse_item_xml(wrapper)
    if key not in fields:
        raise EwsError("ErrorInvalidPropertySet", f"The value for {uri} is missing.")
    if action == "AppendToItemField" and is_list_field(key):
        d[key] = list(d.get(key) or []) + list(fields[key])
    elif action == "AppendToItemField" and key == "body":
        d["body"] = (d.get("body") or "") + fields["body"]
    else:
        d[key] = fields[key]
    if key == "body":
        d["body_type"] = fields.get("body_type", "Text")
        d["text_body"] = d["body"] if d["body_type"] == "Text" else d.get("text_body", "")
    return key == "is_read"


def update_item(ctx: Ctx, req: Element, messages: Element) -> None:
    disposition = req.get("MessageDisposition", "SaveOnly")
    conflict = req.get("ConflictResolution", "AutoResolve")
    changes = req.find(m("ItemChanges"))
    for change in changes if changes is not None else []:
        try:
            id_el = change.find(t("ItemId"))
            if id_el is None:
                raise EwsError("ErrorInvalidIdEmpty", "ItemChange without an ItemId.")
            item = ctx.item_from(id_el)
            given = id_el.get("ChangeKey")
            if conflict == "NeverOverwrite" and given and given != item.changekey:
                raise EwsError("ErrorIrresolvableConflict", "The item was changed since it was read.")
            updates = change.find(t("Updates"))
            only_read = True
            for upd in updates if updates is not None else []:
                if isinstance(upd.tag, str):
                    only_read = _apply_update(item, upd) and only_read
            item.data["last_modified"] = now_iso()
            if disposition in SEND_DISPOSITIONS:
                save = _saved_folder(ctx, req, "sentitems") if disposition == "SendAndSaveCopy" else None
                _send_stored(ctx, item, save)
                msg = ok_message(messages, "UpdateItem")
                sub(msg, m("Items"))
                continue
            ctx.store.save_item(item, "read" if only_read else "update")
        except EwsError as exc:
            error_message(messages, "UpdateItem", exc.code, exc.message)
            continue
        msg = _answer_item_id(messages, "UpdateItem", item)
        conflicts = sub(msg, m("ConflictResults"))
        sub(conflicts, t("Count"), "0")


# -- deleting and moving --------------------------------------------------------------------------


def delete_item(ctx: Ctx, req: Element, messages: Element) -> None:
    mode = req.get("DeleteType", "MoveToDeletedItems")
    for iid in _item_ids(req.find(m("ItemIds"))):
        try:
            item = ctx.item_from(iid)
            trash = ctx.store.distinguished(ctx.user, "deleteditems")
            if mode == "MoveToDeletedItems" and trash is not None and item.folder_id != trash.id:
                ctx.store.move_item(item, trash.id)
            else:
                ctx.store.delete_item(item)
        except EwsError as exc:
            error_message(messages, "DeleteItem", exc.code, exc.message)
            continue
        ok_message(messages, "DeleteItem")


def move_item(ctx: Ctx, req: Element, messages: Element, op: str = "MoveItem") -> None:
    targets = folder_ids(req.find(m("ToFolderId")))
    for iid in _item_ids(req.find(m("ItemIds"))):
        try:
            if not targets:
                raise EwsError("ErrorInvalidIdEmpty", f"{op} without a target folder.")
            folder = ctx.folder_from(targets[0])
            item = ctx.item_from(iid)
            if op == "CopyItem":
                atts = [
                    (a.name, a.content_type, a.content_id, a.is_inline, c)
                    for a, c in ctx.store.attachment_contents(item.id)
                ]
                item = ctx.store.insert_item(ctx.user, folder.id, item.data, ctx.store.mime(item.id), atts)
            elif item.folder_id != folder.id:
                ctx.store.move_item(item, folder.id)
        except EwsError as exc:
            error_message(messages, op, exc.code, exc.message)
            continue
        _answer_item_id(messages, op, item)


def copy_item(ctx: Ctx, req: Element, messages: Element) -> None:
    move_item(ctx, req, messages, "CopyItem")


def upload_items(ctx: Ctx, req: Element, messages: Element) -> None:
    items = req.find(m("Items"))
    for el in items if items is not None else []:
        try:
            parent = el.find(t("ParentFolderId"))
            if parent is None:
                raise EwsError("ErrorInvalidIdEmpty", "UploadItems without a ParentFolderId.")
            folder = ctx.store.folder(parent.get("Id", ""))
            if folder is None or folder.mailbox != ctx.user:
                raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
            raw = unb64(el.findtext(t("Data")) or "")
            item_id = ctx.deliver(ctx.user, raw, folder.id)
            item = ctx.store.item(item_id)
            assert item is not None
        except EwsError as exc:
            error_message(messages, "UploadItems", exc.code, exc.message)
            continue
        msg = ok_message(messages, "UploadItems")
        sub(msg, m("ItemId"), Id=item.id, ChangeKey=item.changekey)


def export_items(ctx: Ctx, req: Element, messages: Element) -> None:
    """The export stream is opaque to clients; the sandbox exports MIME (UploadItems reads it back)."""
    for item, msg in answer_each(messages, "ExportItems", _item_ids(req.find(m("ItemIds"))), ctx.item_from):
        sub(msg, m("ItemId"), Id=item.id, ChangeKey=item.changekey)
        sub(msg, m("Data"), b64(item_mime(ctx, item)))
