"""Changing items: UpdateItem, DeleteItem, MoveItem, CopyItem, MarkAsJunk and ArchiveItem."""

from __future__ import annotations

from addin.sandbox.mail.context import Ctx, folder_ids
from addin.sandbox.mail.item_answers import (
    SEND_DISPOSITIONS,
    answer_item_id,
    check_change_key,
    item_from,
    item_ids,
    saved_folder,
)
from addin.sandbox.mail.item_xml import WRITABLE, is_list_field, parse_ext, parse_item_xml
from addin.sandbox.mail.items import delete_ext, set_ext
from addin.sandbox.mail.ops_items import send_stored
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    error_message,
    local,
    m,
    now_iso,
    ok_message,
    sub,
    t,
    to_bool,
)
from addin.sandbox.mail.store_attachments import EMBEDDED_KEY
from addin.sandbox.mail.store_records import Item


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
            item = item_from(ctx, id_el)
            check_change_key(id_el, item, stale_code=None)
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
                save = saved_folder(ctx, req, "sentitems") if disposition == "SendAndSaveCopy" else None
                send_stored(ctx, item, save)
                msg = ok_message(messages, "UpdateItem")
                sub(msg, m("Items"))
                continue
            ctx.store.save_item(item, "read" if only_read else "update")
        except EwsError as exc:
            error_message(messages, "UpdateItem", exc.code, exc.message)
            continue
        msg = answer_item_id(messages, "UpdateItem", item)
        conflicts = sub(msg, m("ConflictResults"))
        sub(conflicts, t("Count"), "0")


def delete_item(ctx: Ctx, req: Element, messages: Element) -> None:
    mode = req.get("DeleteType", "MoveToDeletedItems")
    for iid in item_ids(req.find(m("ItemIds"))):
        try:
            item = item_from(ctx, iid)
            check_change_key(iid, item, stale_code="ErrorStaleObject")
            # DeleteType (https://learn.microsoft.com/en-us/exchange/client-developer/
            # web-service-reference/deleteitem): MoveToDeletedItems moves to Deleted Items (a new
            # id), SoftDelete to the dumpster (Recoverable Items\Deletions), HardDelete removes.
            target = {"MoveToDeletedItems": "deleteditems", "SoftDelete": "recoverableitemsdeletions"}.get(
                mode
            )
            folder = ctx.store.distinguished(ctx.user, target) if target else None
            if folder is not None and item.folder_id != folder.id:
                ctx.store.move_item(item, folder.id, new_identity=True)
            else:
                ctx.store.delete_item(item)
        except EwsError as exc:
            error_message(messages, "DeleteItem", exc.code, exc.message)
            continue
        ok_message(messages, "DeleteItem")


def move_item(ctx: Ctx, req: Element, messages: Element, op: str = "MoveItem") -> None:
    targets = folder_ids(req.find(m("ToFolderId")))
    for iid in item_ids(req.find(m("ItemIds"))):
        try:
            if not targets:
                raise EwsError("ErrorInvalidIdEmpty", f"{op} without a target folder.")
            folder = ctx.folder_from(targets[0])
            item = item_from(ctx, iid)
            if op == "CopyItem":
                atts, embedded = ctx.store.attachment_rows(item.id)
                data = {**item.data, EMBEDDED_KEY: embedded}
                item = ctx.store.insert_item(ctx.user, folder.id, data, ctx.store.mime(item.id), atts)
            elif item.folder_id != folder.id:
                # The moved item has a new id (MoveItem answers with it), as on Exchange.
                ctx.store.move_item(item, folder.id, new_identity=True)
        except EwsError as exc:
            error_message(messages, op, exc.code, exc.message)
            continue
        answer_item_id(messages, op, item)


def copy_item(ctx: Ctx, req: Element, messages: Element) -> None:
    move_item(ctx, req, messages, "CopyItem")


def mark_as_junk(ctx: Ctx, req: Element, messages: Element) -> None:
    """Junk or not junk, moved to Junk Email or back to the Inbox when ``MoveItem`` is true
    (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/markasjunk-operation).
    The sandbox keeps no blocked-senders list, so only the move is observable."""
    is_junk = to_bool(req.get("IsJunk", "false"))
    move = to_bool(req.get("MoveItem", "false"))
    for iid in item_ids(req.find(m("ItemIds"))):
        try:
            item = item_from(ctx, iid)
            if move:
                target = ctx.store.distinguished(ctx.user, "junkemail" if is_junk else "inbox")
                if target is not None and item.folder_id != target.id:
                    item = ctx.store.move_item(item, target.id, new_identity=True)
        except EwsError as exc:
            error_message(messages, "MarkAsJunk", exc.code, exc.message)
            continue
        msg = ok_message(messages, "MarkAsJunk")
        if move:  # the item's new id; a message that stays where it is is named by none
            sub(msg, m("MovedItemId"), Id=item.id, ChangeKey=item.changekey)


def archive_item(ctx: Ctx, req: Element, messages: Element) -> None:
    """ArchiveItem moves items to the archive mailbox's folder of the same kind
    (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/archiveitem-operation).
    A sandbox mailbox is its own archive: the items go to the ``ArchiveSourceFolderId`` folder and
    answer with their ids, as the archive copy does."""
    sources = folder_ids(req.find(m("ArchiveSourceFolderId")))
    for iid in item_ids(req.find(m("ItemIds"))):
        try:
            if not sources:
                raise EwsError("ErrorInvalidIdEmpty", "ArchiveItem without an ArchiveSourceFolderId.")
            folder = ctx.folder_from(sources[0])
            item = item_from(ctx, iid)
            if item.folder_id != folder.id:
                item = ctx.store.move_item(item, folder.id, new_identity=True)
        except EwsError as exc:
            error_message(messages, "ArchiveItem", exc.code, exc.message)
            continue
        answer_item_id(messages, "ArchiveItem", item)
