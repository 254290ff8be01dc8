"""Open every window of the demo with realistic content and save a PNG of each.

Run by ``scripts/screenshots.sh OUTDIR`` under Xvfb (``QT_QPA_PLATFORM=xcb``); it also
works offscreen.  ``--dark`` renders with a dark palette to check readability.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyleFactory, QSystemTrayIcon, QWidget

from addin.bridge_types import OutboxState
from addin.mailbox.types import FolderKind
from addin.states import IssueAction
from ui import tasks, theme
from ui.icons import IconState, draw


def wait(cond: Callable[[], bool], timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QApplication.processEvents()
        if cond():
            return True
        time.sleep(0.02)
    return False


def settle(seconds: float = 0.3) -> None:
    wait(lambda: False, seconds)


def save(widget: QWidget, out: Path, name: str) -> Path:
    settle()
    path = out / f"{name}.png"
    widget.grab().save(str(path))
    print(path)
    return path


def dark_palette() -> QPalette:
    """A complete dark palette, as a dark desktop theme defines one: every role, including the
    bevel colours Fusion draws frames and check boxes with, and the disabled group."""
    p = QPalette()
    base, text, window = QColor("#1e1e1e"), QColor("#e6e6e6"), QColor("#2b2b2b")
    for role, colour in (
        (QPalette.ColorRole.Window, window),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base),
        (QPalette.ColorRole.AlternateBase, QColor("#262626")),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, QColor("#353535")),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.BrightText, QColor("#ffffff")),
        (QPalette.ColorRole.Light, QColor("#4a4a4a")),
        (QPalette.ColorRole.Midlight, QColor("#3e3e3e")),
        (QPalette.ColorRole.Mid, QColor("#707070")),
        (QPalette.ColorRole.Dark, QColor("#8a8a8a")),
        (QPalette.ColorRole.Shadow, QColor("#101010")),
        (QPalette.ColorRole.Highlight, QColor("#3874d8")),
        (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
        (QPalette.ColorRole.Link, QColor("#8ab4f8")),
        (QPalette.ColorRole.ToolTipBase, base),
        (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.PlaceholderText, QColor("#9a9a9a")),
    ):
        p.setColor(role, colour)
    # Disabled text at about 4.5:1 on the window colour: dim, but still readable.
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#9b9b9b"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, QColor("#2f2f2f"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Base, QColor("#252525"))
    return p


def panel_shot(tray: Any, out: Path, suffix: str) -> None:
    """The icon in a real tray panel (an XEmbed host such as trayer), with its menu open."""
    screen = QGuiApplication.primaryScreen()
    wait(lambda: tray.icon.geometry().width() > 0, 5)
    settle(0.5)
    geo = tray.icon.geometry()
    tray.menu.popup(QPoint(max(0, geo.right() - tray.menu.sizeHint().width()), geo.bottom() + 2))
    wait(tray.menu.isVisible)
    settle(0.5)
    width = max(tray.menu.sizeHint().width(), 200) + 40
    region = screen.grabWindow(
        0, max(0, geo.right() - width), 0, width + 20, tray.menu.sizeHint().height() + 60
    )
    region.save(str(out / f"tray-panel{suffix}.png"))
    print(out / f"tray-panel{suffix}.png")
    tray.menu.hide()


def icon_sheet(out: Path) -> None:
    """Every state at 16, 24 and 32 px on a light and a dark panel, magnified 4x."""
    sizes, scale = (16, 24, 32), 4
    width = sum(s + 8 for s in sizes) * len(IconState) + 8
    sheet = QPixmap(width * scale, 80 * scale)
    p = QPainter(sheet)
    for row, dark in enumerate((False, True)):
        p.fillRect(0, row * 40 * scale, width * scale, 40 * scale, QColor("#2b2b2b" if dark else "#e8e8e8"))
        x = 8
        for state in IconState:
            for size in sizes:
                pix = draw(state, size, dark).scaled(size * scale, size * scale)
                p.drawPixmap(x * scale, (row * 40 + 4) * scale, pix)
                x += size + 8
    p.end()
    sheet.save(str(out / "tray-icons.png"))
    print(out / "tray-icons.png")


def stage(env: Any) -> Any:
    """The demo as a salesperson's first day shows it: two tracked messages (one regarding an
    opportunity) and a CRM e-mail that could not be sent.  The layout tests use the same."""
    import requests

    bridge = env.bridge
    answer = requests.get(
        env.crm.base_url + "contacts?$select=emailaddress1", headers=env.crm.headers, timeout=30
    )
    contacts = sorted(p["emailaddress1"] for p in answer.json()["value"] if p.get("emailaddress1"))
    inbox = next(f for f in bridge.folders() if f.kind is FolderKind.INBOX)
    listing = bridge.messages(inbox.id, limit=50).items
    customers = [m for m in listing if not m.private and m.sender.rpartition("<")[2].rstrip(">") in contacts]
    opportunity = bridge.search_records("Fabrikam", ("opportunity",))[0]
    bridge.track([customers[0].id], opportunity)
    bridge.track([customers[2].id])
    env.crm.queue_email(contacts[3], "Price list\r\nBcc: someone@elsewhere.example", "<p>Prices</p>")
    bridge.sync_now()
    return contacts


def balloon() -> QWidget | None:
    """Qt's own notification bubble, shown where no notification service runs (as under Xvfb)."""
    return next(
        (w for w in QApplication.topLevelWidgets() if w.metaObject().className() == "QBalloonTip"), None
    )


