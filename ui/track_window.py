"""Track window: pick folders and messages, track them (with a Regarding), untrack, open in CRM.

``.eml`` and Outlook ``.msg`` files dropped on the window are tracked as files; the core
decides what it can read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from addin.bridge_types import MailItem, RecordRef, TrackOutcome, TrackResult
from addin.facade import BridgeFacade
from addin.mailbox.types import Folder, FolderKind
from ui import batches as batches_module
from ui import tasks
from ui.badges import BadgeDelegate
from ui.batches import Batches
from ui.common import (
    StatusLabel,
    button,
    close_on_escape,
    error_text,
    labelled_row,
    list_table,
    refresh_button,
    search_box,
    size_columns,
)
from ui.mail_model import COL_CRM, COL_FROM, COL_RECEIVED, COL_SUBJECT, MailModel
from ui.regarding_picker import RegardingPicker

FILE_SUFFIXES = (".eml", ".msg")
NOT_DONE = "Cancelled"


def summarise(results: Sequence[TrackResult], verb: str, cancelled: int = 0) -> tuple[str, bool]:
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
    if cancelled:
        parts.append(f"{cancelled} not done ({NOT_DONE.lower()})")
    failures = [r for r in results if r.outcome is TrackOutcome.FAILED]
    text = ", ".join(parts) or "Nothing to do"
    if failures:
        text += ": " + "; ".join(f"{r.subject or r.item_id}: {r.message}" for r in failures[:3])
    warnings = list(dict.fromkeys(w.rstrip(". ") for r in results for w in r.warnings))
    if warnings:
        more = f" and {len(warnings) - 2} more" if len(warnings) > 2 else ""
        text += ". Note: " + "; ".join(warnings[:2]) + more
    return text, bool(failures)


class TrackWindow(QWidget):
    actionFinished = Signal()  # a track/untrack/regarding/file action reported back (or was cancelled)
    actionProgress = Signal(int, int)  # done, total: after each batch of a running action
    foldersLoaded = Signal()

    def __init__(self, bridge: BridgeFacade, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Track in CRM")
        self.setAccessibleName("Track in CRM")
        self.setAcceptDrops(True)
        self.resize(1120, 600)
        self._busy: Batches | None = None
        self.picker: RegardingPicker | None = None

        self.folders = QListWidget()
        self.folders.setAccessibleName("Folders")
        self.folders.currentItemChanged.connect(self._on_folder)

        self.search, self._debounce = search_box(
            self, "Search subject and sender (Ctrl+F)", "Search messages", 300, self._reload_folder
        )

        self.model = MailModel(bridge, self)
        self.model.loaded.connect(self._on_loaded)
        self.model.failed.connect(lambda e: self.status.error(e))
        self.table = QTableView()
        self.table.setModel(self.model)
        list_table(self.table, "Messages", multi=True)
        self.table.setItemDelegateForColumn(COL_CRM, BadgeDelegate(self.table))
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._size_columns()
        # A model reset drops the header's per-column modes and the selection: put both back.
        self._keep: list[str] = []
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._size_columns)
        self.model.modelReset.connect(self._restore_selection)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.table.doubleClicked.connect(lambda _i: self.open_in_crm())

        self.track_button = button("&Track", "Track selected messages", self.track)
        self.track_button.setToolTip("Track the selected messages in the CRM (Enter)")
        self.track_regarding_button = button(
            "Track with &Regarding…", "Track selected messages with Regarding", self.track_with_regarding
        )
        self.track_regarding_button.setToolTip("Choose the CRM record they are about, then track (Ctrl+R)")
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
        splitter.setSizes([170, 950])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)

        # A long action shows its progress and can be stopped between batches.
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Progress of the running action")
        self.progress.setTextVisible(True)
        self.cancel_button = button("Cancel", "Cancel the running action", self.cancel)
        self.progress_row = QWidget()
        pr = QHBoxLayout(self.progress_row)
        pr.setContentsMargins(0, 0, 0, 0)
        pr.addWidget(self.progress, 1)
        pr.addWidget(self.cancel_button)
        self.progress_row.setVisible(False)
        layout.addWidget(self.progress_row)

        self.drop_zone = DropZone()
        layout.addWidget(self.drop_zone)
        self.status = StatusLabel()
        layout.addWidget(self.status)
        close_on_escape(self)
        self._shortcuts()
        self._update_buttons()
        self.load_folders()

    def _shortcuts(self) -> None:
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            enter = QShortcut(QKeySequence(key), self.table, context=Qt.ShortcutContext.WidgetShortcut)
            enter.activated.connect(self._enter)
        regarding = QShortcut(QKeySequence("Ctrl+R"), self)
        regarding.activated.connect(self._regarding_shortcut)
        find = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        find.activated.connect(self._focus_search)

    def _enter(self) -> None:
        if self.track_button.isEnabled():
            self.track()

    def _regarding_shortcut(self) -> None:
        if self.track_regarding_button.isEnabled():
            self.track_with_regarding()
        elif self.set_regarding_button.isEnabled():
            self.set_regarding()

    def _focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _size_columns(self) -> None:
        size_columns(self.table, COL_SUBJECT, ())
        for col in (COL_FROM, COL_RECEIVED, COL_CRM):
            self.table.resizeColumnToContents(col)
        self.table.setColumnWidth(COL_FROM, min(max(self.table.columnWidth(COL_FROM), 120), 240))
        self.table.setColumnWidth(COL_CRM, max(self.table.columnWidth(COL_CRM), 90))

    def _remember_selection(self) -> None:
        self._keep = [i.id for i in self.selected_items()]

    def _restore_selection(self) -> None:
        keep = set(self._keep)
        rows = [r for r, item in enumerate(self.model.items) if item.id in keep]
        if rows:
            self.select_rows(rows)

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
        self._size_columns()
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
    def _start(
        self, label: str, verb: str, ids: Sequence[Any], call: Callable[[list[Any]], list[TrackResult]]
    ) -> None:
        """Run ``call`` over ``ids`` a batch at a time, with progress and Cancel between batches."""
        self.status.info(label)
        self.progress.setRange(0, len(ids))
        self.progress.setValue(0)
        self.progress.setFormat(f"{label.rstrip('…')}: %v of %m")
        self.cancel_button.setEnabled(True)
        self.progress_row.setVisible(len(ids) > 1)
        batches = Batches(list(ids), call, batches_module.BATCH_SIZE, self)
        batches.progressed.connect(self._on_progress)
        batches.finished.connect(lambda: self._on_finished(batches, verb))
        self._busy = batches
        self._update_buttons()
        batches.start()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setValue(done)
        if self._busy is not None:
            self.model.set_results(self._busy.results)  # each row shows its result as it comes
        self.actionProgress.emit(done, total)

    def cancel(self) -> None:
        """Stop after the batch that is running now: nothing further is sent to the CRM."""
        if self._busy is not None:
            self._busy.cancel()
            self.cancel_button.setEnabled(False)
            self.status.info("Stopping after the current batch…")

    def _on_finished(self, batches: Batches, verb: str) -> None:
        failed_calls = []
        if batches.error is not None:
            reason = batches.error.message
            failed_calls = [
                TrackResult(str(i), TrackOutcome.FAILED, message=reason) for i in batches.failed_ids
            ]
        not_done = [TrackResult(str(i), TrackOutcome.SKIPPED, message=NOT_DONE) for i in batches.skipped_ids]
        self.model.set_results(batches.results + failed_calls + not_done)
        text, failed = summarise(batches.results, verb, cancelled=batches.skipped)
        if batches.error is not None:
            failed = True
            text = (
                error_text(batches.error) if not batches.results else f"{text}; {error_text(batches.error)}"
            )
        (self.status.error if failed else self.status.info)(text)
        self._busy = None
        self.progress_row.setVisible(False)
        self.model.reload()  # the selection is kept across the reload
        self._update_buttons()
        self.actionFinished.emit()

    def track(self, regarding: RecordRef | None = None) -> None:
        ids = [i.id for i in self.selected_items() if not i.tracked]
        if ids:
            n = len(ids)
            self._start(
                f"Tracking {n} message{'s' if n > 1 else ''}…",
                "tracked",
                ids,
                lambda chunk: self.bridge.track(chunk, regarding),
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
            ref = picker.selected
            self._start(
                "Setting Regarding…", "updated", ids, lambda chunk: self.bridge.set_regarding(chunk, ref)
            )

        picker.accepted.connect(chosen)
        picker.open()

    def untrack(self) -> None:
        ids = [i.id for i in self.selected_items() if i.tracked]
        if ids:
            self._start("Untracking…", "untracked", ids, self.bridge.untrack)

    def open_in_crm(self) -> None:
        items = self.selected_items()
        if len(items) == 1 and items[0].activity_id:
            url = self.bridge.activity_url(items[0].activity_id)
            QDesktopServices.openUrl(QUrl(url))

    # -- dropped files --------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.toLocalFile().lower().endswith(FILE_SUFFIXES) for u in event.mimeData().urls()):
            event.acceptProposedAction()
            self.drop_zone.set_active(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_zone.set_active(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_zone.set_active(False)
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        files = [p for p in paths if p.suffix.lower() in FILE_SUFFIXES]
        if files:
            event.acceptProposedAction()
            self.track_files(files)

    def track_files(self, paths: Sequence[Path]) -> None:
        """Read and track each file; a file that cannot be read fails alone."""

        def work(chunk: list[Path]) -> list[TrackResult]:
            results: list[TrackResult | None] = []
            readable: list[tuple[bytes, str]] = []
            for path in chunk:
                try:
                    readable.append((path.read_bytes(), path.name))
                    results.append(None)
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    results.append(
                        TrackResult(str(path), TrackOutcome.FAILED, subject=path.name, message=reason)
                    )
            # All readable files in one CRM round; a file that is not mail fails alone.
            tracked = iter(self.bridge.track_files(readable))
            return [r if r is not None else next(tracked) for r in results]

        n = len(paths)
        self._start(f"Tracking {n} file{'s' if n > 1 else ''}…", "tracked", list(paths), work)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.search.setFocus() if not self.model.items else self.table.setFocus()


class DropZone(QLabel):
    """A visible target for .eml and .msg files, highlighted while a file is dragged over."""

    def __init__(self) -> None:
        super().__init__("Drop .eml or .msg files here to track them")
        self.setAccessibleName("Drop files here to track them")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(40)
        self.set_active(False)

    def set_active(self, active: bool) -> None:
        # Palette roles, not fixed colours: right in light, dark and high-contrast themes.
        colour = "palette(highlight)" if active else "palette(mid)"
        weight = "bold" if active else "normal"
        self.setStyleSheet(
            f"QLabel {{ border: 2px dashed {colour}; border-radius: 6px; padding: 6px; "
            f"font-weight: {weight}; }}"
        )
