"""Settings → Mail clients: native host registration and pinned Regarding records, on the real
facade against both sandboxes; the picker's Pin button."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from addin.native.registration import HostRegistry
from ui.mail_clients_panel import MailClientsPanel
from ui.regarding_picker import RegardingPicker

WAIT = 30_000
USER = "alex@contoso.example"


def _master_list(demo: Any) -> list[str]:
    return [name for _, name, _ in demo.mail.store.categories(USER)]


def test_register_and_remove_the_native_host(qtbot: Any, demo: Any, tmp_path: Path) -> None:
    registry = HostRegistry(system="Linux", home=tmp_path / "home", data_dir=tmp_path / "data")
    panel = MailClientsPanel(demo.bridge, registry=registry)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: "not registered" in panel.host_state.text(), timeout=WAIT)
    assert not panel.remove_button.isEnabled()
    with qtbot.waitSignal(panel.changed, timeout=WAIT):
        qtbot.mouseClick(panel.register_button, Qt.MouseButton.LeftButton)
    assert "Registered for Thunderbird" in panel.host_state.text()
    assert registry.status() is not None and panel.remove_button.isEnabled()
    with qtbot.waitSignal(panel.changed, timeout=WAIT):
        qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert registry.status() is None and "not registered" in panel.host_state.text()


def test_pin_in_the_picker_then_unpin_in_the_panel(qtbot: Any, demo: Any, tmp_path: Path) -> None:
    picker = RegardingPicker(demo.bridge)
    qtbot.addWidget(picker)
    with qtbot.waitSignal(picker.searchFinished, timeout=WAIT):
        qtbot.keyClicks(picker.search, "Fabrikam")
    ref = picker.results_refs()[0]
    qtbot.mouseClick(picker.pin_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: picker.status.text().startswith("Pinned"), timeout=WAIT)
    category = next(n for n in _master_list(demo) if n.startswith("CRM ▸ "))
    assert ref.name in category

    registry = HostRegistry(system="Linux", home=tmp_path / "home", data_dir=tmp_path / "data")
    panel = MailClientsPanel(demo.bridge, registry=registry)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.pins.count() == 1, timeout=WAIT)
    assert panel.pins.item(0).text() == ref.label
    panel.pins.setCurrentRow(0)
    with qtbot.waitSignal(panel.changed, timeout=WAIT):
        qtbot.mouseClick(panel.unpin_button, Qt.MouseButton.LeftButton)
    assert panel.pins.count() == 0 and panel.status.text().startswith("Saved")
    assert category not in _master_list(demo)
