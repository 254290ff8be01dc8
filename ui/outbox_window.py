"""Outbox: CRM e-mails waiting to go out through the mailbox, those sending, and failures with Retry."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from addin.bridge_types import OutboxItem, OutboxState
from addin.errors import BridgeError
from addin.facade import BridgeFacade
from addin.state import BridgeState
from ui import tasks
from ui.common import (
    StatusLabel,
    button,
    close_on_escape,
    first_clause,
    fit_columns,
    fit_window,
    list_table,
    one_line,
    problem_colour,
    problem_icon,
    refresh_button,
    when,
)

COLUMNS = ("State", "Subject", "To", "Problem", "Updated", "Attempts")
STATE_LABELS = {
    OutboxState.QUEUED: "Queued",
    OutboxState.SCHEDULED: "Scheduled",
    OutboxState.SENDING: "Sending",
    OutboxState.WAITING: "Waiting for the mail server to send",
    OutboxState.SENT: "Sent",
    OutboxState.FAILED: "Failed",
}


class OutboxWindow(QWidget):
    refreshed = Signal()
    retried = Signal(str)  # activity id, after the retry call returned (or failed)

    def __init__(self, bridge: BridgeFacade, adapter: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.items: list[OutboxItem] = []
        self._loading: tasks.Task | None = None
        self._again = False
        self.setWindowTitle("Outbox")
        self.setAccessibleName("Outbox")
        self.resize(880, 400)
        self._fitted = False

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        list_table(self.table, "CRM e-mails to send", multi=False)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _i: self.open_in_crm())

        self.retry_button = button("&Retry", "Retry sending the selected e-mail", self.retry_selected)
        self.open_button = button("&Open in CRM", "Open in CRM", self.open_in_crm)
        self.refresh_button = refresh_button(self.refresh)
        self.sync_button = button(
            "Send &now", "Check the outbox now", lambda: tasks.run(self.bridge.sync_now, parent=self)
        )

        # The reason is what a person needs to act on: shown in full for the selected row.
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setAccessibleName("Details of the selected e-mail")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        row = QHBoxLayout()
        for w in (self.retry_button, self.open_button, self.sync_button):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        layout.addLayout(row)
        self.status = StatusLabel()
        layout.addWidget(self.status)
        close_on_escape(self)
        self.paused = False
        if adapter is not None:
            adapter.outboxChanged.connect(self.refresh)
            adapter.stateChanged.connect(self._on_state)
        self._update_buttons()
        self.refresh()

    def refresh(self) -> None:
        if self._loading is not None:
            self._again = True  # coalesce bursts of OutboxChanged into one more fetch
            return
        tasks.run(self.bridge.status, on_done=self._on_state, parent=self)  # local: is sending paused?
        self._loading = tasks.run(
            self.bridge.outbox, on_done=self._on_items, on_error=self._on_error, parent=self
        )
        self._loading.finished.connect(self._on_finished)

    def _on_finished(self) -> None:
        self._loading = None
        if self._again:
            self._again = False
            self.refresh()

    def _on_state(self, status: Any) -> None:
        paused = status.state is BridgeState.PAUSED
        if paused != self.paused:
            self.paused = paused
            self._fill()

    def _on_error(self, error: BridgeError) -> None:
        self.status.error(error)
        self.refreshed.emit()

    def _on_items(self, items: list[OutboxItem]) -> None:
        self.items = list(items)
        self._fill()
        self.refreshed.emit()

    def visible_items(self) -> list[OutboxItem]:
        # Sent e-mails leave the outbox; they are listed in Recent activity.
        return [i for i in self.items if i.state is not OutboxState.SENT]

    def _fill(self) -> None:
        selected = self.selected()
        keep = selected.activity_id if selected else None
        items = self.visible_items()
        self.table.setRowCount(len(items))
        red, warning = problem_colour(self.table.palette()), problem_icon()
        for row, item in enumerate(items):
            cells = (
                STATE_LABELS.get(item.state, str(item.state)),
                one_line(item.subject) or "(no subject)",
                one_line(", ".join(item.to)),
                first_clause(item.reason),
                when(item.updated),
                str(item.attempts),
            )
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setData(Qt.ItemDataRole.UserRole, item)
                if col == 1 and text:
                    cell.setToolTip(text)
                elif col == 3 and item.reason:
                    cell.setToolTip(item.reason)
                if col == 5:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if item.state is OutboxState.FAILED and col == 0:
                    # A problem is marked by an icon and a colour, not by weight alone.
                    cell.setIcon(warning)
                    cell.setForeground(red)
                self.table.setItem(row, col, cell)
            if item.activity_id == keep:
                self.table.selectRow(row)
        needed = fit_columns(self.table, 1)
        if not self._fitted and items:
            self._fitted = True
            fit_window(self, needed, 24, self.height())
        failed = sum(1 for i in self.items if i.state is OutboxState.FAILED)
        waiting = sum(
            1
            for i in self.items
            if i.state
            in (OutboxState.QUEUED, OutboxState.SCHEDULED, OutboxState.SENDING, OutboxState.WAITING)
        )
        if not self.items:
            self.status.info("Nothing waiting to be sent.")
        elif failed:
            unsent = f"{failed} e-mail{'s' if failed != 1 else ''} not sent"
            self.status.error(
                f"{unsent}, {waiting} waiting. Fix the problem shown below, then choose Retry."
                if waiting
                else f"{unsent}. Fix the problem shown below, then choose Retry."
            )
        else:
            self.status.info(f"{waiting} waiting to be sent.")
        if self.paused and waiting:
            self.status.setText(self.status.text() + " Paused: nothing is sent until you resume.")
        self._update_buttons()

    def selected(self) -> OutboxItem | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        cell = self.table.item(rows[0].row(), 0)
        return cell.data(Qt.ItemDataRole.UserRole) if cell is not None else None

    def select_activity(self, activity_id: str) -> bool:
        for row in range(self.table.rowCount()):
            cell = self.table.item(row, 0)
            if cell is not None and cell.data(Qt.ItemDataRole.UserRole).activity_id == activity_id:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        item = self.selected()
        if item is None:
            self.details.setText("")
        else:
            lines = [f"To: {one_line(', '.join(item.to))}", f"Subject: {one_line(item.subject)}"]
            if item.reason:
                lines.append(f"Why it failed: {item.reason}")
            if item.send_after:
                lines.append(f"Not before: {when(item.send_after)}")
            self.details.setText("\n".join(lines))
        self.retry_button.setEnabled(item is not None and item.state is OutboxState.FAILED)
        self.open_button.setEnabled(item is not None)
        # Send now only when something can go: not while sending is paused, not with nothing queued.
        waiting = any(i.state in (OutboxState.QUEUED, OutboxState.SCHEDULED) for i in self.items)
        self.sync_button.setEnabled(not self.paused and waiting)
        self.sync_button.setToolTip(
            "Sending is paused: resume it from the tray menu." if self.paused else "Check the CRM outbox now"
        )

    def retry_selected(self) -> None:
        item = self.selected()
        if item is not None and item.state is OutboxState.FAILED:
            self.retry(item.activity_id)

    def retry(self, activity_id: str) -> None:
        self.status.info("Queuing the e-mail to be sent again…")
        self.retry_button.setEnabled(False)

        def done(_r: object) -> None:
            self.status.info("Queued again; it will be sent shortly.")
            self.refresh()
            self.retried.emit(activity_id)

        def failed(error: BridgeError) -> None:
            self.status.error(error)
            self._update_buttons()
            self.retried.emit(activity_id)

        tasks.run(self.bridge.retry_outbox, activity_id, on_done=done, on_error=failed, parent=self)

    def open_in_crm(self) -> None:
        item = self.selected()
        if item is not None:
            QDesktopServices.openUrl(QUrl(self.bridge.activity_url(item.activity_id)))
