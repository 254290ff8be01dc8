"""UI tests drive the real facade against both sandboxes (``addin.demo``), over loopback HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from ui import tasks

# The offscreen screen is a 1366×768 laptop (Qt's default would be 800×800), so window sizes
# are tested against the smallest screen still common.  Set before the QApplication exists.
if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={Path(__file__).with_name('screen-1366x768.json')}"


@pytest.fixture
def demo(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    """Both sandboxes seeded, and a started bridge on the demo profile."""
    from addin.demo import start_demo

    env = start_demo(tmp_path / "demo")
    env.bridge.start()
    yield env
    # Windows first (they may still start calls), then let running calls finish, then stop.
    for widget in QApplication.topLevelWidgets():
        widget.close()
    qtbot.wait(10)
    tasks.wait_idle(30_000)
    env.close()
