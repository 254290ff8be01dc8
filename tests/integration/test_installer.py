"""The Linux per-user installer: install, upgrade in place, uninstall, purge, in a fresh home.

One cycle crosses both ways of installing: from source (a virtual environment), an upgrade to
the frozen build over a running tray, an uninstall that keeps the user's data, a reinstall
from source that picks it up, then an uninstall with --purge.

No Secret Service daemon runs here, so the source installs use a keyring back end kept in a
file (tests/integration/file_keyring.py, loaded by keyring's own PYTHON_KEYRING_BACKEND);
the frozen program cannot load it (it imports nothing from outside its folder), so while it
is installed the test only checks that the entries are left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "installer/linux/install.sh"
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1800)]


def user_env(home: Path) -> dict[str, str]:
    env = {
        "HOME": str(home),
        # No virtual environment on PATH: the installer makes its own.
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHON": sys.executable,
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(Path(__file__).parent),
        "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
        "CRM_BRIDGE_TEST_KEYRING": str(home / "keyring.json"),
        # pip's download cache is shared with the test run, so the install needs no network
        # when the same wheels were installed before.
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
    }
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def sh(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), env=env, input=stdin, capture_output=True, text=True, timeout=900, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout


def keyring_entries(home: Path) -> dict[str, str]:
    path = home / "keyring.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_install_upgrade_uninstall_purge(tmp_path: Path, frozen_build: Path) -> None:
    home = tmp_path / "user-home"
    (home / "tmp").mkdir(parents=True)
    env = user_env(home)
    prefix = home / ".local/share/crm-bridge"
    launcher = home / ".local/bin/crm-bridge"
    menu = home / ".local/share/applications/crm-bridge.desktop"
    icon = home / ".local/share/icons/hicolor/256x256/apps/crm-bridge.png"
    login = home / ".config/autostart/crm-bridge.desktop"
    config = home / ".config/crm-bridge/config.json"
    journal = prefix / "profiles/default/journal.sqlite3"

    # 1. Install from source, with start at login.
    out = ok(sh(env, "bash", str(INSTALL), "--source", "--autostart"))
    assert "crm-bridge 0." in out
    assert launcher.resolve() == (prefix / "venv/bin/crm-bridge").resolve()
    assert f'Exec="{prefix}/venv/bin/crm-bridge"' in menu.read_text()
    assert icon.exists()
    assert f"Exec={prefix}/venv/bin/crm-bridge --minimized" in login.read_text()

    # The user sets the bridge up: settings, two keyring entries and a journal.
    cli = str(launcher)
    ok(
        sh(
            env,
            cli,
            "config",
            "set",
            "mailbox.email=ann@example.com",
            "mailbox.server=https://127.0.0.1:9/EWS/Exchange.asmx",
            "mailbox.username=ann",
            "crm.url=https://127.0.0.1:9/",
            "--activate",
        )
    )
    ok(sh(env, cli, "config", "secret", "mailbox", stdin="mail-password\n"))
    ok(sh(env, cli, "config", "secret", "crm", stdin="crm-password\n"))
    ok(sh(env, cli, "status", "--json"))
    secrets = keyring_entries(home)
    assert set(secrets) == {"crm-bridge:default:mailbox\nsecret", "crm-bridge:default:crm\nsecret"}
    assert journal.exists()
    settings = config.read_text()

    # 2. Upgrade to the frozen build while the tray runs: it is asked to quit first.
    tray = subprocess.Popen([cli, "--minimized"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list((home / "tmp").glob("crm-bridge-*")) and time.monotonic() < deadline:
            assert tray.poll() is None, tray.communicate()[1][-2000:]
            time.sleep(0.2)
        out = ok(sh(env, "bash", str(INSTALL), "--frozen", str(frozen_build / "crm-bridge")))
        assert "Upgrading CRM Bridge" in out
        assert tray.wait(timeout=60) == 0
    finally:
        if tray.poll() is None:
            tray.kill()
            tray.wait()
    assert launcher.resolve() == (prefix / "app/crm-bridge").resolve()
    assert not (prefix / "venv").exists()
    assert f'Exec="{prefix}/app/crm-bridge"' in menu.read_text()
    # Kept: settings, journal, keyring entries, and start at login now runs the new program.
    assert config.read_text() == settings
    assert journal.exists()
    assert keyring_entries(home) == secrets
    assert f"Exec={prefix}/app/crm-bridge --minimized" in login.read_text()
    shown = json.loads(ok(sh(env, cli, "config", "show", "--json")))
    assert shown["settings"]["mailbox.email"] == "ann@example.com"

    # 3. Uninstall: the program goes, the user's data stays.
    out = ok(sh(env, "bash", str(prefix / "uninstall.sh")))
    assert "kept" in out
    for gone in (launcher, menu, icon, login, prefix / "app", prefix / "uninstall.sh", prefix / "install.sh"):
        assert not gone.exists() and not gone.is_symlink(), gone
    assert config.read_text() == settings
    assert journal.exists()
    assert keyring_entries(home) == secrets

    # 4. A new install from source picks up where the user left off.
    ok(sh(env, "bash", str(INSTALL)))
    shown = json.loads(ok(sh(env, cli, "config", "show", "--json")))
    assert shown["settings"]["mailbox.email"] == "ann@example.com"
    assert not login.exists()  # start at login was switched off with the uninstall

    # 5. --purge without a terminal and without --yes lists and removes nothing.
    refused = sh(env, "bash", str(prefix / "uninstall.sh"), "--purge")
    assert refused.returncode != 0
    assert "default" in refused.stdout and "nothing removed" in refused.stderr
    assert launcher.exists() and config.exists() and keyring_entries(home) == secrets

    # 6. --purge --yes: everything the installer and the app wrote is gone.
    out = ok(sh(env, "bash", str(prefix / "uninstall.sh"), "--purge", "--yes"))
    assert "Removed 1 profile(s), 2 keyring entries" in out
    assert keyring_entries(home) == {}
    assert not (home / ".config/crm-bridge").exists()
    assert not prefix.exists()
    for gone in (launcher, menu, icon, login):
        assert not gone.exists() and not gone.is_symlink(), gone
    leftovers = [p for p in home.rglob("*") if p.is_file() and p.name != "keyring.json"]
    assert [p for p in leftovers if "crm-bridge" in str(p.relative_to(home))] == []
