"""Table model of one folder's messages, loaded a page at a time off the GUI thread."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from addin.bridge_types import MailItem, MailList
from addin.errors import BridgeError
from ui import tasks
from ui.common import one_line, when

PAGE = 50
COLUMNS = ("Received", "From", "Subject", "Tracked", "Regarding")

_Index = QModelIndex | QPersistentModelIndex


def tracked_text(item: MailItem) -> str:
    if item.error:
        return "Failed"
    if item.queued:
        return "Queued"
    if item.tracked:
        return "Tracked"
    return ""


class MailModel(QAbstractTableModel):
    loaded = Signal()  # a page arrived (or a reload finished)
    failed = Signal(object)  # BridgeError

    def __init__(self, bridge: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.items: list[MailItem] = []
        self.folder_id: str | None = None
        self.text: str | None = None
        self.total: int | None = None
        self._more = False
        self._task: tasks.Task | None = None
        self._generation = 0

    # -- loading --------------------------------------------------------------------
    def load(self, folder_id: str | None, text: str | None = None) -> None:
        """Start over with a folder and an optional search text."""
        self._cancel()
        self._generation += 1
        self.beginResetModel()
        self.items = []
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
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if col == 0:
                return when(item.received)
            if col == 1:
                return one_line(item.sender)
            if col == 2:
                return one_line(item.subject) or "(no subject)"
            if col == 3:
                return tracked_text(item)
            if col == 4:
                return item.regarding.label if item.regarding else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 3 and item.error:
                return item.error
            if col == 2:
                return item.subject
        if role == Qt.ItemDataRole.FontRole and col == 3 and item.error:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.UserRole:
            return item
        return None

    def item_at(self, row: int) -> MailItem:
        return self.items[row]
