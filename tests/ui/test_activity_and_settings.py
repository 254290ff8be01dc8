"""Recent activity, Settings and the first-run wizard against the real facade and sandboxes."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QSpinBox, QWizard
from ui_support import contact_addresses

from addin import autostart
from addin.demo import DEMO_PASSWORD, SANDBOX_TOKEN
from addin.mailbox.types import FolderKind
from ui.activity_window import ActivityWindow
from ui.settings_dialog import SettingsDialog
from ui.wizard import SetupWizard, needs_setup

pytestmark = pytest.mark.ui
WAIT = 30_000


def _track_two(demo: Any) -> list[str]:
    bridge = demo.bridge
    inbox = next(f for f in bridge.folders() if f.kind is FolderKind.INBOX)
    contacts = set(contact_addresses(demo))
    items = [
        m
        for m in bridge.messages(inbox.id, limit=50).items
        if not m.tracked and not m.private and m.sender.rpartition("<")[2].rstrip(">").lower() in contacts
    ][:2]
    results = bridge.track([m.id for m in items])
    assert all(r.outcome == "tracked" for r in results), results
    return [m.id for m in items]


def test_activity_lists_filters_and_untracks(qtbot: Any, demo: Any) -> None:
    ids = _track_two(demo)
    window = ActivityWindow(demo.bridge)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: sum(e.action == "tracked" for e in window.entries) >= 2, timeout=WAIT)
    assert window.table.item(0, 1).text() in ("Tracked", "Sent", "Skipped", "Untracked", "Regarding set")
    tracked = [e for e in window.entries if e.action == "tracked" and e.item_id in ids]
    subject = tracked[0].subject

    # Filtering asks the core (text search in the audit log).
    with qtbot.waitSignal(window.refreshed, timeout=WAIT):
        qtbot.keyClicks(window.filter, subject)
    assert window.entries and all(subject in (e.subject + e.detail) for e in window.entries)

    # Untrack from the row.
    row = next(i for i, e in enumerate(window.visible_entries()) if e.action == "tracked")
    window.select_row(row)
    assert window.untrack_button.isEnabled()
    entry = window.visible_entries()[row]
    # The detail pane shows the whole entry, whatever the column widths.
    assert entry.subject in window.details.text() and entry.detail in window.details.text()
    with qtbot.waitSignal(window.untracked, timeout=WAIT):
        qtbot.mouseClick(window.untrack_button, Qt.MouseButton.LeftButton)
    target = window.visible_entries()[row].item_id if window.visible_entries() else tracked[0].item_id
    qtbot.waitUntil(lambda: any(e.action == "untracked" for e in window.entries), timeout=WAIT)
    inbox = next(f for f in demo.bridge.folders() if f.kind is FolderKind.INBOX)
    listing = {m.id: m for m in demo.bridge.messages(inbox.id, limit=100).items}
    assert target in listing and not listing[target].tracked

    window.problems_only.setChecked(True)
    assert all(not e.ok for e in window.visible_entries())


def _settings(qtbot: Any, demo: Any, tab: str | None = None) -> SettingsDialog:
    dialog = SettingsDialog(demo.bridge, tab=tab)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(dialog.forms), timeout=WAIT)
    return dialog


def test_settings_show_values_and_test_connections(qtbot: Any, demo: Any) -> None:
    dialog = _settings(qtbot, demo, tab="crm")
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == [
        "Mailbox",
        "CRM",
        "Tracking",
        "Sending",
        "General",
        "Mail clients",
    ]
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "CRM"
    email = dialog.forms["mailbox"].editors["mailbox.email"]
    assert isinstance(email, QLineEdit) and email.text() == demo.bridge.settings()["mailbox.email"]
    # Every editor can be found by assistive technology.
    for form in dialog.forms.values():
        assert all(w.accessibleName() for w in form.editors.values())

    mail_test = dialog.tests["mailbox"]
    with qtbot.waitSignal(mail_test.tested, timeout=WAIT) as blocker:
        qtbot.mouseClick(mail_test.button, Qt.MouseButton.LeftButton)
        assert mail_test.cancel_button.isEnabled()
    assert blocker.args == [True], mail_test.result.text()
    assert demo.bridge.settings()["mailbox.email"] in mail_test.result.text()

    crm_test = dialog.tests["crm"]
    with qtbot.waitSignal(crm_test.tested, timeout=WAIT) as blocker:
        crm_test.start()
    assert blocker.args == [True], crm_test.result.text()
    assert "Signed in" in crm_test.result.text()

    # A wrong token is refused, with the server's reason, and nothing is stored.
    dialog.forms["crm"].secret.setText("wrong-token")
    with qtbot.waitSignal(crm_test.tested, timeout=WAIT) as blocker:
        crm_test.start()
    assert blocker.args == [False]
    assert crm_test.result.text() and "Signed in" not in crm_test.result.text()
    assert demo.bridge.secrets.get("crm") == SANDBOX_TOKEN


def test_connection_test_can_be_cancelled(qtbot: Any, demo: Any) -> None:
    dialog = _settings(qtbot, demo)
    demo.crm.faults.update({"latency_ms": 3000})
    crm_test = dialog.tests["crm"]
    crm_test.start()
    assert crm_test.cancel_button.isEnabled()
    qtbot.mouseClick(crm_test.cancel_button, Qt.MouseButton.LeftButton)
    assert crm_test.result.text() == "Test cancelled."
    assert crm_test.button.isEnabled() and not crm_test.ok
    demo.crm.faults.update({"latency_ms": 0})


def test_settings_validate_then_save(qtbot: Any, demo: Any) -> None:
    dialog = _settings(qtbot, demo)
    form = dialog.forms["crm"]
    url = form.editors["crm.url"]
    before = url.text()
    url.setText("crm.example.com")  # no scheme
    dialog.save()
    assert not form.error_labels["crm.url"].isHidden()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "CRM"  # taken to the field
    assert "https://" in form.error_labels["crm.url"].text()
    assert demo.bridge.settings()["crm.url"] == before  # nothing saved
    url.setText(before)

    poll = dialog.forms["tracking"].editors["tracking.poll_seconds"]
    assert isinstance(poll, QSpinBox)
    poll.setValue(120)
    dialog.forms["general"].set_value("general.notifications", "all")
    dialog.forms["mailbox"].secret.setText("new-mail-password")
    assert dialog.start_at_login is not None and not dialog.start_at_login.isChecked()
    dialog.start_at_login.setChecked(True)
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.save()
    values = demo.bridge.settings()
    assert values["tracking.poll_seconds"] == 120 and values["general.notifications"] == "all"
    assert demo.bridge.secrets.get("mailbox") == "new-mail-password"
    assert autostart.is_enabled()  # read back from ~/.config/autostart (a temporary folder here)


def test_first_run_wizard(qtbot: Any, demo: Any) -> None:
    values = demo.bridge.settings()
    blank = {**values, "mailbox.email": "", "mailbox.server": "", "crm.url": ""}
    assert needs_setup(blank) and not needs_setup(values)
    demo.bridge.update_settings({"mailbox.email": "", "crm.url": ""})
    wizard = SetupWizard(demo.bridge, blank)
    qtbot.addWidget(wizard)
    wizard.show()
    next_button = wizard.button(QWizard.WizardButton.NextButton)

    wizard.next()  # welcome -> mailbox
    assert wizard.currentPage() is wizard.mailbox_page
    assert not next_button.isEnabled()  # the mailbox must be tested first
    mf = wizard.mailbox_form
    qtbot.keyClicks(mf.editors["mailbox.email"], values["mailbox.email"])
    qtbot.keyClicks(mf.editors["mailbox.server"], values["mailbox.server"])
    qtbot.keyClicks(mf.secret, DEMO_PASSWORD)
    with qtbot.waitSignal(wizard.mailbox_test.tested, timeout=WAIT) as blocker:
        qtbot.mouseClick(wizard.mailbox_test.button, Qt.MouseButton.LeftButton)
    assert blocker.args == [True], wizard.mailbox_test.result.text()
    assert next_button.isEnabled()
    qtbot.keyClicks(mf.editors["mailbox.username"], "x")  # an edit invalidates the test
    assert not next_button.isEnabled()
    mf.editors["mailbox.username"].clear()
    with qtbot.waitSignal(wizard.mailbox_test.tested, timeout=WAIT):
        wizard.mailbox_test.start()

    wizard.next()
    assert wizard.currentPage() is wizard.crm_page
    cf = wizard.crm_form
    qtbot.keyClicks(cf.editors["crm.url"], values["crm.url"])
    cf.set_value("crm.auth", "bearer")
    qtbot.keyClicks(cf.secret, SANDBOX_TOKEN)
    with qtbot.waitSignal(wizard.crm_test.tested, timeout=WAIT) as blocker:
        wizard.crm_test.start()
    assert blocker.args == [True], wizard.crm_test.result.text()

    wizard.next()
    assert wizard.currentPage() is wizard.tracking_page
    wizard.tracking_form.set_value("tracking.autotrack", False)
    wizard.next()
    assert wizard.currentPage() is wizard.finish_page
    assert wizard.start_at_login.isChecked()
    with qtbot.waitSignal(wizard.saved, timeout=WAIT):
        wizard.button(QWizard.WizardButton.FinishButton).click()
    saved = demo.bridge.settings()
    assert saved["mailbox.email"] == values["mailbox.email"] and saved["crm.url"] == values["crm.url"]
    assert saved["tracking.autotrack"] is False
    assert demo.bridge.secrets.get("crm") == SANDBOX_TOKEN
    assert autostart.is_enabled()


def test_wizard_counts_steps_and_picks_the_sign_in_from_the_address(qtbot: Any, demo: Any) -> None:
    values = demo.bridge.settings()
    blank = {**values, "mailbox.email": "", "crm.url": ""}
    wizard = SetupWizard(demo.bridge, blank)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.mailbox_page.subTitle().startswith("Step 1 of 4.")
    assert wizard.finish_page.subTitle().startswith("Step 4 of 4.")
    cf = wizard.crm_form
    # First run: nothing is saved, so nothing speaks of keeping a saved password.
    assert "saved" not in cf.secret.placeholderText()
    auth = cf.editors["crm.auth"]
    user = cf.editors["crm.username"]
    # An empty address on a first run never starts on the sandbox token.
    assert auth.currentData() != "bearer"
    for url, expected, asks_user in (
        ("https://contoso.crm4.dynamics.com", "oauth", False),
        ("https://crm.contoso.local/Contoso", "ntlm", True),
        (values["crm.url"], "bearer", False),  # the sandbox on this computer
    ):
        cf.editors["crm.url"].setText(url)
        assert auth.currentData() == expected, url
        assert user.isVisibleTo(cf) is asks_user, url
    # A failed test says what to fix, not only what went wrong.
    cf.set_value("crm.auth", "bearer")
    cf.secret.setText("wrong-token")
    with qtbot.waitSignal(wizard.crm_test.tested, timeout=WAIT) as blocker:
        wizard.crm_test.start()
    assert blocker.args == [False]
    assert "What to do:" in wizard.crm_test.result.text(), wizard.crm_test.result.text()
    assert not wizard.crm_test.progress.isVisibleTo(wizard)


def test_wizard_picks_the_mail_server_type_from_the_address(qtbot: Any, demo: Any) -> None:
    values = demo.bridge.settings()
    blank = {**values, "mailbox.email": "", "mailbox.server": "", "mailbox.backend": "ews", "crm.url": ""}
    wizard = SetupWizard(demo.bridge, blank)
    qtbot.addWidget(wizard)
    wizard.show()
    mf = wizard.mailbox_form
    backend, auth, email = (
        mf.editors["mailbox.backend"],
        mf.editors["mailbox.auth"],
        mf.editors["mailbox.email"],
    )
    # A Microsoft 365 domain: Exchange Online, so Graph with Microsoft sign-in, and the reason is shown.
    qtbot.keyClicks(email, "sam@fabrikam.onmicrosoft.com")
    assert backend.currentData() == "graph" and auth.currentData() == "oauth"
    assert "Exchange Online" in mf.backend_reason.text() and mf.backend_reason.isVisibleTo(mf)
    # The person may override it; leaving the field unchanged keeps their choice.
    backend.setCurrentIndex(backend.findData("ews"))
    email.editingFinished.emit()
    assert backend.currentData() == "ews"
    # An on-premises server named by its EWS URL: EWS, with the server named in the reason.
    email.setText("sam@fabrikam.example")
    mf.editors["mailbox.server"].setText("https://mail.fabrikam.example/EWS/Exchange.asmx")
    assert backend.currentData() == "ews"
    assert "mail.fabrikam.example" in mf.backend_reason.text()
    # Autodiscover pointing at Exchange Online: Graph.
    mf.editors["mailbox.server"].setText("https://outlook.office365.com/EWS/Exchange.asmx")
    assert backend.currentData() == "graph"


def test_mailbox_settings_show_only_the_fields_of_the_chosen_server_type(qtbot: Any, demo: Any) -> None:
    values = demo.bridge.settings()
    wizard = SetupWizard(demo.bridge, {**values, "mailbox.email": "", "crm.url": ""})
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    mf = wizard.mailbox_form
    backend, auth = mf.editors["mailbox.backend"], mf.editors["mailbox.auth"]

    def shown(key: str) -> bool:
        return mf.editors[key].isVisibleTo(mf)

    backend.setCurrentIndex(backend.findData("imap"))
    assert shown("mailbox.imap_server") and shown("mailbox.smtp_server") and not shown("mailbox.server")
    backend.setCurrentIndex(backend.findData("ews"))
    assert shown("mailbox.server") and not shown("mailbox.imap_server") and shown("mailbox.username")
    backend.setCurrentIndex(backend.findData("graph"))
    auth.setCurrentIndex(auth.findData("oauth"))
    # Microsoft 365 sign-in asks for no password here: its own sign-in window does.
    assert not mf.secret.isVisibleTo(mf) and not shown("mailbox.username")
    auth.setCurrentIndex(auth.findData("token"))
    assert mf.secret.isVisibleTo(mf) and mf.secret.accessibleName() == "Access token"
