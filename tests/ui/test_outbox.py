"""Outbox window and failure notifications: CRM e-mails leaving through the sandbox mailbox."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from ui_support import contact_addresses, crm_patch, crm_rows

from addin.bridge_types import OutboxState
from ui.bridge_adapter import BridgeAdapter
from ui.outbox_window import COLUMNS, OutboxWindow
from ui.tray import Tray

pytestmark = pytest.mark.ui
WAIT = 30_000


def _sent_copies(demo: Any, activity_id: str) -> int:
    from addin.demo import USER

    return sum(
        1
        for item in demo.mail.items(USER, "sentitems")
        if item["extended_properties"].get("CrmBridgeActivityId") == activity_id
    )


def _status(demo: Any, activity_id: str) -> int:
    rows = crm_rows(demo, f"emails?$select=statuscode&$filter=activityid eq {activity_id}")
    return int(rows[0]["statuscode"])


def test_a_crm_email_leaves_through_the_outbox(qtbot: Any, demo: Any) -> None:
    to = contact_addresses(demo)[0]
    activity_id = demo.crm.queue_email(to, "Proposal for the spring order", "<p>Here it is.</p>")
    tray = Tray(demo.bridge)
    window = OutboxWindow(demo.bridge, tray.adapter)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: any(i.activity_id == activity_id for i in window.items), timeout=WAIT)
    item = next(i for i in window.items if i.activity_id == activity_id)
    assert item.state in (OutboxState.QUEUED, OutboxState.SENDING)
    assert window.select_activity(activity_id)
    assert window.table.item(window.table.currentRow(), 1).text().startswith("Proposal for the spring order")
    assert not window.retry_button.isEnabled()  # nothing to retry while queued

    # "Send now" wakes the outbox; the window follows OutboxChanged events on its own.
    qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(i.activity_id != activity_id for i in window.items), timeout=WAIT)
    qtbot.waitUntil(lambda: _status(demo, activity_id) == 3, timeout=WAIT)  # Sent
    assert _sent_copies(demo, activity_id) == 1
    sent = [e for e in demo.bridge.recent_activity(50) if e.action == "sent" and e.activity_id == activity_id]
    assert len(sent) == 1
    tray.close()


def test_failure_is_notified_with_retry_and_retry_sends(qtbot: Any, demo: Any) -> None:
    to = contact_addresses(demo)[1]
    # A subject carrying CR/LF cannot go out as a header: the send fails with a reason.
    activity_id = demo.crm.queue_email(to, "Quote\r\nBcc: attacker@evil.example", "<p>Hi</p>")
    tray = Tray(demo.bridge)
    tray.notifier._timer.setInterval(200)  # coalescing window, shortened for the test
    notes: list[Any] = []
    tray.notified.connect(notes.append)

    tray.rebuild_menu()
    tray.action("Sync now").trigger()
    qtbot.waitUntil(lambda: any(n.error for n in notes), timeout=WAIT)
    note = next(n for n in notes if n.error)
    assert note.action == "retry_outbox" and note.target == activity_id
    assert "header" in note.message.lower() or "line" in note.message.lower(), note.message

    # The failure stays in the menu as an issue with Retry, and the icon asks for attention.
    qtbot.waitUntil(lambda: any(i.target == activity_id for i in tray.issues), timeout=WAIT)
    assert tray.icon_state() == "attention"
    tray.rebuild_menu()
    issue_menu = next(a for a in tray.menu.actions() if a.text().startswith("⚠ Not sent"))
    assert "Retry" in [a.text() for a in issue_menu.menu().actions()]
    outbox_entry = tray.action("Outbox")
    assert outbox_entry is not None and "1 not sent" in outbox_entry.text()

    # The person fixes the subject in the CRM, then clicks the notification (Retry).
    crm_patch(demo, f"emails({activity_id})", {"subject": "Quote"})
    tray._on_message_clicked()
    window = tray.windows["outbox"]
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: _status(demo, activity_id) == 3, timeout=WAIT)  # Sent
    assert _sent_copies(demo, activity_id) == 1
    qtbot.waitUntil(lambda: not any(i.target == activity_id for i in tray.issues), timeout=WAIT)
    qtbot.waitUntil(lambda: all(i.activity_id != activity_id for i in window.items), timeout=WAIT)
    tray.close()


def test_retry_button_in_the_outbox_window(qtbot: Any, demo: Any) -> None:
    to = contact_addresses(demo)[2]
    activity_id = demo.crm.queue_email(to, "Bad\nsubject", "<p>Hi</p>")
    demo.bridge.sync_now()
    window = OutboxWindow(demo.bridge)
    qtbot.addWidget(window)
    window.show()

    def failed() -> bool:
        window.refresh()
        return any(i.activity_id == activity_id and i.state is OutboxState.FAILED for i in window.items)

    qtbot.waitUntil(failed, timeout=WAIT)
    assert window.select_activity(activity_id)
    row = window.table.currentRow()
    assert window.table.item(row, 0).text() == "Failed"
    assert window.table.item(row, 3).text()  # the reason is shown
    assert window.retry_button.isEnabled()
    crm_patch(demo, f"emails({activity_id})", {"subject": "Good subject"})
    with qtbot.waitSignal(window.retried, timeout=WAIT):
        qtbot.mouseClick(window.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _status(demo, activity_id) == 3, timeout=WAIT)
    assert _sent_copies(demo, activity_id) == 1


def test_outbox_says_when_sending_is_paused(qtbot: Any, demo: Any) -> None:
    demo.bridge.pause(None)
    demo.crm.queue_email(contact_addresses(demo)[3], "Waits while paused", "<p>Hi</p>")
    window = OutboxWindow(demo.bridge)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: "Paused" in window.status.text(), timeout=WAIT)
    assert [i.state for i in window.items] == [OutboxState.QUEUED]
    # Nothing can go while paused: Send now is not offered, and says why.
    assert not window.sync_button.isEnabled() and "paused" in window.sync_button.toolTip().lower()
    assert window.table.item(0, COLUMNS.index("Attempts")).text() == "0"
    # Resumed, it goes out on its own; Send now is offered again while anything waits.
    adapter = BridgeAdapter(demo.bridge)
    adapter.stateChanged.connect(window._on_state)
    demo.bridge.resume()
    qtbot.waitUntil(lambda: not window.paused, timeout=WAIT)
    assert window.sync_button.isEnabled() or not any(i.state is OutboxState.QUEUED for i in window.items)
    adapter.close()
