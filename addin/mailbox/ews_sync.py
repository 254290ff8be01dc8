"""EWS SyncFolderItems for the EWS backend: incremental pages, and the first sync "from now".

A first sync (no saved state) pages through the whole folder with the IdOnly shape, 512
changes per request, and keeps only the final state: old history is neither returned nor
held in memory (EWS has no call that hands out a current sync state without walking the
folder).  Those pages are never turned into item objects: exchangelib would build a full
``Message`` for every entry (about 0.2 ms each, most of a 100,000-message first sync), and
all a first sync needs from each answer is its SyncState and IncludesLastItemInRange.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exchangelib import Account
from exchangelib.items import ID_ONLY
from exchangelib.services import SyncFolderItems

from addin.mailbox import ews_items
from addin.mailbox.ews_services import StateOnlySync, SyncItems
from addin.mailbox.types import Change, ChangeKind, SyncPage

# SyncFolderItems' upper limit for MaxChangesReturned.
SYNC_PAGE_MAX = 512

_CHANGE_KINDS = {
    "create": ChangeKind.CREATED,
    "update": ChangeKind.UPDATED,
    "delete": ChangeKind.DELETED,
    "read_flag_change": ChangeKind.READ_FLAG,
}


def _changes(svc: SyncFolderItems, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    for entry in svc.call(**kwargs):
        if isinstance(entry, Exception):
            raise entry
        yield entry


def fresh_state(account: Account, folder: Any) -> SyncPage:
    """The folder's current sync state, walking it page by page and keeping nothing."""
    state: str | None = None
    while True:
        svc = StateOnlySync(account=account)
        for _ in _changes(
            svc,
            folder=folder,
            shape=ID_ONLY,
            additional_fields=None,
            sync_state=state,
            ignore=None,
            max_changes_returned=SYNC_PAGE_MAX,
            sync_scope=None,
        ):
            pass
        if svc.includes_last_item_in_range or svc.sync_state == state:
            return SyncPage(changes=(), sync_state=str(svc.sync_state), more=False)
        state = svc.sync_state


def page(account: Account, folder: Any, folder_id: str, sync_state: str, max_changes: int) -> SyncPage:
    """One page of changes after ``sync_state``, new and changed messages with their summary."""
    additional = {
        f for f in folder.normalize_fields(fields=ews_items.SUMMARY_FIELDS) if not f.field.is_attribute
    }
    svc = SyncItems(account=account)
    changes: list[Change] = []
    for change_type, item in _changes(
        svc,
        folder=folder,
        shape=ID_ONLY,
        additional_fields=additional,
        sync_state=sync_state,
        ignore=None,
        max_changes_returned=min(max_changes, SYNC_PAGE_MAX),
        sync_scope=None,
    ):
        kind = _CHANGE_KINDS.get(change_type)
        if kind is None:
            continue
        if kind in (ChangeKind.DELETED, ChangeKind.READ_FLAG):
            item_id = item[0].id if isinstance(item, tuple) else item.id
            changes.append(Change(kind=kind, id=str(item_id)))
        else:
            changes.append(Change(kind=kind, id=str(item.id), summary=ews_items.summary(item, folder_id)))
    more = not svc.includes_last_item_in_range and svc.sync_state != sync_state
    return SyncPage(changes=tuple(changes), sync_state=str(svc.sync_state), more=more)
