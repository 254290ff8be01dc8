"""The README's first command on a real X server: ``./scripts/demo.sh`` brings up the tray icon
and the Track window.

Xvfb is the display and trayer a system-tray panel, both installed by ``scripts/test.sh`` from
``scripts/system-packages.txt``; the windows are read back with ``xwininfo``, as any X client
would see them.  The script runs exactly as a person runs it (its apt step finds the packages
already there); it reuses this test environment as its virtual environment (``VENV``), which
holds the same pinned application packages as ``requirements.lock``, instead of creating a
second one.  Without Xvfb, trayer or xwininfo the test skips on a developer machine and fails
in CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.x11_windows import TRACK_WINDOW, TRAY_PANEL, tray_icon_in_panel, windows

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
UP_WITHIN = 240  # seconds: only a guard against hanging; a fresh environment installs first


def require(tool: str) -> None:
    """Skip without the tool on a developer machine; in CI a missing tool fails the run."""
    if shutil.which(tool) is None:
        reason = f"{tool} is needed (scripts/system-packages.txt; scripts/test.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture
def x_server() -> Iterator[str]:
    for tool in ("Xvfb", "trayer", "xwininfo"):
        require(tool)
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        number = reader.readline().strip()  # Xvfb writes its display number once it accepts clients
    assert number.isdigit(), "Xvfb did not start"
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def start_panel(display: str) -> subprocess.Popen[bytes]:
    """trayer: an XEmbed system-tray panel at the top right of the screen."""
    return subprocess.Popen(
        [
            "trayer",
            "--edge",
            "top",
            "--align",
            "right",
            "--widthtype",
            "pixel",
            "--width",
            "160",
            "--height",
            "32",
        ],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("with_tray", [True, False], ids=["tray-panel", "no-tray"])
def test_demo_script_brings_up_the_tray_and_the_track_window(
    x_server: str, tmp_path: Path, with_tray: bool
) -> None:
    """With a tray panel: the icon sits in it and the Track window is open.  Without one (a bare
    X server, like a desktop with no tray): the Track window is open and stderr says why."""
    from ui.app import NO_TRAY_MESSAGE

    panel = start_panel(x_server) if with_tray else None
    if panel is not None:
        # The panel owns the tray before the app looks for one (the app would retry, but the
        # order is then the same on every run).
        deadline = time.monotonic() + 60
        while TRAY_PANEL not in windows(x_server):
            assert panel.poll() is None, f"the tray panel (trayer) ended with {panel.returncode}"
            assert time.monotonic() < deadline, "the tray panel (trayer) did not appear"
            time.sleep(0.2)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=x_server, VENV=sys.prefix)
    out_path, err_path = tmp_path / "demo.out", tmp_path / "demo.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        demo = subprocess.Popen(
            [str(ROOT / "scripts" / "demo.sh")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )

    def up(tree: str) -> bool:
        if not TRACK_WINDOW.search(tree):
            return False
        return tray_icon_in_panel(tree) if with_tray else NO_TRAY_MESSAGE in err_path.read_text()

    try:
        deadline = time.monotonic() + UP_WITHIN
        tree = ""
        while time.monotonic() < deadline and demo.poll() is None:
            tree = windows(x_server)
            if up(tree):
                break
            time.sleep(0.5)
        assert demo.poll() is None, f"demo.sh ended with {demo.returncode}:\n{err_path.read_text()[-3000:]}"
        assert TRACK_WINDOW.search(tree), tree
        if panel is not None:
            assert panel.poll() is None, f"the tray panel (trayer) ended with {panel.returncode}"
        if with_tray:
            assert tray_icon_in_panel(tree), tree
            assert NO_TRAY_MESSAGE not in err_path.read_text()
        else:
            assert NO_TRAY_MESSAGE in err_path.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)  # what Ctrl-C or logging out does
        code = demo.wait(timeout=120)
        if panel is not None:
            panel.terminate()
            panel.wait(timeout=30)
    printed = out_path.read_text()
    assert code == 0, err_path.read_text()[-3000:]
    assert printed.startswith("Sandbox CRM:      http://127.0.0.1:")
    assert "Things to try:" in printed and "Stop the demo with Ctrl-C" in printed
    assert "Traceback" not in err_path.read_text()
