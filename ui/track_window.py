"""Track window: pick folders and messages, track them (with a Regarding), untrack, open in CRM.

``.eml`` and Outlook ``.msg`` files dropped on the window are tracked as files; the core
decides what it can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from addin.bridge_types import MailItem, RecordRef, TrackOutcome, TrackResult
from addin.errors import BridgeError
from addin.mailbox.types import Folder, FolderKind
from ui import tasks
from ui.common import (
    StatusLabel,
    button,
    close_on_escape,
    labelled_row,
    list_table,
    refresh_button,
    search_box,
    size_columns,
)
from ui.mail_model import MailModel
from ui.regarding_picker import RegardingPicker

FILE_SUFFIXES = (".eml", ".msg")
TRACK_TIMEOUT = 120.0


def summarise(results: Sequence[TrackResult], verb: str) -> tuple[str, bool]:
    """One line for the status label, and whether anything failed."""
    counts: dict[TrackOutcome, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    parts = []
    labels = {
        TrackOutcome.TRACKED: verb,
        TrackOutcome.ALREADY_TRACKED: "already tracked",
        TrackOutcome.QUEUED: "queued until the CRM answers",
        # Untrack reports SKIPPED for "link removed": it is what the person asked for.
        TrackOutcome.SKIPPED: verb if verb == "untracked" else "skipped",
        TrackOutcome.FAILED: "failed",
    }
    for outcome, label in labels.items():
        if counts.get(outcome):
            parts.append(f"{counts[outcome]} {label}")
    failures = [r for r in results if r.outcome is TrackOutcome.FAILED]
    text = ", ".join(parts) or "Nothing to do"
    if failures:
        text += ": " + "; ".join(f"{r.subject or r.item_id}: {r.message}" for r in failures[:3])
    warnings = [w for r in results for w in r.warnings]
    if warnings:
        text += " (" + "; ".join(warnings[:3]) + ")"
    return text, bool(failures)


class TrackWindow(QWidget):
    actionFinished = Signal()  # a track/untrack/regarding/file call reported back
    foldersLoaded = Signal()

    def __init__(self, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Track in CRM")
        self.setAccessibleName("Track in CRM")
        self.setAcceptDrops(True)
        self.resize(980, 560)
        self._busy: tasks.Task | None = None
        self.picker: RegardingPicker | None = None

        self.folders = QListWidget()
        self.folders.setAccessibleName("Folders")
        self.folders.currentItemChanged.connect(self._on_folder)

        self.search, self._debounce = search_box(
            self, "Search subject and sender", "Search messages", 300, self._reload_folder
        )

        self.model = MailModel(bridge, self)
        self.model.loaded.connect(self._on_loaded)
        self.model.failed.connect(lambda e: self.status.error(e))
        self.table = QTableView()
        self.table.setModel(self.model)
        list_table(self.table, "Messages", multi=True)
        self._size_columns()
        # A model reset drops the header's per-column modes: put them back each time.
        self.model.modelReset.connect(self._size_columns)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.table.doubleClicked.connect(lambda _i: self.open_in_crm())

        self.track_button = button("&Track", "Track selected messages", self.track)
        self.track_regarding_button = button(
            "Track with &Regarding…", "Track selected messages with Regarding", self.track_with_regarding
        )
        self.set_regarding_button = button("Set Re&garding…", "Set Regarding", self.set_regarding)
        self.untrack_button = button("&Untrack", "Untrack selected messages", self.untrack)
        self.open_button = button("&Open in CRM", "Open in CRM", self.open_in_crm)
        self.refresh_button = refresh_button(self.refresh)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(labelled_row("&Search:", self.search, self.refresh_button))
        rl.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        for b in (
            self.track_button,
            self.track_regarding_button,
            self.set_regarding_button,
            self.untrack_button,
            self.open_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        rl.addLayout(buttons)

        splitter = QSplitter()
        splitter.addWidget(self.folders)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 780])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        hint = QLabel("Drop .eml or .msg files here to track them.")
        hint.setEnabled(False)
        layout.addWidget(hint)
        self.status = StatusLabel()
        layout.addWidget(self.status)
        close_on_escape(self)
        self._update_buttons()
        self.load_folders()

    def _size_columns(self) -> None:
        size_columns(self.table, 2, ((0, 110), (1, 190), (3, 70), (4, 190)))

    # -- folders and messages -------------------------------------------------------
    def load_folders(self) -> None:
        self.status.info("Loading folders…")
        tasks.run(self.bridge.folders, on_done=self._on_folders, on_error=self.status.error, parent=self)

    def _on_folders(self, folders: list[Folder]) -> None:
        current = self.folders.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole).id if current is not None else None
        self.folders.blockSignals(True)
        self.folders.clear()
        select: QListWidgetItem | None = None
        for folder in folders:
            if folder.kind is FolderKind.ROOT:
                continue
            depth = max(0, (folder.path or folder.name).count("/"))
            item = QListWidgetItem("    " * depth + folder.name)
            item.setData(Qt.ItemDataRole.UserRole, folder)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, folder.path or folder.name)
            self.folders.addItem(item)
            if folder.id == keep or (keep is None and select is None and folder.kind is FolderKind.INBOX):
                select = item
        self.folders.blockSignals(False)
        if select is None and self.folders.count():
            select = self.folders.item(0)
        self.status.info("")
        if select is not None:
            self.folders.setCurrentItem(select)
        self.foldersLoaded.emit()

    def _on_folder(self, current: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        self._reload_folder()

    def current_folder(self) -> Folder | None:
        item = self.folders.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _reload_folder(self) -> None:
        folder = self.current_folder()
        self.status.info("Loading messages…" if folder else "")
        self.model.load(folder.id if folder else None, self.search.text().strip() or None)
        self._update_buttons()

    def _on_loaded(self) -> None:
        n, total = len(self.model.items), self.model.total
        shown = f"{n} of {total} messages" if total is not None and total != n else f"{n} messages"
        if not self.status.text() or self.status.text().startswith("Loading"):
            self.status.info(shown)
        self._update_buttons()

    def refresh(self) -> None:
        self.status.info("")
        self.model.reload()

    # -- selection ------------------------------------------------------------------
    def selected_items(self) -> list[MailItem]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.item_at(r) for r in rows if r < len(self.model.items)]

    def select_rows(self, rows: Sequence[int]) -> None:
        sel = self.table.selectionModel()
        sel.clearSelection()
        from PySide6.QtCore import QItemSelectionModel

        for r in rows:
            sel.select(
                self.model.index(r, 0),
                QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
            )

    def _update_buttons(self) -> None:
        items = self.selected_items()
        busy = self._busy is not None
        any_untracked = any(not i.tracked for i in items)
        any_tracked = any(i.tracked for i in items)
        self.track_button.setEnabled(not busy and any_untracked)
        self.track_regarding_button.setEnabled(not busy and any_untracked)
        self.set_regarding_button.setEnabled(not busy and any_tracked)
        self.untrack_button.setEnabled(not busy and any_tracked)
        self.open_button.setEnabled(len(items) == 1 and bool(items[0].activity_id))

    # -- actions --------------------------------------------------------------------
    def _start(self, label: str, verb: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        self.status.info(label)

        def done(results: Any) -> None:
            listed = results if isinstance(results, list) else [results]
            text, failed = summarise(listed, verb)
            (self.status.error if failed else self.status.info)(text)
            self.model.reload()

        def failed(error: BridgeError) -> None:
            self.status.error(error)
            self.model.reload()

        def finished() -> None:
            self._busy = None
            self._update_buttons()
            self.actionFinished.emit()

        task = tasks.Task(fn, *args, timeout=TRACK_TIMEOUT, parent=self, **kwargs)
        task.done.connect(done)
        task.failed.connect(failed)
        task.finished.connect(finished)
        self._busy = task
        self._update_buttons()
        task.start()

    def track(self, regarding: RecordRef | None = None) -> None:
        ids = [i.id for i in self.selected_items() if not i.tracked]
        if ids:
            n = len(ids)
            self._start(
                f"Tracking {n} message{'s' if n > 1 else ''}…", "tracked", self.bridge.track, ids, regarding
            )

    def pick_regarding(self, allow_clear: bool = False) -> RegardingPicker:
        picker = RegardingPicker(self.bridge, self, allow_clear=allow_clear)
        picker.setWindowModality(Qt.WindowModality.WindowModal)
        picker.finished.connect(picker.deleteLater)
        self.picker = picker
        return picker

    def track_with_regarding(self) -> None:
        picker = self.pick_regarding()
        picker.accepted.connect(lambda: self.track(picker.selected))
        picker.open()

    def set_regarding(self) -> None:
        ids = [i.id for i in self.selected_items() if i.tracked]
        if not ids:
            return
        picker = self.pick_regarding(allow_clear=True)

        def chosen() -> None:
            self._start("Setting Regarding…", "updated", self.bridge.set_regarding, ids, picker.selected)

        picker.accepted.connect(chosen)
        picker.open()

    def untrack(self) -> None:
        ids = [i.id for i in self.selected_items() if i.tracked]
        if ids:
            self._start("Untracking…", "untracked", self.bridge.untrack, ids)

    def open_in_crm(self) -> None:
        items = self.selected_items()
        if len(items) == 1 and items[0].activity_id:
            url = self.bridge.activity_url(items[0].activity_id)
            QDesktopServices.openUrl(QUrl(url))

    # -- dropped files --------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.toLocalFile().lower().endswith(FILE_SUFFIXES) for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        files = [p for p in paths if p.suffix.lower() in FILE_SUFFIXES]
        if files:
            event.acceptProposedAction()
            self.track_files(files)

    def track_files(self, paths: Sequence[Path]) -> None:
        """Read and track each file; a file that cannot be read fails alone."""

        def work() -> list[TrackResult]:
            results: list[TrackResult | None] = []
            readable: list[tuple[bytes, str]] = []
            for path in paths:
                try:
                    readable.append((path.read_bytes(), path.name))
                    results.append(None)
                except OSError as exc:
                    results.append(
                        TrackResult(
                            str(path),
                            TrackOutcome.FAILED,
                            subject=path.name,
                            message=exc.strerror or str(exc),
                        )
                    )
            # All readable files in one CRM round; a file that is not mail fails alone.
            tracked = iter(self.bridge.track_files(readable))
            return [r if r is not None else next(tracked) for r in results]

        n = len(paths)
        self._start(f"Tracking {n} file{'s' if n > 1 else ''}…", "tracked", work)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.search.setFocus() if not self.model.items else self.table.setFocus()
