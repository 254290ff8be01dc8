"""Tray icon and menu over the real bridge: states, pause/resume, windows, sign-in problems."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from ui_support import contact_addresses

from addin.bridge_types import StateChanged
from addin.errors import CredentialStoreError
from addin.state import BridgeState
from ui import app as app_module
from ui.activity_window import ActivityWindow
from ui.outbox_window import OutboxWindow
from ui.settings_dialog import SettingsDialog
from ui.single_instance import SingleInstance, default_name
from ui.track_window import TrackWindow
from ui.tray import Tray

pytestmark = pytest.mark.ui
WAIT = 30_000

EXPECTED = [
    "Track in CRM…",
    "Outbox",
    "Pause",
    "Sync now",
    "Recent activity…",
    "Settings…",
    "Snooze notifications",
    "Open log folder",
    "About CRM Bridge",
    "Quit",
]


def _texts(tray: Tray) -> list[str]:
    return [a.text() for a in tray.menu.actions() if not a.isSeparator()]


@pytest.fixture
def tray(qtbot: Any, demo: Any) -> Any:
    t = Tray(demo.bridge)
    t.show()
    qtbot.waitUntil(lambda: t.status is not None, timeout=WAIT)
    yield t
    for w in list(t.windows.values()):
        w.close()
    t.close()


def test_menu_header_tooltip_and_entries(qtbot: Any, demo: Any, tray: Tray) -> None:
    tray.menu.aboutToShow.emit()  # what opening the menu does
    texts = _texts(tray)
    assert texts[0] == tray.headline().text
    assert texts[1].startswith(("Last synced", "Not synced yet"))
    for entry in EXPECTED:
        assert any(t.startswith(entry) for t in texts), (entry, texts)
    assert not tray.menu.actions()[0].isEnabled()  # the header is information, not a command
    tooltip = tray.icon.toolTip()
    assert tray.headline().text in tooltip and ("Last synced" in tooltip or "Not synced" in tooltip)
    # Once the first sync ran the header says when.
    demo.bridge.sync_now()
    qtbot.waitUntil(lambda: tray.status.last_synced is not None, timeout=WAIT)
    tray.menu.aboutToShow.emit()
    assert _texts(tray)[1].startswith("Last synced")
    assert "Last synced" in tray.icon.toolTip()


def test_pause_for_an_hour_then_resume(qtbot: Any, demo: Any, tray: Tray) -> None:
    tray.rebuild_menu()
    tray.action("For 1 hour").trigger()
    qtbot.waitUntil(lambda: tray.status.state is BridgeState.PAUSED, timeout=WAIT)
    assert tray.icon_state() == "paused"
    assert tray.status.paused_until is not None
    tray.menu.aboutToShow.emit()
    assert "Pause" not in _texts(tray)  # the submenu gives way to Resume
    assert "until" in _texts(tray)[0]
    tray.action("Resume").trigger()
    qtbot.waitUntil(lambda: tray.status.state is not BridgeState.PAUSED, timeout=WAIT)
    tray.rebuild_menu()
    tray.action("Until resumed").trigger()
    qtbot.waitUntil(lambda: tray.status.state is BridgeState.PAUSED, timeout=WAIT)
    assert tray.status.paused_until is None
    tray.rebuild_menu()
    assert "until resumed" in _texts(tray)[0]


def test_menu_opens_each_window_once(qtbot: Any, demo: Any, tray: Tray) -> None:
    for text, kind in (
        ("Track in CRM", TrackWindow),
        ("Outbox", OutboxWindow),
        ("Recent activity", ActivityWindow),
        ("Settings", SettingsDialog),
    ):
        tray.rebuild_menu()
        tray.action(text).trigger()
        window = next(w for w in tray.windows.values() if isinstance(w, kind))
        assert window.isVisible() and window.accessibleName()
        tray.rebuild_menu()
        tray.action(text).trigger()
        assert sum(isinstance(w, kind) for w in tray.windows.values()) == 1


def test_snooze_from_the_menu(qtbot: Any, tray: Tray) -> None:
    tray.rebuild_menu()
    tray.action("1 hour").trigger()
    assert tray.notifier.snoozed
    tray.rebuild_menu()
    assert any(t.startswith("Notifications snoozed until") for t in _texts(tray))
    tray.action("Turn notifications back on").trigger()
    assert not tray.notifier.snoozed


def test_open_log_folder(qtbot: Any, demo: Any, tray: Tray, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("ui.tray.QDesktopServices.openUrl", lambda url: opened.append(url.toLocalFile()))
    tray.rebuild_menu()
    tray.action("Open log folder").trigger()
    assert opened == [str(demo.bridge.log_dir())]


def test_expired_sign_in_is_a_state_with_a_fix_action(qtbot: Any, demo: Any, tray: Tray) -> None:
    demo.bridge.set_secret("crm", "expired-token")  # the sandbox refuses it: 401
    notes: list[Any] = []
    tray.notified.connect(notes.append)
    demo.bridge.sync_now()
    qtbot.waitUntil(lambda: tray.status.state is BridgeState.CREDENTIALS_NEEDED, timeout=WAIT)
    qtbot.waitUntil(lambda: bool(tray.issues), timeout=WAIT)
    assert tray.icon_state() == "attention"
    tray.menu.aboutToShow.emit()
    issue = next(a for a in tray.menu.actions() if a.text().startswith("⚠"))
    fix = next(a for a in issue.menu().actions() if a.text() == "Fix…")
    fix.trigger()
    dialog = tray.windows["settings"]
    assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: any(n.error for n in notes), timeout=WAIT)  # announced, not a crash


def test_microsoft_sign_in_fix_runs_the_sign_in_in_the_background(
    qtbot: Any, demo: Any, tray: Tray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "Sign in…" of an expired Microsoft sign-in calls the facade off the GUI thread.

    Microsoft's sign-in pages cannot run here, so the facade's sign_in is replaced; the real
    sign-in is covered in tests/integration/test_msal_signin_bridge.py.
    """
    from addin.bridge_types import Issue

    gui = threading.get_ident()
    calls: list[int] = []

    def sign_in() -> str:
        calls.append(threading.get_ident())
        return "anna@contoso.test"

    monkeypatch.setattr(demo.bridge, "sign_in", sign_in)
    notes: list[Any] = []
    tray.notified.connect(notes.append)
    tray.issues = (Issue("credentials", "Sign-in needed", "Your sign-in expired.", "sign_in_microsoft"),)
    tray.menu.aboutToShow.emit()
    issue = next(a for a in tray.menu.actions() if a.text().startswith("⚠"))
    fix = next(a for a in issue.menu().actions() if a.text() == "Sign in…")
    fix.trigger()
    qtbot.waitUntil(lambda: any(n.title == "Signed in" for n in notes), timeout=WAIT)
    assert len(calls) == 1 and calls[0] != gui
    assert "anna@contoso.test" in next(n.message for n in notes if n.title == "Signed in")


