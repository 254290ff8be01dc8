"""Open every window of the demo with realistic content and save a PNG of each.

Run by ``scripts/screenshots.sh OUTDIR`` under Xvfb (``QT_QPA_PLATFORM=xcb``); it also
works offscreen.  ``--dark`` renders with a dark palette to check readability.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyleFactory, QSystemTrayIcon, QWidget

from addin.mailbox.types import FolderKind
from ui import tasks
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
    p = QPalette()
    base, text, window = QColor("#1e1e1e"), QColor("#e6e6e6"), QColor("#2b2b2b")
    for role, colour in (
        (QPalette.ColorRole.Window, window),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base),
        (QPalette.ColorRole.AlternateBase, QColor("#262626")),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, window),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.Highlight, QColor("#3874d8")),
        (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
        (QPalette.ColorRole.ToolTipBase, base),
        (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.PlaceholderText, QColor("#9a9a9a")),
    ):
        p.setColor(role, colour)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#8a8a8a"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#8a8a8a"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#8a8a8a"))
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


def run(out: Path, dark: bool) -> int:
    from addin.demo import start_demo
    from ui.activity_window import ActivityWindow
    from ui.outbox_window import OutboxWindow
    from ui.regarding_picker import RegardingPicker
    from ui.settings_dialog import SettingsDialog
    from ui.track_window import TrackWindow
    from ui.tray import Tray
    from ui.wizard import SetupWizard

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    suffix = ""
    if dark:
        app.setStyle(QStyleFactory.create("Fusion"))
        app.setPalette(dark_palette())
        suffix = "-dark"
    out.mkdir(parents=True, exist_ok=True)
    icon_sheet(out)
    env = start_demo(Path(tempfile.mkdtemp(prefix="crm-bridge-shots-")))
    bridge = env.bridge
    try:
        bridge.start()
        contacts = sorted(
            p["emailaddress1"]
            for p in __import__("requests")
            .get(env.crm.base_url + "contacts?$select=emailaddress1", headers=env.crm.headers, timeout=30)
            .json()["value"]
            if p.get("emailaddress1")
        )
        # Content: two tracked messages (one with a Regarding), a failed and a queued CRM e-mail.
        inbox = next(f for f in bridge.folders() if f.kind is FolderKind.INBOX)
        listing = bridge.messages(inbox.id, limit=50).items
        customers = [
            m for m in listing if not m.private and m.sender.rpartition("<")[2].rstrip(">") in contacts
        ]
        opportunity = bridge.search_records("Fabrikam", ("opportunity",))[0]
        bridge.track([customers[0].id], opportunity)
        bridge.track([customers[2].id])
        env.crm.queue_email(contacts[3], "Price list\r\nBcc: someone@elsewhere.example", "<p>Prices</p>")
        bridge.sync_now()
        tray = Tray(bridge)
        tray.show()
        wait(lambda: any(i.action == "retry_outbox" for i in tray.issues))
        wait(lambda: tray.status is not None and tray.status.last_synced is not None)
        settle(1.0)

        tray.menu.popup(QPoint(40, 40))
        wait(tray.menu.isVisible)
        save(tray.menu, out, f"tray-menu{suffix}")
        tray.menu.hide()
        if QSystemTrayIcon.isSystemTrayAvailable():
            panel_shot(tray, out, suffix)

        # Paused, so the next CRM e-mail stays queued for the Outbox picture.
        bridge.pause(None)
        wait(lambda: tray.status is not None and tray.status.state.value == "paused")
        env.crm.queue_email(contacts[4], "Proposal for the spring order", "<p>Here it is.</p>")

        track = TrackWindow(bridge)
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

        outbox = OutboxWindow(bridge, tray.adapter)
        outbox.show()
        wait(lambda: len(outbox.items) >= 2)
        failed = next((i for i in outbox.items if i.state.value == "failed"), None)
        if failed is not None:
            outbox.select_activity(failed.activity_id)
        save(outbox, out, f"outbox{suffix}")

        bridge.resume()
        activity = ActivityWindow(bridge, tray.adapter)
        activity.show()
        wait(lambda: bool(activity.entries))
        activity.select_row(0)
        save(activity, out, f"recent-activity{suffix}")

        settings = SettingsDialog(bridge)
        settings.show()
        wait(lambda: bool(settings.tests))
        settings.tests["mailbox"].start()
        wait(lambda: settings.tests["mailbox"].task is None)
        save(settings, out, f"settings{suffix}")
        settings.tabs.setCurrentIndex(2)
        save(settings, out, f"settings-tracking{suffix}")

        wizard = SetupWizard(bridge, {**bridge.settings(), "crm.url": ""})
        wizard.show()
        wizard.next()
        wizard.mailbox_form.secret.setText("demo")
        wizard.mailbox_test.start()
        wait(lambda: wizard.mailbox_test.task is None)
        save(wizard, out, f"wizard-mailbox{suffix}")
        wizard.next()
        save(wizard, out, f"wizard-crm{suffix}")

        for w in (wizard, settings, activity, outbox, track):
            w.close()
        tray.close()
        tasks.wait_idle(10_000)
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
