"""Running the add-ons' JavaScript tests with Node's own test runner from pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def node() -> str:
    """The node binary; without one the test is skipped locally and fails under CI=true."""
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Node.js is missing; scripts/test.sh installs it (Debian package nodejs).")
        pytest.skip("Node.js is not installed")
    return found


def node_test(*files: str, env: dict[str, str] | None = None, timeout: float = 300) -> None:
    """``node --test FILES``; a failing JS test fails the pytest test with Node's report."""
    done = subprocess.run(
        [node(), "--test", *files],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "# pass " in report and "# fail 0" in report, report
