"""The CLI's long-running and process-level commands, plain and --json, success and error:
``demo`` and ``tray`` with and without a display, ``sandbox``, and a reader that goes away."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_support import json_error, plain_ok, run, run_until

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_demo_headless_plain_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--headless")
    assert code == 0
    plain_ok(out)
    assert re.search(r"^Tracked from the Track window +\d+$", out, re.MULTILINE), out
    assert re.search(r"^Duplicates +0$", out, re.MULTILINE) and re.search(r"^Lost +0$", out, re.MULTILINE)
    assert out.strip().endswith("Both flows worked: everything arrived exactly once.")
    code, out, _ = run(capsys, "demo", "--headless", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["duplicates"] == report["lost"] == 0


def test_demo_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # A display whose X libraries are missing: named before any sandbox starts.  The loader's
    # answer is replaced here (this machine has the libraries); tests/core/test_qt_libs.py
    # drives the real loader check.
    from addin import qt_libs

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(
        qt_libs, "missing_libraries", lambda: [qt_libs.Missing("libxcb-icccm.so.4", "libxcb-icccm4")]
    )
    started: list[object] = []
    monkeypatch.setattr("addin.demo.start_demo", lambda *a, **k: started.append(1))
    code, out, err = run(capsys, "demo")
    assert code == 2 and out == "" and started == []
    assert err.startswith(
        "System libraries missing: The tray app cannot start: the system libraries libxcb-icccm.so.4"
    )
    assert "sudo apt-get install -y libxcb-icccm4" in err
    code, out, _ = run(capsys, "demo", "--json")
    assert code == 2 and "libxcb-icccm4" in json_error(out, "missing_libraries")["message"]
    code, out, _ = run(capsys, "demo", "--lively", "--json")
    assert code == 2 and json_error(out, "usage")


# -- the tray without a display ----------------------------------------------------------------


def test_tray_without_a_display_exits_2_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real process, so a Qt abort (exit 134) could not hide behind the test's own QApplication."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    for argv in ([], ["--minimized"]):
        done = subprocess.run(
            [sys.executable, "-m", "addin", *argv], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert done.stderr.startswith("No display: The tray app needs a graphical desktop"), done.stderr
        assert "'crm-bridge run'" in done.stderr and "'crm-bridge demo --headless'" in done.stderr
        assert "Traceback" not in done.stderr and "qt.qpa" not in done.stderr


def test_demo_without_a_display_runs_the_bridge_and_says_what_to_try(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import addin.demo

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    started: list[Any] = []
    real_start = addin.demo.start_demo
    monkeypatch.setattr(
        addin.demo, "start_demo", lambda *a, **k: started.append(real_start(*a, **k)) or started[-1]
    )

    def synced() -> bool:  # the engine has run (its SIGTERM handler is long in place by then)
        return bool(started) and started[0].bridge._scheduler.last_synced is not None

    code, out = run_until(capsys, ["demo"], synced)
    assert code == 0
    plain_ok(out)
    assert out.startswith("Sandbox CRM:      http://127.0.0.1:")
    assert "Things to try:" in out and "“Track in CRM” category" in out
    assert "Bridge running without a display; press Ctrl-C to stop." in out

    started.clear()
    code, out = run_until(capsys, ["demo", "--json"], synced)
    document = json.loads(out)
    assert code == 0 and document["tray"] is False and document["ews_url"].endswith("/EWS/Exchange.asmx")


def test_tray_with_a_display_but_missing_x_libraries_names_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real loader check is in tests/core/test_qt_libs.py; here its answer is "icccm missing"."""
    from addin import qt_libs

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(
        qt_libs, "missing_libraries", lambda: [qt_libs.Missing("libxcb-keysyms.so.1", "libxcb-keysyms1")]
    )
    code, out, err = run(capsys, "--show", "track")
    assert code == 2 and out == ""
    assert err.startswith(
        "System libraries missing: The tray app cannot start: the system libraries libxcb-keysyms.so.1"
    )
    assert err.rstrip().endswith("sudo apt-get install -y libxcb-keysyms1")


# -- sandbox -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["crm", "mail"])
def test_sandbox_prints_its_address_first_plain_and_json(kind: str, tmp_path: Path) -> None:
    """A real process until SIGTERM, as scripts start it; the first stdout line is for them."""
    import subprocess
    import sys

    for extra, check in (
        ([], lambda line: line.startswith("http://127.0.0.1:")),
        (["--json"], lambda line: json.loads(line)["url"].startswith("http://127.0.0.1:")),
        (
            ["--json"],
            lambda line: set(json.loads(line)) >= {"url", "page_url" if kind == "crm" else "mailboxes"},
        ),
    ):
        server = subprocess.Popen(
            [sys.executable, "-m", "addin", "sandbox", kind, "--data", str(tmp_path / kind), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            first = server.stdout.readline().strip()
            assert check(first), first
        finally:
            server.send_signal(signal.SIGTERM)
            _, err = server.communicate(timeout=60)
        assert server.returncode == 0 and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sandbox", "crm", "--throttle", "lots"], "--throttle must be N/SECONDS"),
        (["sandbox", "mail", "--host", "0.0.0.0"], "loopback only"),
    ],
)
def test_sandbox_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("Sandbox not started: ") and message in err
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 2 and message in json_error(out, "config")["message"]


def test_a_reader_that_goes_away_is_not_a_crash(tmp_path: Path) -> None:
    """`crm-bridge config keys | head -1`: the pipe closes early; no crash report, no message."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "addin", "config", "keys"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == "", done.stderr
