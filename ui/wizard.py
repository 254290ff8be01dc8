"""First-run wizard: mailbox (tested), CRM (tested), tracking choices, then start at login.

Each test runs off the GUI thread with a timeout and Cancel (the "4-hour spinner" of
Maestral #713 cannot happen), and Next stays disabled until the server said yes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from addin import autostart
from addin.errors import BridgeError, ConfigError
from addin.facade import BridgeFacade
from addin.settings_schema import defaults
from addin.thunderbird import ThunderbirdAccount, read_accounts
from ui import tasks
from ui.common import StatusLabel
from ui.connection_test import ConnectionTest, describe_crm, describe_mailbox
from ui.settings_form import SettingsForm


def needs_setup(values: dict[str, Any]) -> bool:
    return not values.get("mailbox.email") or not values.get("crm.url")


class _IntroPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Welcome to CRM Bridge")
        text = QLabel(
            "CRM Bridge links your mailbox with your CRM: messages you choose (or that your CRM rules "
            "pick) are tracked as CRM e-mails, and e-mails you send from the CRM go out through your own "
            "mailbox.\n\nYou need your e-mail address and password, and the address of your CRM "
            "organisation. Passwords are kept in the system keyring, never in a file."
        )
        text.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        steps = QLabel(
            "<p>Four steps, a minute or two:</p><ol>"
            "<li><b>Your mailbox</b>: your address and password, tested.</li>"
            "<li><b>Your CRM</b>: your organisation's address and sign-in, tested.</li>"
            "<li><b>What to track and send</b>: automatic tracking and sending, changeable later.</li>"
            "<li><b>Ready</b>: notifications, and starting when you sign in.</li></ol>"
        )
        steps.setWordWrap(True)
        steps.setAccessibleName("The set-up steps")
        layout.addWidget(steps)
        layout.addStretch(1)


class _TestedPage(QWizardPage):
    """A settings group that is complete only once its connection test passed."""

    def __init__(self, title: str, subtitle: str, form: SettingsForm, test: ConnectionTest) -> None:
        super().__init__()
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.form = form
        self.test = test
        layout = QVBoxLayout(self)
        layout.addWidget(form)
        layout.addWidget(test)
        layout.addStretch(1)
        test.tested.connect(lambda _ok: self.completeChanged.emit())

    def isComplete(self) -> bool:
        return self.test.ok


class _FormPage(QWizardPage):
    def __init__(
        self, title: str, subtitle: str, forms: list[SettingsForm], extra: QWidget | None = None
    ) -> None:
        super().__init__()
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.forms = forms
        layout = QVBoxLayout(self)
        for form in forms:
            layout.addWidget(form)
        if extra is not None:
            layout.addWidget(extra)
        layout.addStretch(1)

    def validatePage(self) -> bool:
        return all(not form.validate()[1] for form in self.forms)


class ThunderbirdPicker(QWidget):
    """Offers the accounts of the user's Thunderbird profile; hidden when there are none.

    Filling in copies servers, security, user name and the Sent folder into the form; the
    password is never read from Thunderbird: the user types it below, once.
    """

    def __init__(self, form: SettingsForm, profile_dir: Path | None = None) -> None:
        super().__init__()
        self.form = form
        found: list[ThunderbirdAccount] = []
        with contextlib.suppress(ConfigError):  # no Thunderbird here: nothing to offer
            _, found = read_accounts(profile_dir)
        self.accounts = [a for a in found if a.usable]
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        label = QLabel("Use an account from &Thunderbird:")
        self.combo = QComboBox()
        self.combo.setAccessibleName("Thunderbird account")
        label.setBuddy(self.combo)
        for account in self.accounts:
            self.combo.addItem(account.label)
        self.button = QPushButton("&Fill in")
        self.button.setAccessibleName("Fill in from Thunderbird")
        self.button.clicked.connect(self.apply)
        row.addWidget(label)
        row.addWidget(self.combo, 1)
        row.addWidget(self.button)
        layout.addLayout(row)
        self.note = QLabel(self.PASSWORD_NOTE)
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.setVisible(bool(self.accounts))

    PASSWORD_NOTE = "Thunderbird's password is not copied: type yours below once."

    def apply(self) -> None:
        if not self.accounts:
            return
        account = self.accounts[self.combo.currentIndex()]
        self.note.setText(f"{account.note} {self.PASSWORD_NOTE}" if account.note else self.PASSWORD_NOTE)
        for key, value in account.settings().items():
            if key in self.form.editors:
                self.form.set_value(key, value)


class SetupWizard(QWizard):
    saved = Signal()

    def __init__(
        self,
        bridge: BridgeFacade,
        values: dict[str, Any] | None = None,
        parent: QWidget | None = None,
        *,
        thunderbird_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.values = {**defaults(), **(values or {})}
        self._saving: tasks.Task | None = None
        self.setWindowTitle("Set up CRM Bridge")
        self.setAccessibleName("Set up CRM Bridge")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        self.resize(640, 560)

        first_run = needs_setup(values or {})
        self.mailbox_form = SettingsForm("mailbox", self.values, with_secret=True, first_run=first_run)
        self.mailbox_test = ConnectionTest(
            "&Test mailbox", bridge.test_mailbox, self.mailbox_form, describe_mailbox
        )
        self.crm_form = SettingsForm("crm", self.values, with_secret=True, first_run=first_run)
        self.crm_test = ConnectionTest("&Test CRM sign-in", bridge.test_crm, self.crm_form, describe_crm)
        # Each test sees the whole configuration, so the CRM test knows the mailbox and vice versa.
        self.mailbox_test.extra_values = self.all_values
        self.crm_test.extra_values = self.all_values
        # Folders are picked from the mailbox's tree, which the bridge can list once the set-up
        # is saved: that choice is in Settings → Tracking (and the saved value is kept meanwhile).
        self.tracking_form = SettingsForm(
            "tracking", self.values, include_advanced=False, leave_out=("tracking.tracked_folders",)
        )
        folders_later = QLabel("Folders to track automatically: choose them later in Settings → Tracking.")
        folders_later.setWordWrap(True)
        self.sending_form = SettingsForm("sending", self.values, include_advanced=False)
        self.general_form = SettingsForm("general", self.values)
        self.start_at_login = QCheckBox("Start CRM Bridge when I sign in")
        self.start_at_login.setAccessibleName("Start at login")
        self.start_at_login.setChecked(True)
        self.status = StatusLabel()
        finish_extra = QWidget()
        fl = QVBoxLayout(finish_extra)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.start_at_login)
        fl.addWidget(self.status)

        self.mailbox_page = _TestedPage(
            "Your mailbox",
            "Where your mail lives. Test the connection to continue.",
            self.mailbox_form,
            self.mailbox_test,
        )
        self.thunderbird = ThunderbirdPicker(self.mailbox_form, thunderbird_dir)
        page_layout = self.mailbox_page.layout()
        if isinstance(page_layout, QVBoxLayout):
            page_layout.insertWidget(0, self.thunderbird)
        self.crm_page = _TestedPage(
            "Your CRM",
            "Your Dynamics 365 organisation. Test the sign-in to continue.",
            self.crm_form,
            self.crm_test,
        )
        self.tracking_page = _FormPage(
            "What to track and send",
            "You can change all of this later in Settings.",
            [self.tracking_form, self.sending_form],
            folders_later,
        )
        self.finish_page = _FormPage(
            "Ready", "How CRM Bridge should keep you informed.", [self.general_form], finish_extra
        )
        pages = (_IntroPage(), self.mailbox_page, self.crm_page, self.tracking_page, self.finish_page)
        for page in pages:
            self.addPage(page)
        # "Step 2 of 4" on every page after the welcome, so a person knows how far it is.
        steps = pages[1:]
        for n, page in enumerate(steps, 1):
            page.setSubTitle(f"Step {n} of {len(steps)}. {page.subTitle()}")

    def all_values(self) -> dict[str, Any]:
        values = dict(self.values)
        for form in (
            self.mailbox_form,
            self.crm_form,
            self.tracking_form,
            self.sending_form,
            self.general_form,
        ):
            v, _e = form.validate()
            values.update(v)
        return values

    def accept(self) -> None:
        """Save everything off the GUI thread; close only when the core accepted it."""
        if self._saving is not None:
            return
        values = self.all_values()
        secrets = {
            kind: s
            for kind, form in (("mailbox", self.mailbox_form), ("crm", self.crm_form))
            if (s := form.secret_text())
        }
        login = self.start_at_login.isChecked()
        bridge = self.bridge

        def work() -> None:
            bridge.update_settings(values)
            for kind, secret in secrets.items():
                bridge.set_secret(kind, secret)
            if login != autostart.is_enabled():
                autostart.set_enabled(login)

        self.status.info("Saving…")
        self.button(QWizard.WizardButton.FinishButton).setEnabled(False)
        self._saving = tasks.run(work, on_done=self._saved, on_error=self._failed, parent=self)

    def _saved(self, _r: object) -> None:
        self._saving = None
        self.saved.emit()
        super().accept()

    def _failed(self, error: BridgeError) -> None:
        self._saving = None
        self.button(QWizard.WizardButton.FinishButton).setEnabled(True)
        self.status.error(error)