def test_second_launch_brings_the_running_one_forward(qtbot: Any, demo: Any) -> None:
    name = f"crm-bridge-ui-{time.monotonic_ns()}"
    running = app_module.TrayApp(demo.bridge, owns_bridge=False)
    instance = SingleInstance(name)
    assert instance.acquire()
    instance.messageReceived.connect(running.handle_message)
    assert not SingleInstance(name).acquire("show outbox")
    qtbot.waitUntil(lambda: "outbox" in running.tray.windows, timeout=WAIT)
    assert running.tray.windows["outbox"].isVisible()
    instance.release()
    for w in list(running.tray.windows.values()):
        w.close()
    running.tray.close()
    qtbot.wait(50)


def test_main_exits_at_once_when_another_copy_runs(qtbot: Any, demo: Any) -> None:
    holder = SingleInstance(default_name())
    assert holder.acquire()
    got: list[str] = []
    holder.messageReceived.connect(got.append)
    assert app_module.main(["--show", "activity"], bridge=demo.bridge) == 0
    qtbot.waitUntil(lambda: got == ["show activity"], timeout=WAIT)
    holder.release()
    qtbot.wait(50)


def test_offline_state_is_shown(qtbot: Any, demo: Any, tray: Tray) -> None:
    """The facade's own event path (a worker thread calling listeners) reports Offline.

    How fast the core gives up on an unreachable server is its retry policy, tested in the
    core; here the tray's reaction to the state is what counts.
    """
    status = replace(demo.bridge.status(), state=BridgeState.OFFLINE, detail="Cannot reach the mail server.")
    worker = threading.Thread(target=demo.bridge._emit, args=(StateChanged(status),))
    with qtbot.waitSignal(tray.adapter.stateChanged, timeout=WAIT):
        worker.start()
    worker.join()
    assert tray.icon_state() == "offline"
    tray.menu.aboutToShow.emit()
    texts = _texts(tray)
    assert texts[0].startswith("Offline since ") and texts[0].endswith("retrying"), texts[0]
    assert "Cannot reach the mail server." in texts
    assert texts[0] in tray.icon.toolTip()


