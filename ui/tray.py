"""The tray icon, its menu (rebuilt each time it opens) and the windows it opens."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QSystemTrayIcon, QWidget

from addin import __version__
from addin.bridge_types import AuditEntry, Issue, Status
from addin.errors import BridgeError
from addin.facade import BridgeFacade
from addin.state import BridgeState
from addin.states import IssueAction
from ui import tasks
from ui.bridge_adapter import BridgeAdapter
from ui.common import one_line, problem_icon, when
from ui.headline import Headline, headline, outbox_entry, synced_line, tooltip
from ui.icons import IconState, app_icon, panel_is_dark, panel_is_dark_at, tray_icon
from ui.notifications import Note, Notifier

log = logging.getLogger(__name__)

MAX_ISSUES_IN_MENU = 5
FIX_ACTIONS = {
    IssueAction.RETRY_OUTBOX: "Retry",
    IssueAction.SIGN_IN_CRM: "Sign in…",
    IssueAction.SIGN_IN_MAILBOX: "Sign in…",
    IssueAction.SIGN_IN_MICROSOFT: "Sign in…",
    IssueAction.OPEN_SETTINGS: "Fix…",
}


def tomorrow_morning(now: datetime | None = None) -> datetime:
    now = now or datetime.now().astimezone()
    return (now + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)


class Tray(QObject):
    """Owns the icon, the menu, notifications and the single copy of each window."""

    menuRebuilt = Signal()
    notified = Signal(object)  # the Note just shown
    quitRequested = Signal()

    def __init__(
        self, bridge: BridgeFacade, adapter: BridgeAdapter | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.adapter = adapter or BridgeAdapter(bridge, self)
        self.status: Status | None = None
        self.issues: tuple[Issue, ...] = ()
        self.windows: dict[str, QWidget] = {}
        self.last_note: Note | None = None
        self._icon_key: tuple[IconState, bool] | None = None
        self._panel_dark: bool | None = None  # measured from the panel's pixels once shown
        self._offline_since: datetime | None = None

        self.notifier = Notifier(parent=self)
        self.notifier.show.connect(self._notify)
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.setAccessibleName("CRM Bridge menu")
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.icon.messageClicked.connect(self._on_message_clicked)

        self.adapter.stateChanged.connect(self.set_status)
        self.adapter.issuesChanged.connect(self.set_issues)
        self.adapter.activityLogged.connect(self._on_activity)
        self.adapter.outboxChanged.connect(self.refresh_issues)
        self._hints = QGuiApplication.styleHints()
        if self._hints is not None:
            self._hints.colorSchemeChanged.connect(self._measure_panel)
        self.rebuild_menu()
        self._update_icon()
        self.refresh()

    # -- state ----------------------------------------------------------------------
    def refresh(self) -> None:
        tasks.run(self.bridge.status, on_done=self.set_status, on_error=self._status_failed, parent=self)
        self.refresh_issues()
        tasks.run(self.bridge.settings, on_done=self._apply_settings, parent=self)

    def refresh_issues(self) -> None:
        # Outbox failures become issues without a state change: ask again when things move.
        tasks.run(self.bridge.issues, on_done=lambda i: self.set_issues(tuple(i)), parent=self)

    def _apply_settings(self, values: dict[str, Any]) -> None:
        self.notifier.level = values.get("general.notifications", self.notifier.level)

    def _status_failed(self, error: BridgeError) -> None:
        log.warning("status unavailable: %s", error)

    def set_status(self, status: Status) -> None:
        if status.state is BridgeState.OFFLINE:
            self._offline_since = self._offline_since or datetime.now().astimezone()
        else:
            self._offline_since = None
        self.status = status
        self._show_state()

    def set_issues(self, issues: tuple[Issue, ...]) -> None:
        self.issues = tuple(issues)
        self.notifier.issues_changed(self.issues)
        self._show_state()

    def headline(self) -> Headline:
        """The one summary the icon, the tooltip and the menu header all show."""
        return headline(self.status, self.issues, self._offline_since)

    def _show_state(self) -> None:
        self._update_icon()
        self.icon.setToolTip(tooltip(self.status, self.issues, self._offline_since))
        if self.menu.isVisible():
            self.rebuild_menu()

    def _on_activity(self, entry: AuditEntry) -> None:
        self.notifier.activity_logged(entry)
        if not entry.ok:
            self.refresh_issues()
            tasks.run(self.bridge.status, on_done=self.set_status, on_error=self._status_failed, parent=self)

    def icon_state(self) -> IconState:
        return self.headline().icon

    def _update_icon(self, force: bool = False) -> None:
        dark = self._panel_dark if self._panel_dark is not None else panel_is_dark()
        key = (self.icon_state(), dark)
        if key != self._icon_key or force:  # redraw only on change (no flicker, no CPU)
            self._icon_key = key
            self.icon.setIcon(tray_icon(*key))

    def _measure_panel(self, *_args: object) -> None:
        self._panel_dark = panel_is_dark_at(self.icon.geometry())
        self._update_icon(force=True)

    def show(self) -> None:
        self.icon.show()
        # The panel places the icon asynchronously; measure its colour once it is there.
        QTimer.singleShot(1000, self._measure_panel)
        # Some panels drop a tooltip set before the icon was shown (aw-qt #112).
        self.icon.setToolTip(tooltip(self.status, self.issues, self._offline_since))

    # -- menu -----------------------------------------------------------------------
    def _add(
        self, menu: QMenu, text: str, slot: Callable[[], Any] | None = None, enabled: bool = True
    ) -> QAction:
        action = menu.addAction(text)
        action.setEnabled(enabled and slot is not None)
        if slot is not None:
            action.triggered.connect(lambda _c=False: slot())
        return action

    def rebuild_menu(self) -> None:
        menu = self.menu
        menu.clear()
        status = self.status
        head = self.headline()
        header = self._add(menu, head.text, self._header_action(head))
        if head.problem:
            # A problem leads the menu with a warning sign and, where there is one, its fix.
            header.setIcon(problem_icon())
        self._add(menu, synced_line(status))
        if status is not None and status.detail:
            self._add(menu, one_line(status.detail, 90))
        for issue in self.issues[:MAX_ISSUES_IN_MENU]:
            sub = menu.addMenu(f"⚠ {one_line(issue.title, 60)}")
            sub.setToolTipsVisible(True)
            sub.menuAction().setToolTip(issue.message)
            info = self._add(sub, one_line(issue.message, 90))
            info.setToolTip(issue.message)
            if issue.action:
                label = FIX_ACTIONS.get(issue.action, "Fix…")
                self._add(sub, label, lambda i=issue: self.run_issue_action(i.action, i.target))
            self._add(sub, "Dismiss", lambda i=issue: self.dismiss_issue(i.key))
        if len(self.issues) > MAX_ISSUES_IN_MENU:
            self._add(menu, f"… and {len(self.issues) - MAX_ISSUES_IN_MENU} more", self.open_activity)
        menu.addSeparator()
        self._add(menu, "Track in CRM…", self.open_track)
        self._add(menu, outbox_entry(status), self.open_outbox)
        if status is not None and status.state is BridgeState.PAUSED:
            self._add(menu, "Resume", self.resume)
        else:
            pause = menu.addMenu("Pause")
            self._add(
                pause, "For 1 hour", lambda: self.pause(datetime.now().astimezone() + timedelta(hours=1))
            )
            self._add(pause, "Until tomorrow", lambda: self.pause(tomorrow_morning()))
            self._add(pause, "Until resumed", lambda: self.pause(None))
        self._add(menu, "Sync now", self.sync_now)
        self._add(menu, "Recent activity…", self.open_activity)
        menu.addSeparator()
        self._add(menu, "Settings…", self.open_settings)
        if self.notifier.snoozed:
            self._add(menu, f"Notifications snoozed until {when(self.notifier.snoozed_until)}")
            self._add(menu, "Turn notifications back on", lambda: self.notifier.snooze(None))
        else:
            snooze = menu.addMenu("Snooze notifications")
            for label, minutes in (("30 minutes", 30), ("1 hour", 60), ("8 hours", 480)):
                self._add(snooze, label, lambda m=minutes: self.notifier.snooze(m))
        self._add(menu, "Open log folder", self.open_log_folder)
        self._add(menu, "About CRM Bridge", self.about)
        menu.addSeparator()
        self._add(menu, "Quit", self.quit)
        self.menuRebuilt.emit()

    def _header_action(self, head: Headline) -> Callable[[], Any] | None:
        state = self.status.state if self.status is not None else None
        if state in (BridgeState.CREDENTIALS_NEEDED, BridgeState.ERROR):
            return lambda: self.open_settings()
        if head.problem and state is not BridgeState.OFFLINE:
            if any(i.action == IssueAction.RETRY_OUTBOX for i in self.issues):
                return self.open_outbox
            return self.open_activity
        return None  # information only

    def action(self, text: str, menu: QMenu | None = None) -> QAction | None:
        """Find a menu entry by its text (prefix), searching submenus too."""
        for act in (menu or self.menu).actions():
            if act.text().startswith(text):
                return act
            sub = act.menu()
            if isinstance(sub, QMenu):
                found = self.action(text, sub)
                if found is not None:
                    return found
        return None

    # -- commands -------------------------------------------------------------------
    def pause(self, until: datetime | None) -> None:
        tasks.run(
            self.bridge.pause, until, on_done=lambda _r: self.refresh(), on_error=self._error, parent=self
        )

    def resume(self) -> None:
        tasks.run(self.bridge.resume, on_done=lambda _r: self.refresh(), on_error=self._error, parent=self)

    def sync_now(self) -> None:
        tasks.run(self.bridge.sync_now, on_error=self._error, parent=self)

    def dismiss_issue(self, key: str) -> None:
        tasks.run(
            self.bridge.dismiss_issue,
            key,
            on_done=lambda _r: self.refresh(),
            on_error=self._error,
            parent=self,
        )

    def run_issue_action(self, action: str | None, target: str | None) -> None:
        if action == IssueAction.RETRY_OUTBOX and target:
            window = self.open_outbox()
            window.retry(target)
        elif action == IssueAction.RETRY_OUTBOX:
            self.open_outbox()
        elif action == IssueAction.SIGN_IN_MICROSOFT:
            # Opens the system browser (or the Windows account broker); the engine resumes after.
            tasks.run(
                self.bridge.sign_in,
                on_done=lambda who: self._notify(Note("Signed in", f"Signed in as {who}.", False)),
                on_error=self._error,
                timeout=None,  # the person may take minutes; MSAL itself gives up after five
                parent=self,
            )
        elif action in (IssueAction.SIGN_IN_CRM, IssueAction.SIGN_IN_MAILBOX, IssueAction.OPEN_SETTINGS):
            tab = {IssueAction.SIGN_IN_CRM: "crm", IssueAction.SIGN_IN_MAILBOX: "mailbox"}.get(
                IssueAction(action)
            )
            self.open_settings(tab)
        else:
            self.open_activity()

    def set_error(self, error: BridgeError) -> None:
        """A problem the facade could not turn into state (e.g. the engine did not start)."""
        self.issues = (
            *self.issues,
            Issue(f"local:{error.title}", error.title, error.message, IssueAction.OPEN_SETTINGS),
        )
        self._update_icon()
        self._error(error)

    def _error(self, error: BridgeError) -> None:
        self._notify(Note(error.title, error.message, True))

    def _notify(self, note: Note) -> None:
        self.last_note = note
        icon = QSystemTrayIcon.MessageIcon.Warning if note.error else QSystemTrayIcon.MessageIcon.Information
        # Failures stay up long (and in the menu until resolved); successes fade quickly.
        # A subject's line breaks would split the title: shown as ⏎, as everywhere else.
        self.icon.showMessage(one_line(note.title, 90), note.message, icon, 60_000 if note.error else 5_000)
        self.notified.emit(note)

    def _on_message_clicked(self) -> None:
        note = self.last_note
        if note is None:
            return
        if note.action:
            self.run_issue_action(note.action, note.target)
        elif note.error:
            self.open_activity()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.open_track()

    # -- windows --------------------------------------------------------------------
    def _window(self, key: str, factory: Callable[[], QWidget]) -> Any:
        window = self.windows.get(key)
        if window is None:
            window = factory()
            self.windows[key] = window
            window.destroyed.connect(lambda _o=None, k=key: self.windows.pop(k, None))
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def open_track(self) -> Any:
        from ui.track_window import TrackWindow

        return self._window("track", lambda: TrackWindow(self.bridge))

    def open_outbox(self) -> Any:
        from ui.outbox_window import OutboxWindow

        return self._window("outbox", lambda: OutboxWindow(self.bridge, self.adapter))

    def open_activity(self) -> Any:
        from ui.activity_window import ActivityWindow

        return self._window("activity", lambda: ActivityWindow(self.bridge, self.adapter))

    def open_settings(self, tab: str | None = None) -> Any:
        from ui.settings_dialog import SettingsDialog

        def make() -> QWidget:
            dialog = SettingsDialog(self.bridge, tab=tab)
            dialog.saved.connect(self.refresh)
            dialog.finished.connect(dialog.deleteLater)  # reopen fresh, with the values now saved
            return dialog

        return self._window("settings", make)

    def open_wizard(self, values: dict[str, Any] | None = None) -> Any:
        from ui.wizard import SetupWizard

        def make() -> QWidget:
            wizard = SetupWizard(self.bridge, values)
            wizard.saved.connect(self.refresh)
            wizard.finished.connect(wizard.deleteLater)
            return wizard

        return self._window("wizard", make)

    def open_log_folder(self) -> None:
        try:
            path = self.bridge.log_dir()
        except BridgeError as exc:
            self._error(exc)
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def about(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "About CRM Bridge",
            f"CRM Bridge {__version__}\n\nBridges your mailbox and Microsoft Dynamics 365 / Dataverse.\n"
            "Open source under the MIT licence.",
            QMessageBox.StandardButton.Ok,
        )
        box.setAccessibleName("About CRM Bridge")
        box.setIconPixmap(app_icon().pixmap(48, 48))
        ok = box.button(QMessageBox.StandardButton.Ok)
        if ok is not None:
            ok.setIcon(QIcon.fromTheme("dialog-ok"))  # the theme's, or none: no bundled clip-art
        self.windows["about"] = box
        box.open()

    def quit(self) -> None:
        self.quitRequested.emit()
        app = QApplication.instance()
        if app is not None:
            QTimer.singleShot(0, app.quit)

    def close(self) -> None:
        for window in list(self.windows.values()):
            window.close()
        if self._hints is not None:
            with contextlib.suppress(RuntimeError, TypeError):
                self._hints.colorSchemeChanged.disconnect(self._measure_panel)
        self.icon.hide()
        self.icon.setContextMenu(None)  # the menu is Python-owned: never leave Qt a dangling pointer
        self.adapter.close()
