"""Pick a Regarding record: type-ahead over accounts, contacts, opportunities, cases and leads.

Typing restarts a 250 ms debounce; each search is numbered and a result that is not
the latest one is dropped, so a slow answer can never overwrite a newer list.  With no
text the recent choices are shown; with text, recent matches come first.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from addin.bridge_types import REGARDING_TABLES, TABLE_LABELS, RecordRef
from addin.errors import BridgeError
from addin.facade import BridgeFacade
from ui import tasks
from ui.common import StatusLabel, theme_buttons

DEBOUNCE_MS = 250
SEARCH_TIMEOUT = 20.0


class RegardingPicker(QDialog):
    searchFinished = Signal()  # after results (or an error) for the latest search are shown

    def __init__(
        self, bridge: BridgeFacade, parent: QWidget | None = None, *, allow_clear: bool = False
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.selected: RecordRef | None = None
        self.cleared = False
        self.recent: list[RecordRef] = []
        self._generation = 0
        self._task: tasks.Task | None = None
        self.setWindowTitle("Set Regarding")
        self.setAccessibleName("Regarding picker")
        self.resize(520, 420)

        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        label = QLabel("&Find:")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Name, e-mail address or number")
        self.search.setAccessibleName("Search CRM records")
        self.search.setClearButtonEnabled(True)
        label.setBuddy(self.search)
        self.table = QComboBox()
        self.table.setAccessibleName("Record type")
        self.table.addItem("All types", None)
        for table in REGARDING_TABLES:
            self.table.addItem(TABLE_LABELS.get(table, table) + "s", table)
        row.addWidget(label)
        row.addWidget(self.search, 1)
        row.addWidget(self.table)
        layout.addLayout(row)

        self.results = QListWidget()
        self.results.setAccessibleName("Matching records")
        self.results.setAlternatingRowColors(True)
        layout.addWidget(self.results, 1)
        self.status = StatusLabel()
        layout.addWidget(self.status)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        theme_buttons(buttons)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Choose")
        self.ok_button.setEnabled(False)
        if allow_clear:
            clear = QPushButton("&No Regarding")
            clear.setAccessibleName("Remove Regarding")
            buttons.addButton(clear, QDialogButtonBox.ButtonRole.ActionRole)
            clear.clicked.connect(self._clear)
        if hasattr(bridge, "pin_regarding"):
            # Pin: the record keeps a "CRM ▸ name" category that any mail client can use.
            self.pin_button = QPushButton("&Pin")
            self.pin_button.setAccessibleName("Pin record")
            self.pin_button.setToolTip(
                "Keep a category for this record in your mailbox, for every mail client"
            )
            buttons.addButton(self.pin_button, QDialogButtonBox.ButtonRole.ActionRole)
            self.pin_button.clicked.connect(lambda _c=False: self._pin())
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.table.currentIndexChanged.connect(lambda _i: self._debounce.start())
        self.search.returnPressed.connect(self._on_return)
        self.results.currentItemChanged.connect(self._on_current)
        self.results.itemActivated.connect(lambda _i: self.accept())
        self.finished.connect(lambda _r: self._cancel_running())
        self._load_recent()

    # -- searching ------------------------------------------------------------------
    def _load_recent(self) -> None:
        self.status.info("Loading recent choices…")
        self._generation += 1
        generation = self._generation
        self._task = tasks.run(
            self.bridge.recent_regarding,
            on_done=lambda refs: self._on_recent(generation, refs),
            on_error=lambda e: self._on_error(generation, e),
            timeout=SEARCH_TIMEOUT,
            parent=self,
        )

    def _on_recent(self, generation: int, refs: list[RecordRef]) -> None:
        self.recent = list(refs)
        if generation == self._generation:
            self._show(self.recent, "Recent choices" if refs else "Type to search the CRM.")

    def run_search(self) -> None:
        text = self.search.text().strip()
        self._cancel_running()
        self._generation += 1
        generation = self._generation
        if not text:
            self._show(self.recent, "Recent choices" if self.recent else "Type to search the CRM.")
            self.searchFinished.emit()
            return
        table = self.table.currentData()
        tables = (table,) if table else REGARDING_TABLES
        self.status.info(f"Searching for “{text}”…")
        self._task = tasks.run(
            self.bridge.search_records,
            text,
            tables,
            on_done=lambda refs: self._on_results(generation, text, refs),
            on_error=lambda e: self._on_error(generation, e),
            timeout=SEARCH_TIMEOUT,
            parent=self,
        )

    def _cancel_running(self) -> None:
        self._debounce.stop()
        if self._task is not None and self._task.active:
            self._task.cancel()
        self._task = None

    def _on_results(self, generation: int, text: str, refs: list[RecordRef]) -> None:
        if generation != self._generation:
            return  # a newer search is running or done
        ids = {(r.table, r.id) for r in refs}
        lowered = text.lower()
        recent_hits = [
            r
            for r in self.recent
            if (r.table, r.id) in ids or lowered in r.name.lower() or lowered in r.detail.lower()
        ]
        seen = {(r.table, r.id) for r in recent_hits}
        ordered = recent_hits + [r for r in refs if (r.table, r.id) not in seen]
        n = len(ordered)
        self._show(
            ordered,
            f"{n} match{'es' if n != 1 else ''} for “{text}”" if n else f"Nothing found for “{text}”.",
        )
        self.searchFinished.emit()

    def _on_error(self, generation: int, error: BridgeError) -> None:
        if generation == self._generation:
            self.status.error(error)
            self.searchFinished.emit()

    def _show(self, refs: list[RecordRef], note: str) -> None:
        self.results.clear()
        recent_keys = {(r.table, r.id) for r in self.recent}
        for ref in refs:
            text = ref.label + (f"  —  {ref.detail}" if ref.detail else "")
            if (ref.table, ref.id) in recent_keys:
                text += "  (recent)"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, ref)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, text)
            self.results.addItem(item)
        if refs:
            self.results.setCurrentRow(0)
        self.status.info(note)
        self.ok_button.setEnabled(bool(refs))

    # -- choosing -------------------------------------------------------------------
    def _on_current(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self.ok_button.setEnabled(current is not None)

    def _on_return(self) -> None:
        if self._debounce.isActive():
            self._debounce.stop()
            self.run_search()
        elif self.results.currentItem() is not None:
            self.accept()

    def _pin(self) -> None:
        item = self.results.currentItem()
        if item is None:
            return
        ref: RecordRef = item.data(Qt.ItemDataRole.UserRole)
        self.status.info(f"Pinning {ref.label}…")

        def work() -> None:
            self.bridge.pin_regarding(ref)
            self.bridge.refresh_regarding_categories()

        tasks.run(
            work,
            on_done=lambda _r: self.status.info(f"Pinned {ref.label}: its category is in your mailbox."),
            on_error=self.status.error,
            timeout=SEARCH_TIMEOUT,
            parent=self,
        )

    def _clear(self) -> None:
        self.cleared = True
        self.selected = None
        super().accept()

    def accept(self) -> None:
        item = self.results.currentItem()
        if item is None:
            return
        self.selected = item.data(Qt.ItemDataRole.UserRole)
        super().accept()

    def results_refs(self) -> list[RecordRef]:
        return [self.results.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.results.count())]
