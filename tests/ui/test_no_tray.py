"""A desktop without a system tray: the app runs in its Track window and says so."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QLabel

from ui import app as app_module
from ui.track_window import TrackWindow

pytestmark = pytest.mark.ui


def test_without_a_system_tray_the_track_window_opens_and_says_why(
    qtbot: Any, demo: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The one seam: the desktop's answer to "is there a system tray?" (offscreen has none to ask).
    monkeypatch.setattr(app_module, "tray_available", lambda: False)
    monkeypatch.setattr(app_module, "TRAY_WAIT_TRIES", 2)
    monkeypatch.setattr(app_module, "TRAY_RETRY_MS", 10)
    tray_app = app_module.TrayApp(demo.bridge, owns_bridge=False)
    tray_app.start()
    try:
        qtbot.waitUntil(
            lambda: any(isinstance(w, TrackWindow) and w.isVisible() for w in QApplication.topLevelWidgets()),
            timeout=30_000,
        )
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, TrackWindow))
        assert tray_app.without_tray
        # A banner that stays while the window loads (its status line is rewritten as folders load).
        qtbot.waitUntil(lambda: bool(window.model.items), timeout=30_000)
        banner = window.findChild(QLabel, "noTrayBanner")
        assert banner is not None and banner.isVisible() and "no system tray" in banner.text()
        assert app_module.NO_TRAY_MESSAGE in capsys.readouterr().err
        # No icon to quit from: closing the window must end the app, not leave it running unseen.
        app = QApplication.instance()
        assert isinstance(app, QApplication) and app.quitOnLastWindowClosed()
    finally:
        QApplication.instance().setQuitOnLastWindowClosed(False)  # type: ignore[union-attr]
        tray_app.stop()
