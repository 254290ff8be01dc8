"""The pieces under every window: background tasks, events to signals, icons, notifications,
single instance and the crash dialog."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread
from PySide6.QtGui import QGuiApplication

from addin.bridge_types import AuditEntry, Issue, IssuesChanged, OutboxChanged, StateChanged, Status
from addin.errors import AuthError
from addin.state import BridgeState
from ui import tasks
from ui.bridge_adapter import BridgeAdapter
from ui.crash_dialog import CrashDialog, report
from ui.headline import headline, outbox_entry
from ui.icons import SIZES, IconState, draw, icon_state, tray_icon
from ui.notifications import Notifier
from ui.single_instance import SingleInstance

pytestmark = pytest.mark.ui


def test_task_runs_off_the_gui_thread_and_delivers_on_it(qtbot) -> None:
    gui = threading.get_ident()
    seen: dict[str, int] = {}

    def work(x: int) -> int:
        seen["worker"] = threading.get_ident()
        return x * 2

    task = tasks.Task(work, 21)
    with qtbot.waitSignal(task.done, timeout=5000) as blocker:
        task.start()
    assert blocker.args == [42]
    assert seen["worker"] != gui
    assert QThread.currentThread() is QGuiApplication.instance().thread()


def test_task_reports_bridge_errors_with_title(qtbot) -> None:
    def work() -> None:
        raise AuthError("The password was refused.", service="crm")

    task = tasks.Task(work)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        task.start()
    assert blocker.args[0].title == "Sign-in needed"


def test_unexpected_exception_becomes_a_readable_failure(qtbot) -> None:
    task = tasks.Task(lambda: 1 / 0)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        task.start()
    assert blocker.args[0].title == "Unexpected error"
    assert "ZeroDivisionError" in blocker.args[0].message


def test_timeout_stops_waiting_and_ignores_the_late_answer(qtbot) -> None:
    release = threading.Event()
    task = tasks.Task(lambda: release.wait(5) and "late", timeout=0.2)
    done: list[object] = []
    task.done.connect(done.append)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        task.start()
    assert blocker.args[0].title == "No answer"
    release.set()
    assert tasks.wait_idle(5000)
    qtbot.wait(50)
    assert done == []


def test_cancel_reports_once_and_drops_the_result(qtbot) -> None:
    release = threading.Event()
    task = tasks.Task(lambda: release.wait(5))
    results: list[object] = []
    task.done.connect(results.append)
    task.failed.connect(results.append)
    task.start()
    with qtbot.waitSignal(task.cancelled, timeout=1000):
        task.cancel()
    task.cancel()  # second cancel is a no-op
    release.set()
    assert tasks.wait_idle(5000)
    qtbot.wait(50)
    assert results == []
    assert not task.active


def test_finished_tasks_do_not_pile_up_under_their_window(qtbot) -> None:
    parent = QObject()
    finished: list[int] = []
    for i in range(20):
        task = tasks.run(lambda i=i: i, parent=parent)
        task.finished.connect(lambda: finished.append(1))
    qtbot.waitUntil(lambda: len(finished) == 20, timeout=5000)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert parent.findChildren(tasks.Task) == []
    assert not task.active  # still answerable after the Qt object went away
    task.cancel()  # and harmless


class EventSource:
    """The facade's subscribe contract: listeners called from a worker thread."""

    def __init__(self) -> None:
        self.listeners: list = []

    def subscribe(self, listener):
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit_from_thread(self, event) -> None:
        t = threading.Thread(target=lambda: [lst(event) for lst in list(self.listeners)])
        t.start()
        t.join()


def test_adapter_marshals_worker_events_to_gui_thread(qtbot) -> None:
    source = EventSource()
    adapter = BridgeAdapter(source)
    received: list[tuple[object, int]] = []
    adapter.stateChanged.connect(lambda s: received.append((s, threading.get_ident())))
    status = Status(BridgeState.SYNCING)
    with qtbot.waitSignal(adapter.stateChanged, timeout=2000):
        source.emit_from_thread(StateChanged(status))
    assert received == [(status, threading.get_ident())]
    assert adapter.status == status
    with qtbot.waitSignal(adapter.outboxChanged, timeout=2000):
        source.emit_from_thread(OutboxChanged())
    issue = Issue("k", "Sign-in needed", "The CRM refused the token.", "sign_in_crm")
    with qtbot.waitSignal(adapter.issuesChanged, timeout=2000) as blocker:
        source.emit_from_thread(IssuesChanged((issue,)))
    assert blocker.args == [(issue,)]
    adapter.close()
    assert source.listeners == []