class LockedKeyring:
    """The OS keyring refusing access (locked, or no backend): only the Secret Service can do this
    for real, which a headless test machine does not run."""

    def get(self, kind: str) -> str | None:
        raise CredentialStoreError("The system keyring is locked; unlock it and try again.")

    def set(self, kind: str, value: str) -> None:
        raise CredentialStoreError("The system keyring is locked; unlock it and try again.")


def test_locked_keyring_is_a_state_with_fix_not_a_crash(qtbot: Any, demo: Any, tray: Tray) -> None:
    demo.bridge.secrets = LockedKeyring()
    demo.bridge.update_settings({"crm.url": demo.bridge.settings()["crm.url"]})  # drop cached clients
    demo.bridge.sync_now()
    qtbot.waitUntil(lambda: tray.status.state is BridgeState.CREDENTIALS_NEEDED, timeout=WAIT)
    qtbot.waitUntil(lambda: bool(tray.issues), timeout=WAIT)
    tray.menu.aboutToShow.emit()
    issue = next(a for a in tray.menu.actions() if a.text().startswith("⚠"))
    next(a for a in issue.menu().actions() if a.text() == "Fix…").trigger()
    dialog = tray.windows["settings"]
    qtbot.waitUntil(lambda: bool(dialog.forms), timeout=WAIT)
    dialog.forms["crm"].secret.setText("sandbox")
    dialog.save()
    qtbot.waitUntil(lambda: "keyring" in dialog.status.text().lower(), timeout=WAIT)
    assert dialog.isVisible()  # still open, with the reason, for another try


def test_a_failed_send_outranks_up_to_date_in_icon_tooltip_and_header(
    qtbot: Any, demo: Any, tray: Tray
) -> None:
    """The header, the tooltip and the icon tell one story: the unsent e-mail, never "Up to date"."""
    contact = contact_addresses(demo)[0]
    # A line break in the subject could smuggle headers: the core refuses to send it.
    demo.crm.queue_email(contact, "Price list\r\nBcc: someone@elsewhere.example", "<p>Prices</p>")
    demo.bridge.sync_now()
    qtbot.waitUntil(lambda: any(i.action == "retry_outbox" for i in tray.issues), timeout=WAIT)
    qtbot.waitUntil(lambda: tray.status.state is BridgeState.IDLE, timeout=WAIT)
    qtbot.waitUntil(lambda: bool(tray.status.outbox_failed), timeout=WAIT)
    tray.menu.aboutToShow.emit()
    texts = _texts(tray)
    assert texts[0] == "1 e-mail not sent"
    assert tray.icon_state() == "attention"
    # The header leads to the fix: the Outbox, where Retry is.
    header = tray.menu.actions()[0]
    assert header.isEnabled() and not header.icon().isNull()
    header.trigger()
    assert "outbox" in tray.windows and tray.windows["outbox"].isVisible()
    assert tray.icon.toolTip().startswith("CRM Bridge: 1 e-mail not sent")
    assert not any("Up to date" in t for t in texts) and "Up to date" not in tray.icon.toolTip()
    # The outbox entry says each count once, in words.
    assert "Outbox (1 not sent)…" in texts
    # Paused with the problem still open: the problem still leads.
    demo.bridge.pause(None)
    qtbot.waitUntil(lambda: tray.status.state is BridgeState.PAUSED, timeout=WAIT)
    tray.menu.aboutToShow.emit()
    assert _texts(tray)[0] == "1 e-mail not sent" and tray.icon_state() == "attention"
    assert tray.action("Resume") is not None
