"""Entry point of the tray application: ``crm-bridge`` with no subcommand, and ``crm-bridge demo``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication, QBoxLayout, QLabel, QSystemTrayIcon

from addin.errors import BridgeError
from addin.facade import BridgeFacade
from ui import crash_dialog, tasks, theme
from ui.icons import app_icon
from ui.notifications import Note
from ui.single_instance import SingleInstance
from ui.tray import Tray
from ui.wizard import needs_setup

log = logging.getLogger(__name__)

WINDOWS = ("track", "outbox", "activity", "settings", "wizard")
# A tray missing at start may be a panel still starting (QTBUG-61898): wait this long for it
# (woken at once by a StatusNotifier host registering on D-Bus), then open the Track window.
TRAY_GRACE_MS = 500
# After that, a tray that appears (a panel started or restarted) still gets the icon.
TRAY_RECHECK_MS = 15_000
STATUS_NOTIFIER_WATCHER = "org.kde.StatusNotifierWatcher"
NO_TRAY_MESSAGE = (
    "This desktop has no system tray, so CRM Bridge runs in its Track window instead; "
    "closing the window quits CRM Bridge."
)


def tray_available() -> bool:
    """Whether the desktop shows tray icons (one seam, so tests can answer "no")."""
    return bool(QSystemTrayIcon.isSystemTrayAvailable())


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="crm-bridge", add_help=True)
    parser.add_argument("--profile", default=None, help="configuration profile to use")
    parser.add_argument("--show", choices=WINDOWS, help="open this window at start")
    parser.add_argument("--minimized", action="store_true", help="start in the tray only")
    parser.add_argument("--quit", action="store_true", help="ask a running tray to quit, then exit")
    args, _unknown = parser.parse_known_args(list(argv))  # Qt's own options pass through
    return args


class TrayApp:
    """Wires the bridge, the tray and the single-instance channel; kept apart from main() for tests."""

    def __init__(self, bridge: BridgeFacade, *, show: str | None = None, owns_bridge: bool = True) -> None:
        self.bridge = bridge
        self.owns_bridge = owns_bridge
        self.tray = Tray(bridge)
        self._show = show
        self.icon_shown = False
        self._tray_watch: list[QObject] = []  # the D-Bus watcher and the re-check timer, if any
        self.started = False
        self.without_tray = False

    def start(self) -> None:
        self._show_icon()
        tasks.run(self.bridge.settings, on_done=self._first_run, on_error=self._settings_failed)

    def _start_engine(self) -> None:
        if self.started:
            return
        try:
            self.bridge.start()
            self.started = True
        except BridgeError as exc:
            # E.g. "already running" from another copy on the profile: show it, keep the tray usable.
            self.tray.set_error(exc)
        self.tray.refresh()

    def _settings_failed(self, error: BridgeError) -> None:
        log.warning("cannot read settings: %s", error)
        self._start_engine()

    def _first_run(self, values: dict[str, Any]) -> None:
        if needs_setup(values):
            # Nothing to sync yet: start the engine once the wizard saved a working setup,
            # rather than greeting a new user with "needs attention" notifications.
            wizard = self.tray.open_wizard(values)
            wizard.saved.connect(self._start_engine)
            return
        self._start_engine()
        if self._show:
            self.handle_message(f"show {self._show}")
        self.check_for_update(str(values.get("general.update_feed") or ""))

    def check_for_update(self, feed: str) -> None:
        """Once per start, only with a release feed set; says so, never installs (addin/updates.py)."""
        if not feed:
            return
        from addin import updates

        def checked(info: updates.UpdateInfo) -> None:
            if info.state is updates.UpdateState.NEWER:
                self.tray._notify(Note("Update available", info.message(), error=False))

        tasks.run(updates.check, feed, on_done=checked, on_error=lambda e: log.info("update check: %s", e))

    def _show_icon(self) -> None:
        if tray_available():
            self._icon_now()
            return
        # Not there yet: a short wait, ended early by the tray appearing; never ten seconds of
        # nothing on screen.  Afterwards the window is up and a late tray still gets the icon.
        self._watch_for_tray()
        QTimer.singleShot(TRAY_GRACE_MS, self._grace_over)

    def _grace_over(self) -> None:
        if self.icon_shown:
            return
        if tray_available():
            self._icon_now()
            return
        self.no_tray()
        timer = QTimer()
        timer.setInterval(TRAY_RECHECK_MS)
        timer.timeout.connect(self.tray_appeared)
        timer.start()
        self._tray_watch.append(timer)

    def _watch_for_tray(self) -> None:
        """A StatusNotifier host (KDE, GNOME's AppIndicator, most Linux panels) registers on the
        session bus: be told at once.  Elsewhere (XEmbed trays) the timers ask instead."""
        try:
            from PySide6.QtDBus import QDBusConnection, QDBusServiceWatcher
        except ImportError:
            return
        bus = QDBusConnection.sessionBus()
        if not bus.isConnected():
            return
        watcher = QDBusServiceWatcher(
            STATUS_NOTIFIER_WATCHER, bus, QDBusServiceWatcher.WatchModeFlag.WatchForRegistration
        )
        watcher.serviceRegistered.connect(lambda _name: QTimer.singleShot(200, self.tray_appeared))
        self._tray_watch.append(watcher)

    def tray_appeared(self) -> None:
        """Show the icon if the desktop now has a tray (the window, if open, stays open)."""
        if not self.icon_shown and tray_available():
            self._icon_now()

    def _icon_now(self) -> None:
        self.icon_shown = True
        for watch in self._tray_watch:
            if isinstance(watch, QTimer):
                watch.stop()
            watch.deleteLater()
        self._tray_watch.clear()
        self.tray.show()
        if self.without_tray:
            # The icon is there to quit from again; the banner goes, the window stays open.
            log.info("a system tray appeared; the icon is shown")
            self.without_tray = False
            window = self.tray.windows.get("track")
            banner = window.findChild(QLabel, "noTrayBanner") if window is not None else None
            if banner is not None:
                banner.deleteLater()
            app = QApplication.instance()
            if isinstance(app, QApplication):
                app.setQuitOnLastWindowClosed(False)

    def no_tray(self) -> None:
        """No tray icon can be shown: run in the Track window and say so, never invisibly."""
        log.warning("no system tray; running in the Track window")
        print(NO_TRAY_MESSAGE, file=sys.stderr, flush=True)
        self.without_tray = True
        window = self.tray.open_track()
        # A banner above the window's content: the status line below is rewritten as folders load.
        banner = QLabel(NO_TRAY_MESSAGE)
        banner.setObjectName("noTrayBanner")
        banner.setAccessibleName("No system tray")
        banner.setWordWrap(True)
        layout = window.layout()
        if isinstance(layout, QBoxLayout):
            layout.insertWidget(0, banner)
        else:
            window.status.info(NO_TRAY_MESSAGE)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            # With no icon to quit from, closing the last window must end the app.
            app.setQuitOnLastWindowClosed(True)

    def handle_message(self, message: str) -> None:
        """A second launch said ``show`` (optionally with a window name) or ``quit`` (an installer)."""
        if message == "quit":
            QApplication.quit()
            return
        _, _, which = message.partition(" ")
        opener = {
            "track": self.tray.open_track,
            "outbox": self.tray.open_outbox,
            "activity": self.tray.open_activity,
            "settings": self.tray.open_settings,
        }.get(which.strip() or "track", self.tray.open_track)
        opener()

    def stop(self) -> None:
        for watch in self._tray_watch:
            if isinstance(watch, QTimer):
                watch.stop()
        self._tray_watch.clear()
        self.tray.close()
        if self.owns_bridge and self.started:
            try:
                self.bridge.stop()
            except BridgeError as exc:
                log.warning("stopping the bridge: %s", exc)
        tasks.wait_idle(3000)


def open_bridge(profile: str | None) -> BridgeFacade:
    """The user's bridge; a profile that is not set up yet still opens, so the wizard can run."""
    from addin.bridge import Bridge

    return Bridge.open(profile, allow_unconfigured=True)


_keep_alive: list[object] = []


def quit_on_signals(app: QApplication) -> None:
    """Ctrl-C and SIGTERM quit cleanly (the demo then stops its sandboxes).

    Qt's loop keeps Python from running signal handlers; a wake-up socket watched by a
    QSocketNotifier hands control back the moment a signal arrives, with no polling timer.
    """
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    try:
        signal.set_wakeup_fd(writer.fileno())
    except ValueError:  # not the main thread (embedded use): leave signals alone
        reader.close()
        writer.close()
        return
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, app)

    def drain() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)

    notifier.activated.connect(drain)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _n, _f: app.quit())
    _keep_alive.extend((reader, writer, notifier))
    app.aboutToQuit.connect(lambda: signal.set_wakeup_fd(-1))


