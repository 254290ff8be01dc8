"""Profile, data and log folders are 0700 and their files 0600, also after a start from loosened ones."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from addin import paths
from addin.bridge import Bridge
from addin.config import Config, Profile
from addin.logging_setup import LOG_FILE, setup_logging
from addin.secrets import MemorySecrets
from addin.store import Store, StoreError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes; Windows relies on profile ACLs")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _loosen(home: Path) -> None:
    for path in [home, *home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_start_tightens_loosened_folders_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_BRIDGE_HOME", str(tmp_path))
    profile = Profile("work")
    profile.update({"mailbox.email": "alex@contoso.example", "crm.url": "https://contoso.crm.dynamics.com"})
    cfg = Config()
    cfg.profiles["work"] = profile
    cfg.save()
    bridge = Bridge(profile, secrets=MemorySecrets(), config=cfg)
    bridge._store.audit("tracked", subject="Quarterly numbers")
    bridge.start()
    bridge.stop()
    log_path = setup_logging(log_dir=tmp_path / "logs")
    logging.getLogger("test").warning("a line")

    _loosen(tmp_path)  # as an older version or a restored backup would leave them
    data = tmp_path / "data"
    assert _mode(data / "profiles" / "work" / "journal.sqlite3") == 0o644

    again = Bridge(Profile("work", dict(profile.values)), secrets=MemorySecrets(), config=cfg)
    again.start()
    again.stop()
    Config.load()  # reading the settings is enough to tighten them
    for handler in list(logging.getLogger().handlers):
        if getattr(handler, "baseFilename", None) == str(log_path):
            logging.getLogger().removeHandler(handler)
            handler.close()
    setup_logging(log_dir=tmp_path / "logs")

    folders = [data, data / "profiles", data / "profiles" / "work", tmp_path / "config", tmp_path / "logs"]
    for folder in folders:
        assert _mode(folder) == 0o700, folder
    private_files = [
        data / "profiles" / "work" / "journal.sqlite3",
        data / "profiles" / "work" / "engine.lock",
        tmp_path / "config" / "config.json",
        tmp_path / "logs" / LOG_FILE,
    ]
    private_files += [p for p in (data / "profiles" / "work").glob("journal.sqlite3-*")]
    for path in private_files:
        assert _mode(path) == 0o600, path


def test_new_journal_and_its_wal_files_are_private(tmp_path: Path) -> None:
    store = Store(tmp_path / "j" / "journal.sqlite3")
    store.put("k", 1)
    files = sorted((tmp_path / "j").iterdir())
    assert {p.name for p in files} >= {"journal.sqlite3", "journal.sqlite3-wal", "journal.sqlite3-shm"}
    assert all(_mode(p) == 0o600 for p in files)
    assert _mode(tmp_path / "j") == 0o700
    store.close()


def test_read_only_wal_side_files_are_repaired_on_open(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    store = Store(path)
    store.put("k", 1)
    # Keep the side files: a second connection holds the WAL open while the first closes.
    keeper = sqlite3.connect(str(path))
    keeper.execute("SELECT * FROM kv").fetchall()
    store.close()
    for side in tmp_path.glob("journal.sqlite3*"):
        side.chmod(0o444)
    keeper.close()
    reopened = Store(path)
    reopened.put("k", 2)  # writable again
    assert reopened.get("k") == 2
    reopened.close()


def test_a_journal_that_cannot_be_written_is_named_in_the_error(tmp_path: Path) -> None:
    folder = tmp_path / "j"
    store = Store(folder / "journal.sqlite3")
    store.put("k", 1)
    # A read-only connection stands for a journal whose files cannot be repaired.
    store._db.execute("PRAGMA query_only=ON")
    with pytest.raises(StoreError) as info:
        store.put("k", 2)
    assert str(folder / "journal.sqlite3") in info.value.message
    store.close()


def test_a_folder_that_cannot_be_created_is_a_readable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(paths.PrivacyError, match="Fix:"):
        paths.ensure_private_dir(blocker / "data")


def test_console_log_lines_are_escaped_and_carry_no_traceback(tmp_path: Path) -> None:
    from addin.logging_setup import ConsoleFormatter

    formatter = ConsoleFormatter(tmp_path / "crm-bridge.log")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "addin", logging.ERROR, __file__, 1, "send of %s failed", ("\x1b[2JQuote",), sys.exc_info()
        )
    line = formatter.format(record)
    assert "\x1b" not in line and "\\x1b[2JQuote" in line
    assert "Traceback" not in line and str(tmp_path / "crm-bridge.log") in line
