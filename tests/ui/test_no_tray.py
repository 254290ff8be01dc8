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
    asked: list[bool] = []
    monkeypatch.setattr(app_module, "tray_available", lambda: asked.append(False) or False)
    tray_app = app_module.TrayApp(demo.bridge, owns_bridge=False)
    tray_app.start()
    try:
        qtbot.waitUntil(
            lambda: any(isinstance(w, TrackWindow) and w.isVisible() for w in QApplication.topLevelWidgets()),
            timeout=30_000,
        )
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, TrackWindow))
        assert tray_app.without_tray and not tray_app.icon_shown
        # One short wait, not a series of retries: asked at start and once when the wait ends.
        assert len(asked) == 2
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


def test_a_tray_that_appears_later_gets_the_icon_and_the_window_stays(
    qtbot: Any, demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    present = [False]
    monkeypatch.setattr(app_module, "tray_available", lambda: present[0])
    monkeypatch.setattr(app_module, "TRAY_RECHECK_MS", 50)
    tray_app = app_module.TrayApp(demo.bridge, owns_bridge=False)
    shown: list[bool] = []
    monkeypatch.setattr(tray_app.tray, "show", lambda: shown.append(True))
    tray_app.start()
    try:
        qtbot.waitUntil(lambda: tray_app.without_tray, timeout=30_000)
        window = tray_app.tray.windows["track"]
        assert shown == [] and window.isVisible()
        present[0] = True  # the panel has started: the re-check finds its tray
        qtbot.waitUntil(lambda: tray_app.icon_shown, timeout=30_000)
        assert shown == [True] and not tray_app.without_tray
        qtbot.waitUntil(lambda: window.findChild(QLabel, "noTrayBanner") is None, timeout=30_000)
        assert window.isVisible()
        app = QApplication.instance()
        assert isinstance(app, QApplication) and not app.quitOnLastWindowClosed()  # the icon quits now
    finally:
        QApplication.instance().setQuitOnLastWindowClosed(False)  # type: ignore[union-attr]
        tray_app.stop()


def test_a_tray_present_at_start_shows_the_icon_and_no_window(
    qtbot: Any, demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "tray_available", lambda: True)
    tray_app = app_module.TrayApp(demo.bridge, owns_bridge=False)
    shown: list[bool] = []
    monkeypatch.setattr(tray_app.tray, "show", lambda: shown.append(True))
    tray_app.start()
    try:
        assert shown == [True] and tray_app.icon_shown and not tray_app.without_tray
        assert "track" not in tray_app.tray.windows
    finally:
        tray_app.stop()
