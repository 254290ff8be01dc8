"""The application as a whole: first run, drops, crash dialog, accessibility of every window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)
from ui_support import contact_addresses, crm_rows, customer_mime

from ui import app as app_module
from ui import crash_dialog
from ui.activity_window import ActivityWindow
from ui.outbox_window import OutboxWindow
from ui.regarding_picker import RegardingPicker
from ui.settings_dialog import SettingsDialog
from ui.track_window import TrackWindow
from ui.wizard import SetupWizard

pytestmark = pytest.mark.ui
WAIT = 30_000


def test_first_run_without_settings_opens_the_wizard(qtbot: Any) -> None:
    """``crm-bridge`` on a fresh account: no profile yet, so the wizard opens instead of a crash."""
    seen: list[str] = []

    def check() -> None:
        wizards = [w for w in QApplication.topLevelWidgets() if isinstance(w, SetupWizard) and w.isVisible()]
        if wizards:
            seen.append(wizards[0].windowTitle())
            # The engine waits for the wizard: nothing runs, so nothing nags about missing settings.
            seen.append(wizards[0].bridge._scheduler.state.value)
            QApplication.quit()
        else:
            QTimer.singleShot(50, check)

    QTimer.singleShot(50, check)
    QTimer.singleShot(20_000, QApplication.quit)  # never hang the suite
    assert app_module.main([]) == 0
    assert seen == ["Set up CRM Bridge", "starting"]


def test_demo_bridge_runs_under_main_until_quit(qtbot: Any, demo: Any) -> None:
    demo.bridge.stop()  # main() starts the bridge it is given, as `crm-bridge demo` expects
    from addin.demo import start_demo

    env = start_demo(demo.root / "second")
    opened: list[QWidget] = []

    def check() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, OutboxWindow) and w.isVisible()]
        if windows:
            opened.extend(windows)
            QApplication.quit()
        else:
            QTimer.singleShot(50, check)

    QTimer.singleShot(50, check)
    QTimer.singleShot(20_000, QApplication.quit)
    try:
        assert app_module.main(["--show", "outbox"], bridge=env.bridge) == 0
        assert opened
        assert env.bridge._scheduler.state.value != "starting"  # the engine ran
    finally:
        for w in opened:
            w.close()
        env.close()


def test_files_dropped_on_the_track_window(qtbot: Any, demo: Any, tmp_path: Path) -> None:
    window = TrackWindow(demo.bridge)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: bool(window.model.items), timeout=WAIT)
    eml = tmp_path / "dropped.eml"
    eml.write_bytes(customer_mime(contact_addresses(demo)[3], "Dropped on the window"))
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(eml)), QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    event = QDropEvent(
        QPointF(QPoint(20, 20)),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.actionFinished, timeout=WAIT):
        window.dropEvent(event)
    assert "1 tracked" in window.status.text(), window.status.text()
    assert len(crm_rows(demo, "emails?$select=subject&$filter=subject eq 'Dropped on the window'")) == 1


def test_unexpected_errors_show_the_crash_dialog(qtbot: Any) -> None:
    try:
        raise RuntimeError("unexpected")
    except RuntimeError as exc:
        crash_dialog.excepthook(type(exc), exc, exc.__traceback__)
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, crash_dialog.CrashDialog)]
    assert dialogs and dialogs[-1].isVisible()
    assert "RuntimeError: unexpected" in dialogs[-1].details.toPlainText()
    for d in dialogs:
        d.close()


def _inside_composite(w: QWidget) -> bool:
    parent = w.parentWidget()
    while parent is not None:
        if isinstance(parent, QLineEdit | QAbstractItemView | QComboBox | QAbstractSpinBox):
            return True
        parent = parent.parentWidget()
    return type(w.parentWidget()).__name__ == "QComboBoxPrivateContainer"


def _unnamed(root: QWidget) -> list[str]:
    """Interactive widgets a screen reader could not name."""
    missing = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, QAbstractButton | QLineEdit | QComboBox | QAbstractItemView | QPlainTextEdit):
            continue
        if isinstance(w, QHeaderView) or _inside_composite(w):
            continue  # internal parts of composite widgets (clear buttons, headers, corners)
        if w.objectName().startswith("qt_"):
            continue  # Qt's own internals (scroll bars, spin box buttons, wizard buttons)
        text = w.text().replace("&", "") if isinstance(w, QAbstractButton) else ""
        if not (w.accessibleName() or text):
            missing.append(f"{type(w).__name__} {w.objectName()!r}")
    return missing


def test_every_window_names_its_controls(qtbot: Any, demo: Any) -> None:
    windows: list[QWidget] = [
        TrackWindow(demo.bridge),
        RegardingPicker(demo.bridge),
        OutboxWindow(demo.bridge),
        ActivityWindow(demo.bridge),
        SettingsDialog(demo.bridge),
        SetupWizard(demo.bridge, demo.bridge.settings()),
    ]
    for w in windows:
        qtbot.addWidget(w)
        w.show()
    settings = windows[4]
    assert isinstance(settings, SettingsDialog)
    qtbot.waitUntil(lambda: bool(settings.forms), timeout=WAIT)
    for w in windows:
        assert w.accessibleName(), type(w).__name__
        assert _unnamed(w) == [], (type(w).__name__, _unnamed(w))


def test_a_damaged_settings_file_is_reported_by_the_tray(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is kept aside, the app starts from defaults (here: the wizard) and says so."""
    import os

    from ui.tray import Tray

    path = Path(os.environ["CRM_BRIDGE_HOME"]) / "config" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"version": "1", "profiles": "default"}')
    reported: list[Any] = []
    original = Tray.set_error

    def record(self: Tray, error: Any) -> None:
        reported.append(error)
        original(self, error)

    monkeypatch.setattr(Tray, "set_error", record)

    def check() -> None:
        if reported:
            QApplication.quit()
        else:
            QTimer.singleShot(50, check)

    QTimer.singleShot(50, check)
    QTimer.singleShot(20_000, QApplication.quit)
    assert app_module.main([]) == 0
    assert [e.title for e in reported] == ["Settings restored"]
    assert "damaged" in reported[0].message and str(path) in reported[0].message
    assert list(path.parent.glob("config.json.corrupt-*"))
    for widget in QApplication.topLevelWidgets():
        widget.close()
