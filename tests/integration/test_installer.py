"""The Linux per-user installer: installs into a home folder, runs, and uninstalls cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_per_user_install_and_uninstall(tmp_path: Path) -> None:
    home = tmp_path / "user-home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "PYTHON": sys.executable,
        # pip's download cache is shared with the test run, so the install needs no network
        # when the same wheels were installed before.
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
    }
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    result = subprocess.run(
        ["bash", str(ROOT / "installer/linux/install.sh"), "--autostart"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "crm-bridge 0." in result.stdout
    prefix = home / ".local/share/crm-bridge"
    launcher = home / ".local/bin/crm-bridge"
    desktop = home / ".local/share/applications/crm-bridge.desktop"
    autostart = home / ".config/autostart/crm-bridge.desktop"
    assert launcher.resolve() == (prefix / "venv/bin/crm-bridge").resolve()
    assert f"Exec={prefix}/venv/bin/crm-bridge" in desktop.read_text()
    assert "--minimized" in autostart.read_text()
    # The installed program is the real thing: its own sandbox answers.
    version = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("crm-bridge ")

    done = subprocess.run(["bash", str(prefix / "uninstall.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not launcher.exists() and not desktop.exists() and not autostart.exists()
    assert not (prefix / "venv").exists()
    shutil.rmtree(home, ignore_errors=True)