@pytest.mark.parametrize("dark", [False, True])
def test_every_state_icon_draws_at_tray_sizes(qtbot, dark: bool) -> None:
    for state in IconState:
        for size in (16, 32):
            image = draw(state, size, dark).toImage()
            assert image.width() == size
            opaque = sum(1 for x in range(size) for y in range(size) if image.pixelColor(x, y).alpha() > 128)
            assert opaque > size  # something visible, not an empty square
        assert len(tray_icon(state, dark).availableSizes()) == len(SIZES)
    # States differ from one another at the smallest size.
    images = {s: draw(s, 16, dark).toImage() for s in IconState}
    assert len({bytes(img.constBits()) for img in images.values()}) == len(IconState)


def test_glyph_contrasts_with_the_panel() -> None:
    light = draw(IconState.IDLE, 32, dark_panel=False).toImage()
    dark = draw(IconState.IDLE, 32, dark_panel=True).toImage()
    # The envelope's top edge: dark ink on light panels, light ink on dark panels.
    assert light.pixelColor(16, 6).lightness() < 100
    assert dark.pixelColor(16, 6).lightness() > 150


def test_icon_state_mapping() -> None:
    assert icon_state(BridgeState.IDLE) is IconState.IDLE
    assert icon_state(BridgeState.IDLE, issues=2) is IconState.ATTENTION
    assert icon_state(BridgeState.CREDENTIALS_NEEDED) is IconState.ATTENTION
    assert icon_state(BridgeState.OFFLINE) is IconState.OFFLINE
    assert icon_state(BridgeState.PAUSED) is IconState.PAUSED
    assert icon_state(BridgeState.SYNCING) is IconState.SYNCING


def _failed(i: int) -> AuditEntry:
    return AuditEntry(
        i, datetime.now(), "send_failed", f"Quote {i}", "Recipient refused", ok=False, activity_id=f"a{i}"
    )


def test_failures_within_the_window_become_one_summary(qtbot) -> None:
    notifier = Notifier(window_ms=100)
    shown: list = []
    notifier.show.connect(shown.append)
    for i in range(5):
        notifier.activity_logged(_failed(i))
    qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    qtbot.wait(200)
    assert len(shown) == 1
    assert shown[0].error
    assert "5 e-mails could not be sent" in shown[0].message
    assert shown[0].action == "retry_outbox"


def test_single_failure_keeps_its_subject_and_target(qtbot) -> None:
    notifier = Notifier(window_ms=50)
    with qtbot.waitSignal(notifier.show, timeout=2000) as blocker:
        notifier.activity_logged(_failed(7))
    note = blocker.args[0]
    assert (note.title, note.target, note.action) == ("Quote 7", "a7", "retry_outbox")


def test_issue_announced_once_per_streak(qtbot) -> None:
    notifier = Notifier(window_ms=20)
    shown: list = []
    notifier.show.connect(shown.append)
    issue = Issue("crm-auth", "Sign-in needed", "Sign in to the CRM again.", "sign_in_crm")
    notifier.issues_changed((issue,))
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=2000)
    notifier.issues_changed((issue,))
    qtbot.wait(100)
    assert len(shown) == 1
    notifier.issues_changed(())
    notifier.issues_changed((issue,))
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=2000)


def test_levels_and_snooze(qtbot) -> None:
    now = [datetime(2026, 1, 5, 9, 0)]
    notifier = Notifier(level="errors", window_ms=20, now=lambda: now[0])
    shown: list = []
    notifier.show.connect(shown.append)
    notifier.activity_logged(AuditEntry(1, now[0], "tracked", "Hello"))  # success: not at "errors"
    qtbot.wait(60)
    assert shown == []
    notifier.snooze(30)
    notifier.activity_logged(_failed(1))
    qtbot.wait(60)
    assert shown == []
    now[0] += timedelta(minutes=31)
    assert not notifier.snoozed
    notifier.level = "all"
    notifier.activity_logged(AuditEntry(2, now[0], "tracked", "Hello"))
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=2000)
    assert shown[0].title == "Tracked: Hello"
    notifier.level = "none"
    notifier.activity_logged(_failed(2))
    qtbot.wait(60)
    assert len(shown) == 1


