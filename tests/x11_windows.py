"""Reading an X display's window tree (xwininfo), for the tests and benchmarks that start the
tray app under Xvfb with or without a tray panel (trayer)."""

from __future__ import annotations

import re
import subprocess

# CRM Bridge's windows as the installed command names them (WM_CLASS "crm-bridge", "CRM Bridge");
# started another way (``python -m …``) the instance name differs: ANY_INSTANCE matches either.
APP_CLASS = '("crm-bridge" "CRM Bridge")'
ANY_INSTANCE = '"CRM Bridge")'
TRACK_WINDOW = re.compile(r'"Track in CRM": \("crm-bridge" "CRM Bridge"\)')
TRAY_PANEL = '("panel" "trayer")'


def windows(display: str) -> str:
    """The display's window tree as ``xwininfo -root -tree`` prints it."""
    done = subprocess.run(
        ["xwininfo", "-root", "-tree", "-display", display],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout


def tray_icon_in_panel(tree: str, app_class: str = APP_CLASS) -> bool:
    """Whether a CRM Bridge window sits inside trayer's panel (the embedded tray icon)."""
    panel_indent: int | None = None
    for line in tree.splitlines():
        indent = len(line) - len(line.lstrip())
        if TRAY_PANEL in line:
            panel_indent = indent
            continue
        if panel_indent is not None and re.match(r"\s*0x[0-9a-f]+ ", line):
            if indent <= panel_indent:
                panel_indent = None
            elif app_class in line:
                return True
    return False
