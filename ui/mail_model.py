"""Table model of one folder's messages, loaded a page at a time off the GUI thread."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from addin.bridge_types import MailItem, MailList, TrackOutcome, TrackResult
from addin.errors import BridgeError
from addin.facade import BridgeFacade
from ui import tasks
from ui.common import one_line, when

PAGE = 50
# Like a mail client: who, what, when; then what the CRM knows about it.
COLUMNS = ("From", "Subject", "Received", "In CRM")
COL_FROM, COL_SUBJECT, COL_RECEIVED, COL_CRM = range(4)
BadgeRole = Qt.ItemDataRole.UserRole + 1  # (badge text, kind, chip text) for the In CRM column

_Index = QModelIndex | QPersistentModelIndex


def sender_name(sender: str) -> str:
    """The display name, as mail clients list it; the bare address when there is none."""
    name, address = parseaddr(sender)
    return one_line(name or address or sender)


def badge(item: MailItem, result: TrackResult | None = None) -> tuple[str, str, str]:
    """What the In CRM column shows: a badge (text and kind) and the Regarding record as a chip.

    ``result`` is the outcome of the last action on this row in this window, shown in place.
    """
    chip = item.regarding.name or item.regarding.label if item.regarding else ""
    if result is not None and result.outcome is TrackOutcome.FAILED:
        return "Failed", "error", ""
    if item.error:
        return "Failed", "error", ""
    if item.queued or (result is not None and result.outcome is TrackOutcome.QUEUED):
        return "Queued", "pending", chip
    done = (TrackOutcome.TRACKED, TrackOutcome.ALREADY_TRACKED)
    if item.tracked or (result is not None and result.outcome in done):
        return "Tracked", "ok", chip
    if result is not None and result.outcome is TrackOutcome.SKIPPED and result.message:
        return result.message, "muted", ""  # "Untracked", "Cancelled": what this action did
    return "", "", ""


class MailModel(QAbstractTableModel):
    loaded = Signal()  # a page arrived (or a reload finished)
    failed = Signal(object)  # BridgeError

    def __init__(self, bridge: BridgeFacade, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.items: list[MailItem] = []
        self.folder_id: str | None = None
        self.text: str | None = None
        self.total: int | None = None
        self._more = False
        self._task: tasks.Task | None = None
        self._generation = 0
        self.results: dict[str, TrackResult] = {}  # the last action's outcome per item, shown in place

    # -- loading --------------------------------------------------------------------
    def load(self, folder_id: str | None, text: str | None = None) -> None:
        """Start over with a folder and an optional search text."""
        self._cancel()
        self._generation += 1
        self.beginResetModel()
        self.items = []
        self.results = {}
        self.folder_id = folder_id
        self.text = text or None
        self.total = None
        self._more = folder_id is not None
        self.endResetModel()
        if folder_id is not None:
            self._fetch(0, PAGE)

    def reload(self) -> None:
        """Fetch again what is shown (after Track/Untrack), keeping the same number of rows."""
        if self.folder_id is None:
            return
        count = max(PAGE, len(self.items))
        self._cancel()
        self._generation += 1
        self._fetch(0, count, replace=True)

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._more and self._task is None

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._fetch(len(self.items), PAGE)

    @property
    def loading(self) -> bool:
        return self._task is not None

    def _fetch(self, offset: int, limit: int, replace: bool = False) -> None:
        generation = self._generation
        folder = self.folder_id
        self._task = tasks.run(
            self.bridge.messages,
            folder,
            offset=offset,
            limit=limit,
            text=self.text,
            on_done=lambda page: self._on_page(generation, page, replace),
            on_error=lambda e: self._on_error(generation, e),
            parent=self,
        )

    def _cancel(self) -> None:
        if self._task is not None and self._task.active:
            self._task.cancel()
        self._task = None

    def _on_page(self, generation: int, page: MailList, replace: bool) -> None:
        if generation != self._generation:
            return
        self._task = None
        self.total = page.total
        self._more = page.more
        if replace:
            self.beginResetModel()
            self.items = list(page.items)
            self.endResetModel()
        elif page.items:
            first = len(self.items)
            self.beginInsertRows(QModelIndex(), first, first + len(page.items) - 1)
            self.items.extend(page.items)
            self.endInsertRows()
        self.loaded.emit()

    def _on_error(self, generation: int, error: BridgeError) -> None:
        if generation != self._generation:
            return
        self._task = None
        self._more = False  # do not hammer a failing server on every scroll; Refresh retries
        self.failed.emit(error)

    # -- model ----------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.items):
            return None
        item = self.items[index.row()]
        col = index.column()
        result = self.results.get(item.id)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if col == COL_FROM:
                return sender_name(item.sender)
            if col == COL_SUBJECT:
                return one_line(item.subject) or "(no subject)"
            if col == COL_RECEIVED:
                return when(item.received)
            if col == COL_CRM:
                text, _kind, chip = badge(item, result)
                return f"{text}: {chip}" if chip else text
        if role == BadgeRole and col == COL_CRM:
            return badge(item, result)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_FROM:
                return one_line(item.sender)
            if col == COL_SUBJECT:
                return item.subject
            if col == COL_CRM:
                if result is not None and result.outcome is TrackOutcome.FAILED:
                    return result.message
                if item.error:
                    return item.error
                if item.regarding:
                    return f"Regarding {item.regarding.label}"
        if role == Qt.ItemDataRole.UserRole:
            return item
        return None

    def set_results(self, results: list[TrackResult]) -> None:
        self.results.update({r.item_id: r for r in results})
        if self.items:
            self.dataChanged.emit(self.index(0, COL_CRM), self.index(len(self.items) - 1, COL_CRM))

    def item_at(self, row: int) -> MailItem:
        return self.items[row]