def run(out: Path, dark: bool) -> int:
    from addin.demo import start_demo
    from ui.activity_window import ActivityWindow
    from ui.crash_dialog import CrashDialog, report
    from ui.notifications import Note
    from ui.outbox_window import OutboxWindow
    from ui.regarding_picker import RegardingPicker
    from ui.settings_dialog import SettingsDialog
    from ui.track_window import TrackWindow
    from ui.tray import Tray
    from ui.wizard import SetupWizard

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    theme.apply(app)
    suffix = ""
    if dark:
        app.setStyle(theme.ContrastStyle(QStyleFactory.create("Fusion")))
        app.setPalette(dark_palette())
        suffix = "-dark"
    out.mkdir(parents=True, exist_ok=True)
    icon_sheet(out)
    env = start_demo(Path(tempfile.mkdtemp(prefix="crm-bridge-shots-")))
    bridge = env.bridge
    windows: list[QWidget] = []
    try:
        bridge.start()
        contacts = stage(env)
        tray = Tray(bridge)
        tray.show()
        wait(lambda: any(i.action == IssueAction.RETRY_OUTBOX for i in tray.issues))
        wait(lambda: tray.status is not None and tray.status.last_synced is not None)
        settle(1.0)

        tray.menu.popup(QPoint(40, 40))
        wait(tray.menu.isVisible)
        save(tray.menu, out, f"tray-menu{suffix}")
        tray.menu.hide()
        if QSystemTrayIcon.isSystemTrayAvailable():
            panel_shot(tray, out, suffix)
            unsent = next(i for i in tray.issues if i.action == IssueAction.RETRY_OUTBOX)
            tray._notify(Note(unsent.title, unsent.message, True, unsent.action, unsent.target))
            if wait(lambda: balloon() is not None and balloon().isVisible(), 5):  # type: ignore[union-attr]
                save(balloon(), out, f"notification{suffix}")  # type: ignore[arg-type]

        # Paused, so the next CRM e-mail stays queued for the Outbox picture.
        bridge.pause(None)
        wait(lambda: tray.status is not None and tray.status.state.value == "paused")
        env.crm.queue_email(contacts[4], "Proposal for the spring order", "<p>Here it is.</p>")

        track = TrackWindow(bridge)
        windows.append(track)
        track.show()
        wait(lambda: bool(track.model.items) and not track.model.loading)
        track.select_rows([1])
        save(track, out, f"track-window{suffix}")

        picker = RegardingPicker(bridge, track)
        picker.show()
        wait(lambda: not picker.status.text().startswith("Loading"))
        picker.search.setText("Fabrikam")
        picker.run_search()
        wait(
            lambda: picker.status.text().startswith(("1", "2", "3", "4", "5", "6", "7", "8", "9", "Nothing"))
        )
        save(picker, out, f"regarding-picker{suffix}")
        picker.close()

        # A long Track: slow CRM answers, eight messages, progress and Cancel on show.
        untracked = [r for r, m in enumerate(track.model.items) if not m.tracked and not m.private][:8]
        track.select_rows(untracked)
        env.crm.faults.update({"latency_ms": 400})
        track.track()
        wait(lambda: track.progress.value() > 0, 60)
        save(track, out, f"track-window-progress{suffix}")
        track.cancel()
        wait(lambda: track._busy is None, 60)
        env.crm.faults.update({"latency_ms": 0})
        wait(lambda: not track.model.loading)
        save(track, out, f"track-window-after{suffix}")

        outbox = OutboxWindow(bridge, tray.adapter)
        windows.append(outbox)
        outbox.show()
        wait(lambda: len(outbox.items) >= 2)
        failed = next((i for i in outbox.items if i.state is OutboxState.FAILED), None)
        if failed is not None:
            outbox.select_activity(failed.activity_id)
        save(outbox, out, f"outbox{suffix}")

        bridge.resume()
        activity = ActivityWindow(bridge, tray.adapter)
        windows.append(activity)
        activity.show()
        wait(lambda: bool(activity.entries))
        problem = next((n for n, e in enumerate(activity.visible_entries()) if not e.ok), 0)
        activity.select_row(problem)
        save(activity, out, f"recent-activity{suffix}")

        # A customer folder under the Inbox, tracked with its account as Regarding.
        from addin.demo import USER

        store = env.mail.store
        customer_folder = store.create_folder(store.distinguished(USER, "inbox"), "Fabrikam", None)
        store.create_folder(customer_folder, "Orders", None)
        account = bridge.search_records("Fabrikam", ("account",))[0]
        bridge.update_settings(
            {
                "tracking.tracked_folders": [f"Inbox/Fabrikam = account:{account.id}"],
                "tracking.never_track": ["news@industryweekly.example", "@cloudsummit.example"],
            }
        )
        settings = SettingsDialog(bridge)
        windows.append(settings)
        settings.show()
        wait(lambda: bool(settings.tests))
        settings.tests["mailbox"].start()
        wait(lambda: settings.tests["mailbox"].task is None)
        save(settings, out, f"settings{suffix}")
        for index in range(1, settings.tabs.count()):
            settings.tabs.setCurrentIndex(index)
            if settings.tabs.tabText(index) == "Tracking":
                picker_widget = settings.forms["tracking"].editors["tracking.tracked_folders"]
                wait(
                    lambda w=picker_widget: getattr(w, "tree", None) is None or w.tree.topLevelItemCount() > 0
                )
            save(settings, out, f"settings-{settings.tabs.tabText(index).lower()}{suffix}")

        wizard = SetupWizard(bridge, {**bridge.settings(), "crm.url": "", "mailbox.email": ""})
        windows.append(wizard)
        wizard.show()
        save(wizard, out, f"wizard-welcome{suffix}")
        wizard.next()
        form = wizard.mailbox_form
        for key in ("mailbox.email", "mailbox.server"):
            form.set_value(key, bridge.settings()[key])
        form.secret.setText("demo")
        wizard.mailbox_test.start()
        wait(lambda: wizard.mailbox_test.task is None)
        save(wizard, out, f"wizard-mailbox{suffix}")
        wizard.next()
        wizard.crm_form.set_value("crm.url", "https://contoso.crm4.dynamics.com")
        save(wizard, out, f"wizard-crm{suffix}")

        tray.about()
        about = tray.windows["about"]
        wait(about.isVisible)
        save(about, out, f"about{suffix}")
        about.close()

        try:
            json.loads('{"subject": "Price list"')  # a real traceback, for a realistic report
        except ValueError as exc:
            crash = CrashDialog(report(type(exc), exc, exc.__traceback__))
        windows.append(crash)
        crash.show()
        save(crash, out, f"crash-dialog{suffix}")

        for w in reversed(windows):
            w.close()
        tray.close()
        tasks.wait_idle(10_000)
        # Delete the windows now, in order, rather than at interpreter exit in any order.
        for w in (*windows, tray.menu, tray):
            w.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QApplication.processEvents()
    finally:
        env.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--dark", action="store_true", help="dark palette (Fusion style)")
    args = parser.parse_args(argv)
    QApplication.setAttribute(Qt.ApplicationAttribute.AA_DontUseNativeMenuBar)
    return run(args.outdir, args.dark)


if __name__ == "__main__":
    raise SystemExit(main())
