"""The facade's part for Regarding categories and pinned records (mixed into ``Bridge``)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from addin.bridge_types import RecordRef
from addin.engine.regarding_categories import CategoryState, RegardingCategories
from addin.errors import BridgeError, ConfigError

if TYPE_CHECKING:
    from addin.bridge_engine import Engine
    from addin.config import Profile
    from addin.store import Store

log = logging.getLogger(__name__)

# How often the master list is checked against the journal and record names refreshed
# (a pin, an unpin or a new recent Regarding refreshes at the next mailbox round anyway).
REFRESH_SECONDS = 15 * 60


@dataclass(frozen=True)
class RegardingCategory:
    """One Regarding category as the tray and the CLI show it."""

    category: str
    record: RecordRef
    state: CategoryState
    pinned: bool


class RegardingFacade:
    """Needs the Bridge's ``_store``, ``profile`` and ``_engine`` (its mailbox and CRM)."""

    _store: Store
    _engine: Engine
    profile: Profile

    def _regarding_init(self) -> None:
        self.regarding_categories = RegardingCategories(self._store)
        self._regarding_due = 0.0  # monotonic time of the next refresh; 0 = at the next round
        self._regarding_lock = threading.Lock()

    def _regarding_changed(self) -> None:
        self._regarding_due = 0.0

    def pin_regarding(self, ref: RecordRef) -> RecordRef:
        """Pin a record so it keeps a category in the mailbox; returns it with its CRM name."""
        if not ref.name:
            names = self._engine.crm.current_names([ref])
            if ref.to_spec() not in names:
                raise ConfigError(f"No {ref.table} with id {ref.id} in the CRM.", title="Cannot pin")
            ref = RecordRef(ref.table, ref.id, names[ref.to_spec()], ref.detail)
        self.regarding_categories.pin(ref)
        self._regarding_changed()
        return ref

    def unpin_regarding(self, ref: RecordRef) -> bool:
        removed = self.regarding_categories.unpin(ref)
        self._regarding_changed()
        return removed

    def pinned_regarding(self) -> list[RecordRef]:
        return self.regarding_categories.pins()

    def regarding_category_list(self) -> list[RegardingCategory]:
        pinned = {p.to_spec() for p in self.regarding_categories.pins()}
        return [
            RegardingCategory(name, ref, state, ref.to_spec() in pinned)
            for name, ref, state in self.regarding_categories.rows(
                CategoryState.WANTED, CategoryState.LISTED, CategoryState.RETIRED
            )
        ]

    def refresh_regarding_categories(self) -> tuple[list[str], list[str]]:
        """Bring the mailbox's master list in step now; returns (added, removed)."""
        with self._regarding_lock:
            result = self.regarding_categories.refresh(
                self._engine.mailbox,
                self._engine.crm,
                limit=int(self.profile.get("tracking.regarding_categories")),
                request_category=str(self.profile.get("tracking.request_category")),
            )
            self._regarding_due = time.monotonic() + REFRESH_SECONDS
        return result

    def _refresh_regarding_if_due(self) -> None:
        """Called from the mailbox job: a failure is logged and retried, never fatal to tracking."""
        if time.monotonic() < self._regarding_due:
            return
        try:
            added, removed = self.refresh_regarding_categories()
        except BridgeError as exc:
            self._regarding_due = time.monotonic() + REFRESH_SECONDS
            log.warning("Regarding categories not updated: %s", exc.message)
            return
        if added or removed:
            log.info("master category list: added %s, removed %s", added, removed)
