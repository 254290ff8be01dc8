"""Settings: one tab per schema group, passwords into the keyring, connection tests, start at login."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from addin import autostart
from addin.errors import BridgeError
from addin.facade import BridgeFacade
from addin.settings_schema import GROUPS
from ui import tasks
from ui.common import StatusLabel, theme_buttons
from ui.connection_test import ConnectionTest, describe_crm, describe_mailbox
from ui.list_editors import FolderPicker
from ui.settings_form import SettingsForm

SECRET_GROUPS = ("mailbox", "crm")
WIDTH = 760


def read_autostart() -> bool | None:
    try:
        return autostart.is_enabled()
    except BridgeError:
        return None


class SettingsDialog(QDialog):
    saved = Signal()
    loaded = Signal()

    def __init__(
        self, bridge: BridgeFacade, parent: QWidget | None = None, *, tab: str | None = None
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.original: dict[str, Any] = {}
        self.forms: dict[str, SettingsForm] = {}
        self.tests: dict[str, ConnectionTest] = {}
        self.start_at_login: QCheckBox | None = None
        self._initial_tab = tab
        self.setWindowTitle("CRM Bridge settings")
        self.setAccessibleName("Settings")
        self.resize(600, 420)  # until the pages are built; then sized to the largest one
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Settings groups")
        layout.addWidget(self.tabs, 1)
        self.status = StatusLabel()
        layout.addWidget(self.status)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setEnabled(False)
        theme_buttons(self.buttons)
        layout.addWidget(self.buttons)
        self.status.info("Loading settings…")
        tasks.run(bridge.settings, on_done=self._build, on_error=self._load_failed, parent=self)

    def _load_failed(self, error: BridgeError) -> None:
        self.status.error(error)
        self.loaded.emit()

    def _build(self, values: dict[str, Any]) -> None:
        self.original = dict(values)
        pages: list[QWidget] = []
        for group, title in GROUPS:
            page = QWidget()
            pages.append(page)
            pl = QVBoxLayout(page)
            form = SettingsForm(group, values, with_secret=group in SECRET_GROUPS, bridge=self.bridge)
            self.forms[group] = form
            pl.addWidget(form)
            folders = form.editors.get("tracking.tracked_folders")
            if isinstance(folders, FolderPicker):  # its tree is sized once the folders are known
                folders.loaded.connect(lambda: self._fit_page(self.tabs.currentIndex()))
            if group == "mailbox":
                test = ConnectionTest("&Test mailbox", self.bridge.test_mailbox, form, describe_mailbox)
            elif group == "crm":
                test = ConnectionTest("&Test CRM sign-in", self.bridge.test_crm, form, describe_crm)
            else:
                test = None
            if test is not None:
                # The facade gets a complete settings dict: saved values under the edited ones.
                test.extra_values = lambda: dict(self.original)
                self.tests[group] = test
                pl.addWidget(test)
            if group == "general":
                self.start_at_login = QCheckBox("Start CRM Bridge when I sign in")
                self.start_at_login.setAccessibleName("Start at login")
                state = read_autostart()
                self.start_at_login.setChecked(bool(state))
                if state is None:
                    self.start_at_login.setEnabled(False)
                    self.start_at_login.setToolTip(
                        "The start-at-login setting cannot be read on this system."
                    )
                pl.addWidget(self.start_at_login)
            pl.addStretch(1)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, title)
            if group == self._initial_tab:
                self.tabs.setCurrentWidget(scroll)
        from ui.mail_clients_panel import MailClientsPanel  # acts at once; Save is not needed

        self.mail_clients = MailClientsPanel(self.bridge)
        pages.append(self.mail_clients)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.mail_clients)
        self.tabs.addTab(scroll, "Mail clients")
        self.save_button.setEnabled(True)
        self.status.info("")
        self._fit(pages)
        self.loaded.emit()

    def _fit(self, pages: list[QWidget]) -> None:
        """Wide enough for one-line help texts; each page as tall as its content (the dialog
        follows the tab, as preference windows do), within the screen: no half-empty page,
        and no scrolling on a 1366×768 screen."""
        self._pages = pages
        self.tabs.currentChanged.connect(self._fit_page)
        self._fit_page(self.tabs.currentIndex())

    def _fit_page(self, index: int) -> None:
        pages = getattr(self, "_pages", [])
        if not 0 <= index < len(pages):
            return
        screen = self.screen().availableGeometry()
        width = min(WIDTH, screen.width() - 40)
        layout = pages[index].layout()
        inner = width - 60
        if layout is not None and layout.hasHeightForWidth():
            content = int(layout.totalHeightForWidth(inner))
        else:
            content = pages[index].sizeHint().height()
        height = content + 110  # tabs, status line and buttons
        # The frame (title bar, borders) comes on top of the size given here.
        self.resize(width, min(max(height, 220), screen.height() - 40))

    def changes(self) -> tuple[dict[str, Any], dict[str, str]]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for form in self.forms.values():
            v, e = form.validate()
            values.update(v)
            errors.update(e)
        return {k: v for k, v in values.items() if self.original.get(k) != v}, errors

    def save(self) -> None:
        changes, errors = self.changes()
        if errors:
            key, first = next(iter(errors.items()))
            self.status.error(f"Please fix: {first}")
            # Take the person to the field: its tab, with the keyboard focus on it.
            for index, (group, _title) in enumerate(GROUPS):
                form = self.forms.get(group)
                if form is not None and key in form.editors:
                    self.tabs.setCurrentIndex(index)
                    form.editors[key].setFocus()
            return
        secrets = {g: s for g in SECRET_GROUPS if (s := self.forms[g].secret_text())}
        login = (
            self.start_at_login.isChecked()
            if self.start_at_login and self.start_at_login.isEnabled()
            else None
        )
        if login is not None and login == read_autostart():
            login = None
        bridge = self.bridge

        def work() -> None:
            if changes:
                bridge.update_settings(changes)
            for kind, secret in secrets.items():
                bridge.set_secret(kind, secret)
            if login is not None:
                autostart.set_enabled(login)

        self.save_button.setEnabled(False)
        self.status.info("Saving…")
        tasks.run(work, on_done=self._saved, on_error=self._save_failed, parent=self)

    def _saved(self, _r: object) -> None:
        self.saved.emit()
        self.accept()

    def _save_failed(self, error: BridgeError) -> None:
        self.save_button.setEnabled(True)
        self.status.error(error)
