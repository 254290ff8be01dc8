"""Folders and files the user may not write give a readable error naming them, never a traceback.

Permissions only bite for an ordinary user, so the commands run as one: as the current
user when the suite is not root, else as ``nobody`` through ``setpriv`` (util-linux).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.name != "posix", reason="POSIX permissions; Windows relies on profile ACLs"),
]

NOBODY = 65534
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def _as_user(argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CRM_BRIDGE_HOME": str(home),
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    prefix: list[str] = []
    if ROOT:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to run the CLI as an ordinary user"
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "addin", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=str(home),
    )


@pytest.fixture
def home() -> Iterator[Path]:
    """A home the ordinary user owns, in a folder it can reach (pytest's tmp is root-only)."""
    base = Path(tempfile.mkdtemp(prefix="crm-bridge-perm-"))
    base.chmod(0o755)
    path = base / "home"
    path.mkdir()
    if ROOT:
        os.chown(path, NOBODY, NOBODY)
    yield path
    shutil.rmtree(base, ignore_errors=True)


def _foreign(path: Path, *, folder: bool) -> None:
    """A folder or file the ordinary user cannot change (owned by root, or read-only)."""
    if folder:
        path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    if ROOT:
        path.chmod(0o755 if folder else 0o644)
    else:
        path.chmod(0o555 if folder else 0o444)


def _readable_failure(done: subprocess.CompletedProcess[str], *names: str) -> None:
    text = done.stdout + done.stderr
    assert done.returncode == 2, (done.returncode, text)
    assert "Traceback" not in text and "crash report" not in text
    for name in names:
        assert name in text, (name, text)
    assert "Fix" in text, text


def test_unwritable_config_folder(home: Path) -> None:
    _foreign(home / "config", folder=True)
    done = _as_user(["config", "set", "mailbox.email=a@b.example"], home)
    _readable_failure(done, str(home / "config"))


def test_unwritable_profiles_folder(home: Path) -> None:
    assert (
        _as_user(
            ["config", "set", "mailbox.email=a@b.example", "crm.url=https://contoso.crm.dynamics.com"], home
        ).returncode
        == 0
    )
    _foreign(home / "data" / "profiles", folder=True)
    done = _as_user(["status"], home)
    _readable_failure(done, str(home / "data" / "profiles"))


def test_log_file_of_another_user(home: Path) -> None:
    assert (
        _as_user(
            ["config", "set", "mailbox.email=a@b.example", "crm.url=https://contoso.crm.dynamics.com"], home
        ).returncode
        == 0
    )
    (home / "logs").mkdir()
    if ROOT:
        os.chown(home / "logs", NOBODY, NOBODY)
    _foreign(home / "logs" / "crm-bridge.log", folder=False)
    done = _as_user(["run"], home)
    _readable_failure(done, str(home / "logs" / "crm-bridge.log"))


def test_read_only_journal_side_files_are_repaired(home: Path) -> None:
    assert (
        _as_user(
            ["config", "set", "mailbox.email=a@b.example", "crm.url=https://contoso.crm.dynamics.com"], home
        ).returncode
        == 0
    )
    assert _as_user(["log"], home).returncode == 0  # creates the journal
    journal = home / "data" / "profiles" / "default"
    files = list(journal.glob("journal.sqlite3*"))
    assert files
    for path in files:
        path.chmod(0o444)
    done = _as_user(["log"], home)
    assert done.returncode == 0, done.stderr
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in journal.glob("journal.sqlite3*"))