def main(argv: Sequence[str] | None = None, bridge: BridgeFacade | None = None) -> int:
    """Run the tray until Quit; ``bridge`` is given by ``crm-bridge demo`` (already started)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.quit:
        # No window, no display needed: the local socket alone carries the request.
        return 0 if SingleInstance(None).ask_to_quit() else 1
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "crm-bridge", *argv])
    assert isinstance(app, QApplication)
    app.setApplicationName("CRM Bridge")
    app.setOrganizationName("crm-bridge")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # closing a window leaves the tray running
    theme.apply(app)  # readable check boxes on dark palettes
    crash_dialog.install()
    quit_on_signals(app)

    instance = SingleInstance(None)
    if not instance.acquire(f"show {args.show or 'track'}"):
        print("CRM Bridge is already running; asked it to come forward.", file=sys.stderr)
        return 0

    owns = bridge is None
    if bridge is None:
        try:
            bridge = open_bridge(args.profile)
        except BridgeError as exc:
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.critical(None, exc.title, exc.message)
            instance.release()
            return 2
    tray_app = TrayApp(bridge, show=None if args.minimized else args.show, owns_bridge=owns)
    instance.messageReceived.connect(tray_app.handle_message)
    tray_app.start()
    from addin.config import take_notices

    for notice in take_notices():
        # A damaged settings file was set aside and the last good copy (or the defaults) used.
        tray_app.tray.set_error(BridgeError(notice, title="Settings restored"))
    try:
        return app.exec()
    finally:
        tray_app.stop()
        instance.release()
