"""What the item operations share: reading the item ids of a request (malformed ids and change
keys refused as Exchange refuses them), naming an item in an answer, the folder an item is saved to."""

from __future__ import annotations

from addin.sandbox.mail.context import Ctx, folder_ids
from addin.sandbox.mail.soap import Element, EwsError, local, m, ok_message, sub, t
from addin.sandbox.mail.store_records import Folder, Item, changekey_version, is_item_id

SEND_DISPOSITIONS = ("SendOnly", "SendAndSaveCopy")


def item_ids(parent: Element | None) -> list[Element]:
    if parent is None:
        return []
    return [c for c in parent if local(c) in ("ItemId", "OccurrenceItemId", "RecurringMasterItemId")]


def check_item_id(value: str) -> None:
    """An id the server cannot have issued is ``ErrorInvalidIdMalformed``, not "not found"
    (ResponseCode: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode)."""
    if not value:
        raise EwsError("ErrorInvalidIdEmpty", "The item id is empty.")
    if not is_item_id(value):
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")


def item_from(ctx: Ctx, el: Element) -> Item:
    check_item_id(str(el.get("Id", "")))
    return ctx.item_from(el)


def check_change_key(el: Element, item: Item, stale_code: str | None) -> None:
    """The ChangeKey a request names for ``item``.

    A value the server never issued is ``ErrorInvalidChangeKey``. DeleteItem, SendItem and
    DeleteFolder use the change key "to test whether the attempted operation will act upon the
    most recent version of an item" (ItemId: https://learn.microsoft.com/en-us/exchange/
    client-developer/web-service-reference/itemid), so with ``stale_code`` an older version is
    refused with it. No change key at all is accepted: clients delete by id alone.
    """
    given = el.get("ChangeKey")
    if not given:
        return
    version = changekey_version(given)
    if version is None or version > item.version:
        raise EwsError("ErrorInvalidChangeKey", "The change key is invalid.")
    if stale_code is not None and version != item.version:
        raise EwsError(stale_code, "The change key does not name the item's current version.")


def answer_item_id(messages: Element, op: str, item: Item) -> Element:
    """Success, naming the message created, changed, copied or moved (its new change key)."""
    msg = ok_message(messages, op)
    sub(sub(sub(msg, m("Items")), t("Message")), t("ItemId"), Id=item.id, ChangeKey=item.changekey)
    return msg


def saved_folder(ctx: Ctx, req: Element, default: str) -> Folder:
    holder = req.find(m("SavedItemFolderId"))
    targets = folder_ids(holder)
    if targets:
        return ctx.folder_from(targets[0])
    folder = ctx.store.distinguished(ctx.user, default)
    assert folder is not None
    return folder
