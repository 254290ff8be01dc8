"""Track window and Regarding picker against the sandbox Exchange and CRM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from ui_support import contact_addresses, crm_rows, customer_mime

from addin.bridge_types import MailItem
from ui import batches
from ui.mail_model import COL_CRM, BadgeRole
from ui.regarding_picker import RegardingPicker
from ui.track_window import TrackWindow

pytestmark = pytest.mark.ui
WAIT = 30_000


def _address(sender: str) -> str:
    return sender.rpartition("<")[2].rstrip(">").strip().lower()


def _open(qtbot: Any, demo: Any) -> TrackWindow:
    window = TrackWindow(demo.bridge)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.current_folder() is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: bool(window.model.items) and not window.model.loading, timeout=WAIT)
    return window


def _customer_row(window: TrackWindow, demo: Any, skip: int = 0) -> int:
    contacts = set(contact_addresses(demo))
    rows = [
        i
        for i, m in enumerate(window.model.items)
        if not m.tracked and not m.private and _address(m.sender) in contacts
    ]
    assert len(rows) > skip, "the demo inbox has mail from CRM contacts"
    return rows[skip]


def _item(window: TrackWindow, item_id: str) -> MailItem:
    return next(m for m in window.model.items if m.id == item_id)


def test_track_a_message_with_regarding(qtbot: Any, demo: Any) -> None:
    window = _open(qtbot, demo)
    assert window.current_folder().kind == "inbox"
    row = _customer_row(window, demo)
    item_id = window.model.items[row].id
    window.select_rows([row])
    assert window.track_regarding_button.isEnabled()
    assert not window.untrack_button.isEnabled()

    qtbot.mouseClick(window.track_regarding_button, Qt.MouseButton.LeftButton)
    picker = window.picker
    assert isinstance(picker, RegardingPicker) and picker.isVisible()
    with qtbot.waitSignal(picker.searchFinished, timeout=WAIT):
        qtbot.keyClicks(picker.search, "Fabrikam")
    refs = picker.results_refs()
    assert refs, picker.status.text()
    assert all("Fabrikam" in r.name for r in refs)
    # Choose the opportunity with the keyboard: filter to opportunities, Return picks the first.
    picker.table.setCurrentIndex(picker.table.findData("opportunity"))
    qtbot.waitUntil(
        lambda: bool(picker.results_refs()) and picker.results_refs()[0].table == "opportunity", timeout=WAIT
    )
    chosen = picker.results_refs()[0]
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        qtbot.keyClick(picker.results, Qt.Key.Key_Return)
    assert "1 tracked" in window.status.text(), window.status.text()

    qtbot.waitUntil(lambda: _item(window, item_id).tracked and not window.model.loading, timeout=WAIT)
    tracked = _item(window, item_id)
    assert tracked.regarding is not None and tracked.regarding.id == chosen.id
    # The row shows a Tracked badge with the Regarding record as a chip.
    cell = window.model.index(window.model.items.index(tracked), COL_CRM)
    assert window.model.data(cell) == f"Tracked: {chosen.name}"
    assert window.model.data(cell, BadgeRole) == ("Tracked", "ok", chosen.name)
    # The selection stayed on the message, so the next action needs no new click.
    assert [i.id for i in window.selected_items()] == [item_id]
    # The CRM holds one e-mail activity for it, regarding the chosen opportunity.
    rows = crm_rows(
        demo, f"emails?$select=_regardingobjectid_value&$filter=activityid eq {tracked.activity_id}"
    )
    assert [r["_regardingobjectid_value"] for r in rows] == [chosen.id]
    # The choice is remembered: offered first next time, before other matches too.
    assert demo.bridge.recent_regarding()[0].id == chosen.id
    again = RegardingPicker(demo.bridge)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: bool(again.results_refs()), timeout=WAIT)
    assert again.results_refs()[0].id == chosen.id
    assert again.results.item(0).text().endswith("(recent)")
    with qtbot.waitSignal(again.searchFinished, timeout=WAIT):
        qtbot.keyClicks(again.search, "Fab")
    refs = again.results_refs()
    assert refs[0].id == chosen.id and len(refs) > 1


def test_track_untrack_and_open(qtbot: Any, demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    window = _open(qtbot, demo)
    rows = [_customer_row(window, demo, 0), _customer_row(window, demo, 1)]
    ids = [window.model.items[r].id for r in rows]
    window.select_rows(rows)
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        qtbot.mouseClick(window.track_button, Qt.MouseButton.LeftButton)
    assert "2 tracked" in window.status.text(), window.status.text()
    qtbot.waitUntil(
        lambda: all(_item(window, i).tracked for i in ids) and not window.model.loading, timeout=WAIT
    )

    # Open in CRM goes to the activity's main.aspx page.
    opened: list[str] = []
    monkeypatch.setattr("ui.track_window.QDesktopServices.openUrl", lambda url: opened.append(url.toString()))
    window.select_rows([window.model.items.index(_item(window, ids[0]))])
    window.open_in_crm()
    assert opened and f"id={_item(window, ids[0]).activity_id}" in opened[0]

    # Untrack both.
    window.select_rows([window.model.items.index(_item(window, i)) for i in ids])
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        qtbot.mouseClick(window.untrack_button, Qt.MouseButton.LeftButton)
    assert "2 untracked" in window.status.text(), window.status.text()
    qtbot.waitUntil(
        lambda: not any(_item(window, i).tracked for i in ids) and not window.model.loading, timeout=WAIT
    )


def test_set_regarding_on_a_tracked_message(qtbot: Any, demo: Any) -> None:
    window = _open(qtbot, demo)
    rows = [_customer_row(window, demo, 0)]
    ids = [window.model.items[rows[0]].id]
    window.select_rows(rows)
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        window.track()
    qtbot.waitUntil(lambda: _item(window, ids[0]).tracked and not window.model.loading, timeout=WAIT)
    # Set Regarding on one tracked message, picking an account by search.
    window.select_rows([window.model.items.index(_item(window, ids[0]))])
    assert window.set_regarding_button.isEnabled() and window.untrack_button.isEnabled()
    window.set_regarding()
    picker = window.picker
    with qtbot.waitSignal(picker.searchFinished, timeout=WAIT):
        qtbot.keyClicks(picker.search, "Northwind")
    account = next(r for r in picker.results_refs() if r.table == "account")
    picker.results.setCurrentRow(picker.results_refs().index(account))
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        picker.accept()
    assert "failed" not in window.status.text().lower(), window.status.text()
    qtbot.waitUntil(lambda: not window.model.loading, timeout=WAIT)
    regarding = _item(window, ids[0]).regarding
    assert regarding is not None and regarding.id == account.id


def test_search_and_paging(qtbot: Any, demo: Any) -> None:
    window = _open(qtbot, demo)
    first_page = len(window.model.items)
    if window.model.canFetchMore():
        window.model.fetchMore()
        qtbot.waitUntil(
            lambda: len(window.model.items) > first_page and not window.model.loading, timeout=WAIT
        )
    subject = window.model.items[0].subject
    word = max(subject.split(), key=len)
    window.search.setText(word)
    qtbot.waitUntil(lambda: window.model.text == word and not window.model.loading, timeout=WAIT)
    assert window.model.items
    assert all(word.lower() in (m.subject + m.sender).lower() for m in window.model.items)


def test_dropped_eml_and_msg_are_tracked_and_a_broken_file_fails_with_a_reason(
    qtbot: Any, demo: Any, tmp_path: Path
) -> None:
    window = _open(qtbot, demo)
    sender = contact_addresses(demo)[0]
    eml = tmp_path / "quote.eml"
    eml.write_bytes(customer_mime(sender, "Dropped quote request"))
    outlook = tmp_path / "outer.msg"
    outlook.write_bytes((Path(__file__).parents[1] / "data" / "msg" / "outer.msg").read_bytes())
    broken = tmp_path / "broken.msg"
    broken.write_bytes(b"\xd0\xcf\x11\xe0not really")
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        window.track_files([eml, outlook, broken])
    text = window.status.text()
    assert "2 tracked" in text and "1 failed" in text and "broken.msg" in text, text
    rows = crm_rows(demo, "emails?$select=subject&$filter=subject eq 'Dropped quote request'")
    assert len(rows) == 1
    assert len(crm_rows(demo, "emails?$select=subject&$filter=subject eq 'outer subject'")) == 1


def test_regarding_search_keeps_the_gui_responsive(qtbot: Any, demo: Any) -> None:
    """The CRM answers after 2 s; the GUI thread keeps ticking every 50 ms meanwhile."""
    picker = RegardingPicker(demo.bridge)
    qtbot.addWidget(picker)
    picker.show()
    qtbot.waitUntil(lambda: not picker.status.text().startswith("Loading"), timeout=WAIT)
    demo.crm.faults.update({"latency_ms": 2000})
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    picker.search.setText("Fabrikam")
    picker.run_search()  # skip the debounce: the call starts now
    with qtbot.waitSignal(picker.searchFinished, timeout=WAIT):
        pass
    timer.stop()
    demo.crm.faults.update({"latency_ms": 0})
    # A blocked GUI thread would have ticked at most once or twice in that time.
    assert len(ticks) >= 20, len(ticks)


def test_stale_search_results_are_ignored(qtbot: Any, demo: Any) -> None:
    picker = RegardingPicker(demo.bridge)
    qtbot.addWidget(picker)
    qtbot.waitUntil(lambda: not picker.status.text().startswith("Loading"), timeout=WAIT)
    demo.crm.faults.update({"latency_ms": 800})
    picker.search.setText("Fabrikam")
    picker.run_search()
    slow = picker._task
    picker.search.setText("Northwind")
    picker.run_search()  # supersedes the first; its answer must not show
    assert slow is not None and not slow.active
    with qtbot.waitSignal(picker.searchFinished, timeout=WAIT):
        pass
    demo.crm.faults.update({"latency_ms": 0})
    refs = picker.results_refs()
    assert refs and all("Northwind" in r.name for r in refs)


def test_a_long_track_shows_progress_and_cancel_stops_the_rest(
    qtbot: Any, demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "BATCH_SIZE", 1)  # one message per call: Cancel can act between them
    window = _open(qtbot, demo)
    rows = [_customer_row(window, demo, n) for n in range(4)]
    ids = [window.model.items[r].id for r in rows]
    window.select_rows(rows)
    demo.crm.faults.update({"latency_ms": 300})  # every CRM answer is slow: the action takes a while
    with qtbot.waitSignal(window.actionProgress, timeout=WAIT) as first:
        window.track()
        assert window.progress_row.isVisibleTo(window) and window.cancel_button.isEnabled()
        assert not window.track_button.isEnabled()  # no second action while one runs
    assert first.args[1] == 4
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    demo.crm.faults.update({"latency_ms": 0})
    text = window.status.text()
    assert "not done (cancelled)" in text, text
    skipped = int(text.split(" not done (cancelled)")[0].split()[-1])
    assert 1 <= skipped <= 3, text
    qtbot.waitUntil(lambda: not window.model.loading, timeout=WAIT)
    tracked = [i for i in ids if _item(window, i).tracked]
    assert len(tracked) == 4 - skipped  # the messages after Cancel were never sent to the CRM
    for i in ids:  # each row says what happened to it
        cell = window.model.index(window.model.items.index(_item(window, i)), COL_CRM)
        assert window.model.data(cell) == ("Tracked" if i in tracked else "Cancelled")
    subjects = {_item(window, i).subject for i in ids if i not in tracked}
    for subject in subjects:
        quoted = subject.replace("'", "''")
        assert crm_rows(demo, f"emails?$select=subject&$filter=subject eq '{quoted}'") == []
    assert not window.progress_row.isVisibleTo(window)
    # The selection is kept: what is left can be tracked with one more click.
    assert sorted(i.id for i in window.selected_items()) == sorted(ids)


def test_keyboard_shortcuts_and_failures_shown_on_the_row(qtbot: Any, demo: Any) -> None:
    window = _open(qtbot, demo)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search.hasFocus()
    row = _customer_row(window, demo)
    item_id = window.model.items[row].id
    window.select_rows([row])
    window.table.setFocus()
    # The CRM refuses the next write: the failure is shown on the row itself, with its reason.
    demo.crm.faults.update({"fail_next": [{"status": 400}] * 5, "match": "POST "})
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        qtbot.keyClick(window.table, Qt.Key.Key_Return)
    demo.crm.faults.clear()
    qtbot.waitUntil(lambda: not window.model.loading, timeout=WAIT)
    cell = window.model.index(window.model.items.index(_item(window, item_id)), COL_CRM)
    text, kind, _chip = window.model.data(cell, BadgeRole)
    assert (text, kind) in (("Failed", "error"), ("Queued", "pending")), window.status.text()
    assert window.model.data(cell, Qt.ItemDataRole.ToolTipRole) or kind == "pending"
    # Ctrl+R asks for a Regarding for the selection.
    window.select_rows([window.model.items.index(_item(window, item_id))])
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert window.picker is not None and window.picker.isVisible()
    window.picker.reject()
    # Enter again tracks it now that the CRM answers.
    window.select_rows([window.model.items.index(_item(window, item_id))])
    window.table.setFocus()
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        qtbot.keyClick(window.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: _item(window, item_id).tracked and not window.model.loading, timeout=WAIT)
