"""Editors for the list settings, so nobody types ids or syntax into a text box.

- :class:`FolderPicker`: the mailbox's folder tree with a checkbox per folder, each checked
  folder with an optional Regarding chosen with the Regarding picker.  It stores the lines
  the core reads (``"Inbox/Fabrikam = account:<id>"``).
- :class:`AddressList`: an editable list with Add and Remove; each entry is checked to be an
  address or a domain before it is added.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from addin.bridge_types import TABLE_LABELS, RecordRef
from addin.errors import BridgeError
from addin.facade import BridgeFacade
from addin.mailbox.types import Folder, FolderKind
from ui import tasks
from ui.common import StatusLabel, theme_icon

PathRole = Qt.ItemDataRole.UserRole
RegardingRole = Qt.ItemDataRole.UserRole + 1

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(
    r"^@?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def parse_folder_line(line: str) -> tuple[str, str | None]:
    """``"Inbox/Fabrikam = account:<id>"`` -> ("Inbox/Fabrikam", "account:<id>")."""
    path, _, spec = line.partition("=")
    return path.strip().strip("/"), spec.strip() or None


def regarding_text(spec: str | None, names: dict[str, RecordRef]) -> str:
    if not spec:
        return ""
    ref = names.get(spec)
    if ref is not None and ref.name:
        return ref.label
    table, _, rid = spec.partition(":")
    return f"{TABLE_LABELS.get(table, table)} {rid[:8]}…"


class FolderPicker(QWidget):
    """Tracked folders: check folders in the tree; give a checked folder a Regarding."""

    changed = Signal()
    loaded = Signal()

    def __init__(self, bridge: BridgeFacade, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._pending: list[str] = []  # the saved lines, until the tree is there to show them
        self.names: dict[str, RecordRef] = {}  # "table:id" -> the record, for its name
        self.picker: Any = None
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Tracked folders")
        self.tree.setHeaderLabels(["Folder", "Regarding"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setFixedHeight(150)  # until loaded; then sized to the folders (see _fit_tree)
        self.tree.header().setStretchLastSection(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.regarding_button = QPushButton("Set &Regarding…")
        self.regarding_button.setAccessibleName("Set Regarding for the selected folder")
        self.regarding_button.setToolTip("Mail tracked from this folder is set regarding the chosen record.")
        self.regarding_button.clicked.connect(self.choose_regarding)
        self.clear_button = QPushButton("No Regarding")
        self.clear_button.setAccessibleName("Remove the Regarding of the selected folder")
        self.clear_button.clicked.connect(lambda: self.set_regarding(self.tree.currentItem(), None))
        self.status = StatusLabel()
        self.status.setAccessibleName("Folder list status")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        row = QHBoxLayout()
        row.addWidget(self.regarding_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self._update_buttons()
        self.status.info("Loading your folders…")
        # Started once the saved value is set (right after construction), so names are looked up.
        QTimer.singleShot(0, self, self._start_load)  # not at all if the editor is gone by then

    def _start_load(self) -> None:
        specs = [spec for _path, spec in map(parse_folder_line, self._pending) if spec]
        tasks.run(self._load, specs, on_done=self._on_loaded, on_error=self._on_error, parent=self)

    def _load(self, specs: list[str]) -> tuple[list[Folder], list[RecordRef]]:
        """The folder tree, and names for the saved Regarding records (recent choices first)."""
        folders = self.bridge.folders()
        known: list[RecordRef] = []
        try:
            known += self.bridge.recent_regarding(50)
            missing = []
            for spec in specs:
                table, _, rid = spec.partition(":")
                if not any(r.table == table and r.id == rid for r in known):
                    missing.append(RecordRef(table, rid))
            if missing:
                known += self.bridge.describe_records(missing)
        except BridgeError:
            pass  # names are a nicety: without them the record's kind and id are shown
        return folders, known

    # -- value --------------------------------------------------------------------------
    def value(self) -> list[str]:
        if self._pending is not None and self.tree.topLevelItemCount() == 0:
            return list(self._pending)  # not loaded (yet): keep what was saved
        lines = []
        for item in self._items():
            if item.checkState(0) == Qt.CheckState.Checked:
                spec = item.data(0, RegardingRole)
                path = item.data(0, PathRole)
                lines.append(f"{path} = {spec}" if spec else path)
        return lines

    def set_value(self, lines: list[str]) -> None:
        self._pending = [str(line) for line in lines or []]
        if self.tree.topLevelItemCount():
            self._apply(self._pending)

    def _items(self) -> list[QTreeWidgetItem]:
        found: list[QTreeWidgetItem] = []

        def walk(item: QTreeWidgetItem) -> None:
            found.append(item)
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return found

    def item_for(self, path: str) -> QTreeWidgetItem | None:
        key = path.strip("/").lower()
        return next((i for i in self._items() if str(i.data(0, PathRole)).lower() == key), None)

    # -- loading ------------------------------------------------------------------------
    def _on_error(self, error: BridgeError) -> None:
        self.status.error(f"Your folders could not be listed: {error.message}")
        self.loaded.emit()

    def _on_loaded(self, answer: tuple[list[Folder], list[RecordRef]]) -> None:
        folders, recent = answer
        self.names.update({r.to_spec(): r for r in recent})
        self.tree.blockSignals(True)
        self.tree.clear()
        by_id: dict[str, QTreeWidgetItem] = {}
        icon = theme_icon("folder", QStyle.StandardPixmap.SP_DirIcon)
        for folder in folders:
            if folder.kind is FolderKind.ROOT:
                continue
            item = QTreeWidgetItem([folder.name, ""])
            item.setIcon(0, icon)
            item.setData(0, PathRole, (folder.path or folder.name).strip("/"))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Unchecked)
            parent = by_id.get(folder.parent_id or "")
            if parent is not None:
                parent.addChild(item)
            else:
                self.tree.addTopLevelItem(item)
            by_id[folder.id] = item
        self.tree.expandAll()
        # Branch lines only where there are subfolders: a flat list starts at the left edge.
        self.tree.setRootIsDecorated(any(i.childCount() for i in by_id.values()))
        self.tree.blockSignals(False)
        self._apply(self._pending)
        self._fit_tree()
        self.status.info("Tick a folder to track its new mail; give it a Regarding if you like.")
        self._update_buttons()
        self.loaded.emit()

    def _fit_tree(self) -> None:
        """All folders in view for a usual mailbox; a long folder list scrolls inside the tree."""
        rows = len(self._items())
        row_height = max(self.tree.sizeHintForRow(0), self.tree.fontMetrics().height() + 4)
        header = self.tree.header().sizeHint().height()
        height = header + row_height * min(max(rows, 4), 10) + self.tree.frameWidth() * 2 + 2
        self.tree.setFixedHeight(height)

    def _apply(self, lines: list[str]) -> None:
        self.tree.blockSignals(True)
        for item in self._items():
            item.setCheckState(0, Qt.CheckState.Unchecked)
            item.setData(0, RegardingRole, None)
            item.setText(1, "")
        for line in lines:
            path, spec = parse_folder_line(line)
            item = self.item_for(path)
            if item is None:
                # A saved folder the mailbox no longer has: kept, and shown, so nothing is lost.
                item = QTreeWidgetItem([f"{path} (not found)", ""])
                item.setData(0, PathRole, path)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.tree.addTopLevelItem(item)
            item.setCheckState(0, Qt.CheckState.Checked)
            item.setData(0, RegardingRole, spec)
            item.setText(1, regarding_text(spec, self.names))
        self.tree.blockSignals(False)

    # -- editing ------------------------------------------------------------------------
    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            if item.checkState(0) != Qt.CheckState.Checked:
                item.setData(0, RegardingRole, None)
                item.setText(1, "")
            self.tree.setCurrentItem(item)
            self._update_buttons()
            self.changed.emit()

    def _update_buttons(self) -> None:
        item = self.tree.currentItem()
        checked = item is not None and item.checkState(0) == Qt.CheckState.Checked
        self.regarding_button.setEnabled(checked)
        self.clear_button.setEnabled(checked and bool(item is not None and item.data(0, RegardingRole)))

    def choose_regarding(self) -> None:
        from ui.regarding_picker import RegardingPicker

        item = self.tree.currentItem()
        if item is None:
            return
        picker = RegardingPicker(self.bridge, self)
        picker.setWindowModality(Qt.WindowModality.WindowModal)
        picker.setWindowTitle(f"Regarding for {item.data(0, PathRole)}")
        picker.accepted.connect(lambda: self.set_regarding(item, picker.selected))
        picker.finished.connect(picker.deleteLater)
        self.picker = picker
        picker.open()

    def set_regarding(self, item: QTreeWidgetItem | None, ref: RecordRef | None) -> None:
        if item is None:
            return
        spec = ref.to_spec() if ref is not None else None
        if ref is not None:
            self.names[ref.to_spec()] = ref
        item.setData(0, RegardingRole, spec)
        item.setText(1, regarding_text(spec, self.names))
        self._update_buttons()
        self.changed.emit()


def check_address(text: str) -> str | None:
    """None when ``text`` is an e-mail address or a domain; otherwise what is wrong with it."""
    if _ADDRESS.match(text) or _DOMAIN.match(text):
        return None
    return f"“{text}” is neither an e-mail address (name@example.com) nor a domain (@example.com)."


class AddressList(QWidget):
    """Addresses and domains, one per row, with Add and Remove."""

    changed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setAccessibleName(name)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        rows = self.list.fontMetrics().lineSpacing() + 4
        self.list.setFixedHeight(rows * 4 + 6)  # four entries in view; it scrolls beyond
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("name@example.com or @example.com")
        self.entry.setAccessibleName(f"New entry for {name}")
        self.entry.returnPressed.connect(self.add)
        self.add_button = QPushButton("&Add")
        self.add_button.setAccessibleName(f"Add to {name}")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName(f"Remove the selected entries from {name}")
        self.remove_button.clicked.connect(self.remove)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("font-weight: bold;")
        self.error.setVisible(False)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.entry.textChanged.connect(self._update_buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(self.entry, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        layout.addWidget(self.error)
        self._update_buttons()

    def value(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def set_value(self, values: list[str]) -> None:
        self.list.clear()
        self.list.addItems([str(v) for v in values or []])
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.add_button.setEnabled(bool(self.entry.text().strip()))
        self.remove_button.setEnabled(bool(self.list.selectedItems()))

    def add(self) -> bool:
        text = self.entry.text().strip()
        if not text:
            return False
        problem = check_address(text)
        if problem is None and text.lower() in (v.lower() for v in self.value()):
            problem = f"“{text}” is already in the list."
        self.error.setText(problem or "")
        self.error.setVisible(problem is not None)
        if problem is not None:
            return False
        self.list.addItem(text)
        self.entry.clear()
        self.changed.emit()
        return True

    def remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._update_buttons()
        self.changed.emit()
