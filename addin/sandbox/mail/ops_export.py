"""ExportItems and UploadItems: an item out as an opaque stream and back in.

Exchange's export stream is opaque to clients and carries the whole item, not only its MIME: an
export/upload round trip keeps categories, body, draft and from-me flags (ExportItems operation:
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/exportitems-operation).
The sandbox's stream is a header line, the item's fields as JSON, then its MIME. UploadItems also
takes plain MIME (what a client built elsewhere), read as delivered mail.
"""

from __future__ import annotations

import json
from typing import Any

from addin.sandbox.mail.context import Ctx
from addin.sandbox.mail.item_answers import item_from, item_ids
from addin.sandbox.mail.mime import parse_mime
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
from addin.sandbox.mail.store_attachments import EMBEDDED_KEY
from addin.sandbox.mail.store_records import Item


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
            action = el.get("CreateAction", "CreateNew")
            id_el = el.find(t("ItemId"))
            existing = None
            if action in ("Update", "UpdateOrCreate") and id_el is not None:
                try:
                    existing = item_from(ctx, id_el)
                except EwsError:
                    if action == "Update":
                        raise
            item = _upload(ctx, folder.id, raw, existing)
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
        sub(msg, m("Data"), b64(_stream(ctx, item)))


def _upload(ctx: Ctx, folder_id: str, raw: bytes, existing: Item | None) -> Item:
    """A new item from the data, or (CreateAction Update) the existing item's content replaced,
    keeping its id with a new change key."""
    exported = _read_stream(raw)
    if exported is None:
        fields, atts = parse_mime(raw)
        mime: bytes | None = raw
    else:
        fields, raw_mime, keep_mime = exported
        atts = parse_mime(raw_mime)[1]
        mime = raw_mime if keep_mime else None
    if existing is not None:
        return ctx.store.replace_item(existing, fields, mime, atts)
    return ctx.store.insert_item(ctx.user, folder_id, fields, mime, atts)


_STREAM_MAGIC = b"SBXEXPORT1\n"


def _stream(ctx: Ctx, item: Item) -> bytes:
    _, embedded = ctx.store.attachment_rows(item.id)
    fields = {**item.data, EMBEDDED_KEY: embedded}
    header = {"fields": fields, "mime_stored": ctx.store.mime(item.id) is not None}
    return _STREAM_MAGIC + json.dumps(header).encode() + b"\n" + item_mime(ctx, item)


def _read_stream(raw: bytes) -> tuple[dict[str, Any], bytes, bool] | None:
    """(fields, MIME, whether the MIME was stored) of an export stream; None for plain MIME."""
    if not raw.startswith(_STREAM_MAGIC):
        return None
    header, _, mime = raw[len(_STREAM_MAGIC) :].partition(b"\n")
    try:
        parsed = json.loads(header)
        fields = dict(parsed["fields"])
        keep_mime = bool(parsed.get("mime_stored"))
    except (ValueError, KeyError, TypeError):
        raise EwsError("ErrorInvalidArgument", "The upload data is not an export stream.") from None
    return fields, mime, keep_mime
