"""The unexpected-error dialog: what happened, with details a person can copy into a report."""

from __future__ import annotations

import logging
import platform
import sys
import traceback
from types import TracebackType

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from addin import __version__
from ui.common import theme_buttons

log = logging.getLogger(__name__)


def report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> str:
    """Versions, platform and the traceback; exception texts from the core carry no secrets."""
    lines = [
        f"CRM Bridge {__version__}",
        f"Python {platform.python_version()} on {platform.platform()}",
        f"PySide6 {pyside_version}, Qt {qVersion()}",
        "",
        *traceback.format_exception(exc_type, exc, tb),
    ]
    return "\n".join(line.rstrip("\n") for line in lines)


class CrashDialog(QDialog):
    def __init__(self, details: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unexpected error in CRM Bridge")
        self.setAccessibleName("Unexpected error")
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Something went wrong that CRM Bridge did not expect. Your mail and CRM data are safe; "
            "the bridge keeps running. Copy the details below into a bug report."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Error details")
        self.details.setMinimumSize(600, 260)
        # A traceback reads line by line: fixed-width, no wrapping.
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout.addWidget(self.details)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        theme_buttons(buttons)
        self.copy_button = QPushButton("&Copy details")
        self.copy_button.setAccessibleName("Copy details")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def copy(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.details.toPlainText())


_open: list[CrashDialog] = []


def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Log, then show the dialog; never raise from here (that would abort the event loop)."""
    if issubclass(exc_type, KeyboardInterrupt):
        QApplication.quit()
        return
    details = report(exc_type, exc, tb)
    log.error("unexpected error\n%s", details)
    try:
        if QApplication.instance() is None or len(_open) >= 3:
            sys.__excepthook__(exc_type, exc, tb)
            return
        dialog = CrashDialog(details)
        _open.append(dialog)
        dialog.finished.connect(lambda _=0, d=dialog: _open.remove(d) if d in _open else None)
        dialog.show()
    except Exception:
        sys.__excepthook__(exc_type, exc, tb)


def install() -> None:
    sys.excepthook = excepthook
