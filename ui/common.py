"""Small helpers shared by the windows: formatting, error boxes, busy state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QTableView,
    QWidget,
)

from addin.errors import BridgeError


def when(value: datetime | None, *, seconds: bool = False) -> str:
    """Local, short: time only for today, date and time otherwise."""
    if value is None:
        return ""
    local = value.astimezone() if value.tzinfo is not None else value
    now = datetime.now(local.tzinfo)
    fmt = "%H:%M:%S" if seconds else "%H:%M"
    if local.date() == now.date():
        return local.strftime(fmt)
    if local.year == now.year:
        return local.strftime("%d %b " + fmt)
    return local.strftime("%d %b %Y " + fmt)


def one_line(text: str, limit: int | None = None) -> str:
    """Text for a cell or menu entry: line breaks shown as ⏎ (they matter: header injection), elided."""
    out = text.replace("\r\n", " ⏎ ").replace("\n", " ⏎ ").replace("\r", " ⏎ ")
    out = "".join(c if c.isprintable() else "�" for c in out)
    if limit is not None and len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out


def first_clause(text: str) -> str:
    """A reason's first clause, for a table cell; the detail pane under the table shows it all."""
    out = one_line(text)
    for stop in ("; ", ". ", ", which "):
        head, found, _rest = out.partition(stop)
        if found:
            out = head
    return out.rstrip(".")


def compact_rows(view: QAbstractItemView) -> None:
    """One text line per row (the styles' default leaves room for two)."""
    if isinstance(view, QTableView):
        view.setWordWrap(False)
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)


def list_table(view: QTableView, name: str, *, multi: bool) -> None:
    """A read-only table picked by whole rows: one line per row, no row numbers."""
    view.setAccessibleName(name)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    mode = QAbstractItemView.SelectionMode
    view.setSelectionMode(mode.ExtendedSelection if multi else mode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    compact_rows(view)


def size_columns(view: QTableView, stretch: int, widths: Iterable[tuple[int, int]]) -> None:
    """Columns a person can resize, one stretched to fill the window, the others at set widths."""
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    for col, width in widths:
        view.setColumnWidth(col, width)


def button(text: str, name: str, slot: Callable[[], Any]) -> QPushButton:
    """A push button with an accessible name; the slot is called without the `checked` argument."""
    b = QPushButton(text)
    b.setAccessibleName(name)
    b.clicked.connect(lambda _checked=False: slot())
    return b


def refresh_button(slot: Callable[[], Any]) -> QPushButton:
    b = button("Re&fresh", "Refresh", slot)
    b.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
    return b


def search_box(
    owner: QWidget, placeholder: str, name: str, delay_ms: int, slot: Callable[[], Any]
) -> tuple[QLineEdit, QTimer]:
    """A clearable text field that calls ``slot`` once typing pauses; the timer is returned so that
    other triggers can share the same pause."""
    field = QLineEdit()
    field.setPlaceholderText(placeholder)
    field.setAccessibleName(name)
    field.setClearButtonEnabled(True)
    debounce = QTimer(owner)
    debounce.setSingleShot(True)
    debounce.setInterval(delay_ms)
    debounce.timeout.connect(slot)
    field.textChanged.connect(lambda _t: debounce.start())
    return field, debounce


def labelled_row(text: str, field: QWidget, *extra: QWidget) -> QHBoxLayout:
    """A mnemonic label, its field taking the spare width, then any extra widgets."""
    row = QHBoxLayout()
    label = QLabel(text)
    label.setBuddy(field)
    row.addWidget(label)
    row.addWidget(field, 1)
    for widget in extra:
        row.addWidget(widget)
    return row


def error_text(error: BaseException) -> str:
    if isinstance(error, BridgeError):
        return f"{error.title}: {error.message}"
    return str(error)


class StatusLabel(QLabel):
    """A one-line status under a window's content; errors are announced with their title."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Status")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def info(self, text: str) -> None:
        self.setForegroundRole(self.foregroundRole())
        self.setStyleSheet("")
        self.setText(text)

    def error(self, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else error_text(error)
        # Bold rather than a hard-coded red: readable in dark and high-contrast themes.
        self.setStyleSheet("font-weight: bold;")
        self.setText(text)


def close_on_escape(widget: QWidget) -> None:
    QShortcut(QKeySequence(Qt.Key.Key_Escape), widget, activated=widget.close)


def theme_icon(name: str, fallback: QStyle.StandardPixmap | None = None) -> QIcon:
    """The desktop theme's icon; else the style's own (when a fallback is given); else none."""
    icon = QIcon.fromTheme(name)
    if icon.isNull() and fallback is not None:
        style = QApplication.style()
        if style is not None:
            icon = style.standardIcon(fallback)
    return icon


_BUTTON_THEME_ICONS = {
    QDialogButtonBox.StandardButton.Save: "document-save",
    QDialogButtonBox.StandardButton.Ok: "dialog-ok",
    QDialogButtonBox.StandardButton.Cancel: "dialog-cancel",
    QDialogButtonBox.StandardButton.Close: "window-close",
}


def theme_buttons(box: QDialogButtonBox) -> None:
    """Dialog buttons with the desktop theme's icons, or plain text where the theme has none
    (rather than the style's bundled floppy disk and red cross)."""
    for which, name in _BUTTON_THEME_ICONS.items():
        b = box.button(which)
        if b is not None:
            b.setIcon(QIcon.fromTheme(name))


def problem_colour(palette: QPalette | None = None) -> QColor:
    """Red that keeps 4.5:1 contrast on the window's base colour, light or dark."""
    pal = palette or QApplication.palette()
    dark = pal.color(QPalette.ColorRole.Base).lightness() < 128
    return QColor("#ff8a80") if dark else QColor("#b3261e")


def problem_icon() -> QIcon:
    return theme_icon("dialog-warning", QStyle.StandardPixmap.SP_MessageBoxWarning)


def fit_columns(view: QTableView, stretch: int) -> int:
    """Every column as wide as its content; ``stretch`` takes what is left.  Returns the width
    the table needs to show every column whole (the windows size themselves to it)."""
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.resizeColumnsToContents()
    needed = sum(view.columnWidth(c) for c in range(header.count()))
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return needed + view.frameWidth() * 2 + view.verticalScrollBar().sizeHint().width()


def fit_window(window: QWidget, table_width: int, extra: int, height: int) -> None:
    """Grow the window to show the whole table, within the screen it is on."""
    screen = window.screen().availableGeometry()
    width = min(max(window.width(), table_width + extra), screen.width() - 40)
    window.resize(width, min(height, screen.height() - 80))
