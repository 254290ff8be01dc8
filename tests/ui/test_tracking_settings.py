"""Settings → Tracking completed with the mouse only: folders ticked in the mailbox's own tree, a
Regarding chosen with the picker, the never-track list edited, numbers set with their arrows."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QSpinBox,
    QStyle,
    QStyleOptionSpinBox,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
)

from addin.engine.profile_settings import tracked_folders
from addin.mailbox.types import FolderKind
from ui.list_editors import AddressList, FolderPicker, check_address
from ui.settings_dialog import SettingsDialog

pytestmark = pytest.mark.ui
WAIT = 30_000
LEFT = Qt.MouseButton.LeftButton


def _check_box_of(tree: QTreeWidget, item: QTreeWidgetItem) -> QPoint:
    """Where the item's checkbox is drawn, as the style lays it out."""
    opt = QStyleOptionViewItem()
    opt.initFrom(tree)
    opt.rect = tree.visualItemRect(item)
    opt.rect.setWidth(tree.columnWidth(0))
    opt.features = (
        QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
        | QStyleOptionViewItem.ViewItemFeature.HasDisplay
        | QStyleOptionViewItem.ViewItemFeature.HasDecoration
    )
    opt.decorationSize = tree.iconSize() if tree.iconSize().isValid() else opt.decorationSize
    opt.text = item.text(0)
    opt.icon = item.icon(0)
    return tree.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, opt, tree).center()


def _up_arrow_of(spin: QSpinBox) -> QPoint:
    opt = QStyleOptionSpinBox()
    opt.initFrom(spin)
    opt.subControls = QStyle.SubControl.SC_SpinBoxUp
    opt.buttonSymbols = QAbstractSpinBox.ButtonSymbols.UpDownArrows
    opt.stepEnabled = QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
    opt.frame = True
    rect = spin.style().subControlRect(
        QStyle.ComplexControl.CC_SpinBox, opt, QStyle.SubControl.SC_SpinBoxUp, spin
    )
    return rect.center()