def test_second_instance_forwards_and_exits(qtbot) -> None:
    name = f"crm-bridge-test-{time.monotonic_ns()}"
    first = SingleInstance(name)
    assert first.acquire()
    got: list[str] = []
    first.messageReceived.connect(got.append)
    second = SingleInstance(name)
    assert not second.acquire("show outbox")
    qtbot.waitUntil(lambda: got == ["show outbox"], timeout=3000)
    first.release()
    third = SingleInstance(name)
    assert third.acquire()  # the name is free again after the first copy quit
    third.release()
    qtbot.wait(50)


def test_crash_dialog_copies_details(qtbot) -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        details = report(type(exc), exc, exc.__traceback__)
    assert "ValueError: boom" in details and "CRM Bridge" in details
    dialog = CrashDialog(details)
    qtbot.addWidget(dialog)
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == details


def test_exported_icons_for_installers(qtbot, tmp_path) -> None:
    import struct

    from ui.export_icons import APP_SIZES, export

    written = export(tmp_path)
    ico = (tmp_path / "crm-bridge.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, len(APP_SIZES))
    sizes = []
    for i in range(count):
        width, _h, _c, _r, _p, _b, length, offset = struct.unpack("<BBBBHHII", ico[6 + 16 * i : 22 + 16 * i])
        assert ico[offset : offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + length <= len(ico)
        sizes.append(width or 256)
    assert sizes == list(APP_SIZES)
    assert len([p for p in written if p.name.startswith("tray-")]) == 2 * len(IconState)


def test_many_signal_emissions_do_not_abort_the_interpreter() -> None:
    """PySide6 6.12 on Python 3.11 loses a reference to True per emit (see ui/qtcompat.py)."""
    import subprocess
    import sys

    code = (
        "import ui\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "class O(QObject):\n"
        "    s = Signal(object)\n"
        "o = O()\n"
        "o.s.connect(lambda x: None)\n"
        "for i in range(100000):\n"
        "    o.s.emit(i)\n"
        "print('done')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.strip() == "done"


def _status(state: BridgeState, **kw: Any) -> Status:
    return Status(state=state, **kw)


def test_problems_outrank_up_to_date_in_one_headline() -> None:
    unsent = Issue(
        "outbox:1", "Not sent: Price list", "The subject contains a line break", "retry_outbox", "1"
    )
    other = Issue("local:x", "Set-up needed", "No CRM organisation URL is set.", "open_settings")
    assert headline(_status(BridgeState.IDLE)).text == "Up to date"
    assert headline(_status(BridgeState.IDLE)).icon is IconState.IDLE
    up_to_date_with_problem = headline(_status(BridgeState.IDLE), [unsent])
    assert up_to_date_with_problem.text == "1 e-mail not sent"
    assert up_to_date_with_problem.icon is IconState.ATTENTION and up_to_date_with_problem.problem
    assert headline(_status(BridgeState.IDLE), [unsent, replace(unsent, key="outbox:2")]).text == (
        "2 e-mails not sent"
    )
    assert headline(_status(BridgeState.IDLE), [unsent, other]).text == "1 e-mail not sent, Set-up needed"
    # Problems outrank paused and syncing; sign-in and offline outrank the problems.
    assert headline(_status(BridgeState.PAUSED), [unsent]).text == "1 e-mail not sent"
    assert headline(_status(BridgeState.SYNCING), [unsent]).icon is IconState.ATTENTION
    assert headline(_status(BridgeState.CREDENTIALS_NEEDED), [unsent]).text == "Sign-in needed"
    since = datetime(2026, 3, 2, 10, 42).astimezone()
    offline = headline(_status(BridgeState.OFFLINE), [unsent], offline_since=since)
    assert offline.text.startswith("Offline since ") and "10:42" in offline.text
    assert offline.text.endswith("— retrying") and offline.icon is IconState.OFFLINE
    assert headline(_status(BridgeState.PAUSED)).text == "Paused until resumed"
    # The icon mapping and the headline never disagree.
    for state in BridgeState:
        for issues in ([], [unsent]):
            assert headline(_status(state), issues).icon is icon_state(state, len(issues))


def test_outbox_entry_says_each_count_once() -> None:
    assert outbox_entry(None) == "Outbox…"
    assert outbox_entry(_status(BridgeState.IDLE, outbox_failed=1)) == "Outbox (1 not sent)…"
    assert outbox_entry(_status(BridgeState.IDLE, outbox_queued=2, outbox_failed=1)) == (
        "Outbox (2 sending, 1 not sent)…"
    )
