"""Recent activity: the local audit log, filterable, with Untrack from a row."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from addin.bridge_types import AuditEntry
from addin.errors import BridgeError
from addin.facade import BridgeFacade
from ui import tasks
from ui.common import (
    StatusLabel,
    button,
    close_on_escape,
    first_clause,
    fit_columns,
    fit_window,
    labelled_row,
    list_table,
    one_line,
    problem_colour,
    problem_icon,
    refresh_button,
    search_box,
    when,
)
from ui.track_window import summarise

COLUMNS = ("Time", "Action", "Subject", "Detail")
ACTION_LABELS = {
    "tracked": "Tracked",
    "untracked": "Untracked",
    "regarding": "Regarding set",
    "sent": "Sent",
    "send_failed": "Sending failed",
    "skipped": "Skipped",
    "track_failed": "Tracking failed",
    "queued": "Queued",
}
UNTRACKABLE = ("tracked", "regarding")


class ActivityWindow(QWidget):
    refreshed = Signal()
    untracked = Signal()

    def __init__(self, bridge: BridgeFacade, adapter: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.entries: list[AuditEntry] = []
        self._generation = 0
        self.setWindowTitle("Recent activity")
        self.setAccessibleName("Recent activity")
        self.resize(860, 480)
        self._fitted = False

        self.filter, self._debounce = search_box(
            self, "Filter by subject or detail", "Filter activity", 250, self.refresh
        )
        self.problems_only = QCheckBox("&Problems only")
        self.problems_only.setAccessibleName("Show problems only")
        self.problems_only.toggled.connect(lambda _c: self._fill())

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        list_table(self.table, "Activity", multi=True)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.untrack_button = button("&Untrack", "Untrack the selected messages", self.untrack_selected)
        self.open_button = button("&Open in CRM", "Open in CRM", self.open_in_crm)
        self.refresh_button = refresh_button(self.refresh)

        layout = QVBoxLayout(self)
        layout.addLayout(labelled_row("&Filter:", self.filter, self.problems_only))
        layout.addWidget(self.table, 1)
        # The whole entry for the selected row, as in the Outbox: what happened and why.
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setAccessibleName("Details of the selected entry")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumHeight(self.details.fontMetrics().lineSpacing() * 3)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details)
        row = QHBoxLayout()
        row.addWidget(self.untrack_button)
        row.addWidget(self.open_button)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        layout.addLayout(row)
        self.status = StatusLabel()
        layout.addWidget(self.status)
        close_on_escape(self)
        if adapter is not None:
            adapter.activityLogged.connect(lambda _e: self._debounce.start())
        self._update_buttons()
        self.refresh()

    def refresh(self) -> None:
        self._generation += 1
        generation = self._generation
        text = self.filter.text().strip() or None
        tasks.run(
            self.bridge.recent_activity,
            200,
            text,
            on_done=lambda entries: self._on_entries(generation, entries),
            on_error=lambda e: self._on_error(generation, e),
            parent=self,
        )

    def _on_error(self, generation: int, error: BridgeError) -> None:
        if generation == self._generation:
            self.status.error(error)
            self.refreshed.emit()

    def _on_entries(self, generation: int, entries: list[AuditEntry]) -> None:
        if generation != self._generation:
            return
        self.entries = list(entries)
        self._fill()
        self.refreshed.emit()

    def visible_entries(self) -> list[AuditEntry]:
        if self.problems_only.isChecked():
            return [e for e in self.entries if not e.ok]
        return self.entries

    def _fill(self) -> None:
        entries = self.visible_entries()
        self.table.setRowCount(len(entries))
        red, warning = problem_colour(self.table.palette()), problem_icon()
        for row, entry in enumerate(entries):
            cells = (
                when(entry.at, seconds=True),
                ACTION_LABELS.get(entry.action, entry.action.replace("_", " ").capitalize()),
                one_line(entry.subject),
                first_clause(entry.detail),
            )
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setData(Qt.ItemDataRole.UserRole, entry)
                if col == 2 and text:
                    cell.setToolTip(text)
                elif col == 3 and entry.detail:
                    cell.setToolTip(entry.detail)
                if not entry.ok and col == 1:
                    # A problem is marked by an icon and a colour, not by weight alone.
                    cell.setIcon(warning)
                    cell.setForeground(red)
                self.table.setItem(row, col, cell)
        needed = fit_columns(self.table, 3)
        if not self._fitted and entries:
            self._fitted = True
            fit_window(self, needed, 24, self.height())
        problems = sum(1 for e in self.entries if not e.ok)
        count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        self.status.info(count + (f", {problems} problem{'s' if problems != 1 else ''}" if problems else ""))
        self._update_buttons()

    def selected(self) -> list[AuditEntry]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        out = []
        for r in rows:
            cell = self.table.item(r, 0)
            if cell is not None:
                out.append(cell.data(Qt.ItemDataRole.UserRole))
        return out

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def _update_buttons(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            e = chosen[0]
            lines = [
                f"{ACTION_LABELS.get(e.action, e.action)} at {when(e.at, seconds=True)}",
                f"Subject: {one_line(e.subject)}" if e.subject else "",
                ("Problem: " if not e.ok else "") + e.detail if e.detail else "",
            ]
            self.details.setText("\n".join(line for line in lines if line))
        else:
            self.details.setText(f"{len(chosen)} entries selected" if chosen else "")
        self.untrack_button.setEnabled(any(e.action in UNTRACKABLE and e.item_id for e in chosen))
        self.open_button.setEnabled(len(chosen) == 1 and bool(chosen[0].activity_id))

    def untrack_selected(self) -> None:
        ids = list(dict.fromkeys(e.item_id for e in self.selected() if e.action in UNTRACKABLE and e.item_id))
        if not ids:
            return
        self.status.info("Untracking…")
        self.untrack_button.setEnabled(False)

        def done(results: Any) -> None:
            text, failed = summarise(results, "untracked")
            (self.status.error if failed else self.status.info)(text)
            self.untracked.emit()
            self.refresh()

        def failed(error: BridgeError) -> None:
            self.status.error(error)
            self._update_buttons()
            self.untracked.emit()

        tasks.run(self.bridge.untrack, ids, on_done=done, on_error=failed, parent=self, timeout=120.0)

    def open_in_crm(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1 and chosen[0].activity_id:
            QDesktopServices.openUrl(QUrl(self.bridge.activity_url(chosen[0].activity_id)))
