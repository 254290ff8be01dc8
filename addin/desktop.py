"""Whether the tray app can start here: a display to show it on, and the libraries Qt needs.

Asked before Qt is imported, because a QApplication without a display (or without its
platform plugin's libraries) aborts the whole process with a message about Qt internals.
"""

from __future__ import annotations

import os
import sys

from addin.errors import BridgeError

HEADLESS_HINT = (
    "For a server or an SSH session use 'crm-bridge run' (the bridge without the tray), "
    "or 'crm-bridge demo --headless' to try the demo."
)


class NoDesktopError(BridgeError):
    title = "No display"


class MissingLibrariesError(BridgeError):
    title = "System libraries missing"


def has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def desktop_problem() -> BridgeError | None:
    """Why the tray app cannot start on this desktop, or None when it can."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.startswith(("offscreen", "minimal", "vnc")):
        return None  # a platform that needs no display (tests, remote viewers)
    if not has_display():
        return NoDesktopError(
            "The tray app needs a graphical desktop, and neither DISPLAY nor WAYLAND_DISPLAY is set. "
            + HEADLESS_HINT
        )
    if sys.platform.startswith("linux") and os.environ.get("DISPLAY") and not platform.startswith("wayland"):
        from addin.qt_libs import install_hint, missing_libraries

        missing = missing_libraries()
        if missing:
            return MissingLibrariesError(install_hint(missing))
    return None
