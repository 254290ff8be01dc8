"""SyncFolderItems: incremental sync of a folder's items with an opaque state."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from addin.sandbox.mail.context import Ctx, folder_ids
from addin.sandbox.mail.items import parse_shape, render_item
from addin.sandbox.mail.ops_items import item_mime
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    bool_text,
    error_message,
    m,
    ok_message,
    sub,
    t,
)

_STATE_PREFIX = "SBX1"


def encode_state(folder_id: str, seq: int) -> str:
    raw = json.dumps({"f": folder_id, "s": seq}, separators=(",", ":")).encode()
    return _STATE_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii")


def decode_state(state: str, folder_id: str) -> int:
    try:
        if not state.startswith(_STATE_PREFIX):
            raise ValueError("prefix")
        data = json.loads(base64.urlsafe_b64decode(state[len(_STATE_PREFIX) :].encode("ascii")))
        if data["f"] != folder_id:
            raise ValueError("folder")
        return int(data["s"])
    except (ValueError, KeyError, TypeError):
        raise EwsError(
            "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
        ) from None


@dataclass
class _Pending:
    item_id: str
    first_seq: int
    kinds: set[str] = field(default_factory=set)


def _kind_of(ctx: Ctx, folder_id: str, entry: _Pending) -> str:
    """What the client must be told about an item with these changes since its state."""
    exists_here = ctx.store.item_folder(entry.item_id) == folder_id
    if not exists_here:
        # Created and gone within the window: the client never saw it.
        return "skip" if "create" in entry.kinds else "Delete"
    if "create" in entry.kinds:
        return "Create"
    if entry.kinds == {"read"}:
        return "ReadFlagChange"
    return "Update"


def sync_folder_items(ctx: Ctx, req: Element, messages: Element) -> None:
    """Changes since the state, one entry per item, oldest first, ``MaxChangesReturned`` at a time.

    An item appears in a page at the position of its first change after the state, with its
    current content; the next state is the log position just before the first item not returned,
    so nothing is skipped (a returned item changed again later comes back as an Update).
    """
    shape = parse_shape(req.find(m("ItemShape")))
    try:
        targets = folder_ids(req.find(m("SyncFolderId")))
        if not targets:
            raise EwsError("ErrorInvalidIdEmpty", "SyncFolderItems without a SyncFolderId.")
        folder = ctx.folder_from(targets[0])
        state = (req.findtext(m("SyncState")) or "").strip()
        since = decode_state(state, folder.id) if state else 0
        max_changes = int(req.findtext(m("MaxChangesReturned")) or "100")
        if not 1 <= max_changes <= 512:
            raise EwsError("ErrorInvalidArgument", "MaxChangesReturned must be 1..512.")
        ignore_el = req.find(m("Ignore"))
        ignored = {c.get("Id") for c in ignore_el} if ignore_el is not None else set()
    except EwsError as exc:
        # Exchange keeps SyncState and IncludesLastItemInRange in error answers too, and
        # exchangelib reads both before it looks at the error.
        msg = error_message(messages, "SyncFolderItems", exc.code, exc.message)
        sub(msg, m("SyncState"))
        sub(msg, m("IncludesLastItemInRange"), "true")
        return

    changes: list[tuple[str, _Pending]] = []
    new_state = since
    includes_last = True
    seen: set[str] = set()
    cursor = since
    chunk = max(64, max_changes * 2)
    done = False
    while not done:
        rows = ctx.store.changes_since(folder.id, cursor, chunk)
        if not rows:
            new_state = max(new_state, ctx.store.folder_last_seq(folder.id), since)
            break
        for seq, item_id, _kind in rows:
            cursor = seq
            if item_id in seen:
                continue
            seen.add(item_id)
            if len(changes) >= max_changes:
                # The state stops just before this item's first change: it comes next time.
                new_state = seq - 1
                includes_last = False
                done = True
                break
            entry = _Pending(item_id, seq, ctx.store.item_change_kinds(folder.id, item_id, since))
            kind = _kind_of(ctx, folder.id, entry)
            if kind == "skip" or item_id in ignored:
                continue
            changes.append((kind, entry))

    msg = ok_message(messages, "SyncFolderItems")
    sub(msg, m("SyncState"), encode_state(folder.id, new_state))
    sub(msg, m("IncludesLastItemInRange"), bool_text(includes_last))
    holder = sub(msg, m("Changes"))
    for kind, entry in changes:
        change = sub(holder, t(kind))
        if kind == "Delete":
            sub(change, t("ItemId"), Id=entry.item_id, ChangeKey="")
            continue
        item = ctx.store.item(entry.item_id)
        if item is None:  # deleted between the log read and now
            holder.remove(change)
            continue
        if kind == "ReadFlagChange":
            sub(change, t("ItemId"), Id=item.id, ChangeKey=item.changekey)
            sub(change, t("IsRead"), bool_text(bool(item.data.get("is_read"))))
        else:
            render_item(change, item, shape, ctx.store, lambda i: item_mime(ctx, i))
