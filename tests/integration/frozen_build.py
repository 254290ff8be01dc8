"""One frozen build per test run, shared by the frozen-program and installer tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def frozen_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """OUTDIR of installer/build-frozen.sh: OUTDIR/crm-bridge/ and its tarball."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        require(False, "PyInstaller is not installed (installer/requirements-build.txt)")
    out = tmp_path_factory.mktemp("frozen")
    result = subprocess.run(
        ["bash", str(ROOT / "installer/build-frozen.sh"), str(out), "--tarball"],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    yield out
