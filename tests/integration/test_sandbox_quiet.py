"""The sandboxes run quietly: their output is the URL and their errors, one line per request only
with ``--verbose``, and never ANSI colour codes when the output is not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests


def _run(kind: str, tmp_path: Path, *extra: str) -> tuple[str, str]:
    """Start the sandbox, make two requests (a 200 and a 404), stop it; its stdout and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "addin", "sandbox", kind, "--data", str(tmp_path), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        if kind == "mail":
            # Its Graph base URL is the second line.  Read it here: communicate() reads the pipe
            # itself, past what this text wrapper has already buffered.
            url += "\n" + proc.stdout.readline().strip()
        origin = url.split("/", 3)[:3]
        base = "/".join(origin)
        assert requests.get(base + "/_sandbox/stats", timeout=30).status_code == 200
        assert requests.get(base + "/_sandbox/no-such-thing", timeout=30).status_code == 404
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    return url + "\n" + out, err


@pytest.mark.parametrize("kind", ["crm", "mail"])
def test_quiet_by_default(kind: str, tmp_path: Path) -> None:
    out, err = _run(kind, tmp_path)
    # Only the URL (the mail sandbox: its EWS URL, then its Graph base URL).
    lines = out.strip().splitlines()
    assert len(lines) == (2 if kind == "mail" else 1), out
    assert all(line.startswith("http://127.0.0.1:") for line in lines), out
    assert "/_sandbox/stats" not in err and "/_sandbox/no-such-thing" not in err and "GET " not in err, err


@pytest.mark.parametrize("flag", ["--verbose", "-v"])
def test_verbose_logs_each_request_without_colour_when_redirected(flag: str, tmp_path: Path) -> None:
    _out, err = _run("crm", tmp_path, flag)
    lines = [line for line in err.splitlines() if "/_sandbox/" in line]
    assert len(lines) == 2, err
    assert any('"GET /_sandbox/no-such-thing HTTP/1.1" 404' in line for line in lines), lines
    assert "\x1b[" not in err