def test_tracking_settings_with_the_mouse_only(qtbot: Any, demo: Any) -> None:
    bridge = demo.bridge
    # A salesperson who has used Track with Regarding before: the picker offers those records.
    account = bridge.search_records("Fabrikam", ("account",))[0]
    inbox = next(f for f in bridge.folders() if f.kind is FolderKind.INBOX)
    bridge.track([bridge.messages(inbox.id, limit=1).items[0].id], account)
    bridge.update_settings({"tracking.never_track": ["news@industry.example", "@spam.example"]})
    before = bridge.settings()

    dialog = SettingsDialog(bridge)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(dialog.forms), timeout=WAIT)
    bar = dialog.tabs.tabBar()
    tracking_tab = next(i for i in range(bar.count()) if bar.tabText(i) == "Tracking")
    qtbot.mouseClick(bar, LEFT, pos=bar.tabRect(tracking_tab).center())
    assert dialog.tabs.currentIndex() == tracking_tab
    form = dialog.forms["tracking"]

    # Folders: the mailbox's tree, each with a checkbox.
    picker = form.editors["tracking.tracked_folders"]
    assert isinstance(picker, FolderPicker)
    qtbot.waitUntil(lambda: picker.tree.topLevelItemCount() > 0, timeout=WAIT)
    folder = next(f for f in bridge.folders() if f.kind is not FolderKind.ROOT and f.name == "Drafts")
    item = picker.item_for(folder.path or folder.name)
    assert item is not None and item.checkState(0) == Qt.CheckState.Unchecked
    assert not picker.regarding_button.isEnabled()
    qtbot.mouseClick(picker.tree.viewport(), LEFT, pos=_check_box_of(picker.tree, item))
    assert item.checkState(0) == Qt.CheckState.Checked
    assert picker.regarding_button.isEnabled()

    # Its Regarding, from the picker's recent choices: a click on the record, a click on Choose.
    qtbot.mouseClick(picker.regarding_button, LEFT)
    chooser = picker.picker
    qtbot.waitUntil(lambda: bool(chooser.results_refs()), timeout=WAIT)
    row = next(i for i, r in enumerate(chooser.results_refs()) if r.id == account.id)
    target = chooser.results.visualItemRect(chooser.results.item(row)).center()
    qtbot.mouseClick(chooser.results.viewport(), LEFT, pos=target)
    qtbot.mouseClick(chooser.ok_button, LEFT)
    assert item.text(1) == account.label

    # Never track: select an entry, Remove.
    never = form.editors["tracking.never_track"]
    assert isinstance(never, AddressList)
    first = never.list.item(0)
    qtbot.mouseClick(never.list.viewport(), LEFT, pos=never.list.visualItemRect(first).center())
    qtbot.mouseClick(never.remove_button, LEFT)
    assert never.value() == ["@spam.example"]

    # A checkbox and a number, each with a click.
    skip = form.editors["tracking.skip_internal"]
    assert isinstance(skip, QCheckBox)
    qtbot.mouseClick(skip, LEFT, pos=QPoint(8, skip.height() // 2))
    poll = form.editors["tracking.poll_seconds"]
    assert isinstance(poll, QSpinBox) and poll.suffix() == " seconds"
    assert poll.width() < 250  # sized to its numbers, not stretched across the window
    old_poll = poll.value()
    qtbot.mouseClick(poll, LEFT, pos=_up_arrow_of(poll))
    assert poll.value() == old_poll + 1

    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        qtbot.mouseClick(dialog.save_button, LEFT)
    saved = bridge.settings()
    path = (folder.path or folder.name).strip("/")
    assert saved["tracking.tracked_folders"] == [f"{path} = account:{account.id}"]
    assert saved["tracking.never_track"] == ["@spam.example"]
    assert saved["tracking.skip_internal"] is (not before["tracking.skip_internal"])
    assert saved["tracking.poll_seconds"] == old_poll + 1
    # The core reads the folder with its Regarding from what the picker stored.
    assert {p: (r.table, r.id) if r else None for p, r in tracked_folders(bridge.profile).items()} == {
        path: ("account", account.id)
    }


def test_saved_folders_come_back_ticked_and_unknown_ones_are_kept(qtbot: Any, demo: Any) -> None:
    bridge = demo.bridge
    account = bridge.search_records("Fabrikam", ("account",))[0]
    gone_record = "account:00000000-0000-0000-0000-00000000dead"
    lines = [f"Drafts = account:{account.id}", f"Outbox = {gone_record}", "Projects/Gone"]
    bridge.update_settings({"tracking.tracked_folders": lines})
    dialog = SettingsDialog(bridge, tab="tracking")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(dialog.forms), timeout=WAIT)
    picker = dialog.forms["tracking"].editors["tracking.tracked_folders"]
    assert isinstance(picker, FolderPicker)
    qtbot.waitUntil(lambda: picker.tree.topLevelItemCount() > 0, timeout=WAIT)
    drafts = picker.item_for("Drafts")
    assert drafts is not None and drafts.checkState(0) == Qt.CheckState.Checked
    assert drafts.text(1) == account.label  # the record's name, read from the CRM, not its id
    outbox = picker.item_for("Outbox")
    assert outbox is not None and outbox.text(1) == "Account 00000000…"  # deleted in the CRM: kept
    gone = picker.item_for("Projects/Gone")
    assert gone is not None and "not found" in gone.text(0)
    assert picker.value() == lines  # nothing is lost by opening and saving


def test_never_track_entries_are_validated(qtbot: Any) -> None:
    editor = AddressList("Never track")
    qtbot.addWidget(editor)
    for good in ("anna@example.com", "@example.com", "example.co.uk"):
        assert check_address(good) is None, good
    for bad in ("anna", "anna@", "two words@example.com", "@", "example"):
        assert check_address(bad) is not None, bad
    qtbot.keyClicks(editor.entry, "not an address")
    assert not editor.add()
    assert editor.error.isVisibleTo(editor) and "neither" in editor.error.text()
    assert editor.value() == []
    editor.entry.setText("@example.com")
    assert editor.add() and editor.value() == ["@example.com"] and not editor.error.isVisibleTo(editor)
    editor.entry.setText("@EXAMPLE.com")
    assert not editor.add() and "already" in editor.error.text()
