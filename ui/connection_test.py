"""The Test buttons of the settings dialog and the wizard: a facade check off the GUI thread,
with Cancel, a timeout, the result in words and what to do when it failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from addin.errors import (
    AuthError,
    BridgeError,
    ConfigError,
    CredentialStoreError,
    OfflineError,
    ThrottledError,
)
from ui import tasks
from ui.common import StatusLabel
from ui.settings_form import SettingsForm
from ui.tasks import TaskTimeout

TEST_TIMEOUT = 45.0


class ConnectionTest(QWidget):
    """A Test button that runs a facade check off the GUI thread, with Cancel and a timeout."""

    tested = Signal(bool)  # True when the server accepted the settings

    def __init__(
        self,
        label: str,
        call: Callable[[dict[str, Any], str | None], Any],
        form: SettingsForm,
        describe: Callable[[Any], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.call = call
        self.form = form
        self.describe = describe
        self.ok = False
        self.task: tasks.Task | None = None
        self.extra_values: Callable[[], dict[str, Any]] = dict
        self.button = QPushButton(label)
        self.button.setAccessibleName(label.replace("&", ""))
        self.cancel_button = QPushButton("Cancel test")
        self.cancel_button.setAccessibleName("Cancel the connection test")
        self.cancel_button.setEnabled(False)
        self.result = StatusLabel()
        self.result.setAccessibleName("Connection test result")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: how long a server takes is not known
        self.progress.setAccessibleName("Connection test in progress")
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.result)
        self.button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        form.changed.connect(self._invalidate)

    def _invalidate(self) -> None:
        if self.ok:
            self.ok = False
            self.result.info("Settings changed: test again.")
            self.tested.emit(False)

    def start(self) -> None:
        values, errors = self.form.validate()
        if errors:
            self.result.error("Fix the fields marked above first.")
            return
        values = {**self.extra_values(), **values}
        self.ok = False
        self.result.info("Connecting…")
        self.progress.setVisible(True)
        self.button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        task = tasks.Task(self.call, values, self.form.secret_text(), timeout=TEST_TIMEOUT, parent=self)
        task.done.connect(self._done)
        task.failed.connect(self._failed)
        task.cancelled.connect(lambda: self.result.info("Test cancelled."))
        task.finished.connect(self._finished)
        self.task = task
        task.start()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _done(self, value: Any) -> None:
        self.ok = True
        self.result.info("✓ " + self.describe(value))
        self.tested.emit(True)

    def _failed(self, error: BridgeError) -> None:
        self.ok = False
        hint = fix_hint(error)
        self.result.error(f"{error.title}: {error.message}" + (f"\nWhat to do: {hint}" if hint else ""))
        self.tested.emit(False)

    def _finished(self) -> None:
        self.task = None
        self.progress.setVisible(False)
        self.button.setEnabled(True)
        self.cancel_button.setEnabled(False)


def fix_hint(error: BridgeError) -> str:
    """What a person can change when a connection test fails, by the kind of failure."""
    if isinstance(error, AuthError):
        return "check the user name and the password (or token), then test again."
    if isinstance(error, CredentialStoreError):
        return "unlock the system keyring (or sign in to the desktop again), then test again."
    if isinstance(error, OfflineError | TaskTimeout):
        return "check the address, and that this computer can reach it (network, VPN, proxy)."
    if isinstance(error, ThrottledError):
        return "wait a minute, then test again."
    if isinstance(error, ConfigError):
        return "correct the field named above."
    return ""


def describe_mailbox(info: Any) -> str:
    version = f" {info.version}" if getattr(info, "version", "") else ""
    return f"Connected to {info.address} on {info.server} ({info.backend}{version})."


def describe_crm(user: Any) -> str:
    return f"Signed in to the CRM as {user}."
