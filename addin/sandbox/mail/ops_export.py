"""ExportItems and UploadItems: an item out as an opaque stream and back in."""

from __future__ import annotations

from addin.sandbox.mail.context import Ctx
from addin.sandbox.mail.item_answers import item_from, item_ids
from addin.sandbox.mail.ops_items import item_mime
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    answer_each,
    b64,
    error_message,
    m,
    ok_message,
    sub,
    t,
    unb64,
)


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
    for item, msg in answer_each(
        messages, "ExportItems", item_ids(req.find(m("ItemIds"))), lambda el: item_from(ctx, el)
    ):
        sub(msg, m("ItemId"), Id=item.id, ChangeKey=item.changekey)
        sub(msg, m("Data"), b64(item_mime(ctx, item)))
