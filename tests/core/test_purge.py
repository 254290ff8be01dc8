"""``crm-bridge purge``: lists first, removes profiles' keyring entries and folders only when told."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from addin import paths, purge
from addin.config import Config
from addin.credentials import CredentialStore, CredentialStoreError


def _setup_two_profiles() -> None:
    cfg = Config.load()
    cfg.add_profile("default", {"mailbox.email": "ann@example.com"})
    cfg.add_profile("second", {"mailbox.email": "bob@example.com"})
    cfg.save()
    CredentialStore("default").set("mailbox", "pw-1")
    CredentialStore("default").set("crm", "pw-2")
    # A Microsoft sign-in cache bigger than Windows Credential Manager takes in one entry.
    CredentialStore("second").set_blob("msal-cache", "x" * 9000)
    journal = paths.data_dir() / "profiles" / "default" / "journal.sqlite3"
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"journal")
    paths.log_dir().mkdir(parents=True)


def _args(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"yes": False, "json": False, **kw})


def test_without_yes_it_only_lists(memory_keyring, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _setup_two_profiles()
    before = dict(memory_keyring.store)
    assert purge.main(_args(json=True)) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["profiles"] == ["default", "second"]
    assert set(listed["folders"]) == {str(paths.config_dir()), str(paths.data_dir()), str(paths.log_dir())}
    assert listed["removed_keyring_entries"] == 0 and listed["removed_folders"] == []
    assert memory_keyring.store == before
    assert paths.config_dir().exists() and paths.data_dir().exists()


def test_yes_removes_every_entry_including_shards_and_the_folders(memory_keyring, capsys) -> None:  # type: ignore[no-untyped-def]
    _setup_two_profiles()
    assert len(memory_keyring.store) > 4  # the cache was split into shards
    assert purge.main(_args(yes=True)) == 0
    assert "Removed 2 profile(s), 3 keyring entries and 3 folder(s)." in capsys.readouterr().out
    assert memory_keyring.store == {}
    for folder in (paths.config_dir(), paths.data_dir(), paths.log_dir()):
        assert not folder.exists()


def test_a_locked_keyring_stops_it_before_any_file_is_removed(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _setup_two_profiles()

    def locked(*_args: object) -> None:
        raise keyring.errors.KeyringLocked("locked")

    monkeypatch.setattr(memory_keyring, "get_password", locked)
    with pytest.raises(CredentialStoreError, match="locked"):
        purge.purge()
    assert (paths.config_dir() / "config.json").exists()
    assert (paths.data_dir() / "profiles" / "default" / "journal.sqlite3").exists()


def test_with_no_keyring_on_the_system_the_folders_still_go(isolated_dirs: Path) -> None:
    cfg = Config.load()
    cfg.add_profile("default", {})
    cfg.save()
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        done = purge.purge()
    finally:
        keyring.set_keyring(previous)
    assert done.removed_keyring_entries == 0
    assert not paths.config_dir().exists()


def test_nothing_to_remove_is_fine(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    done = purge.purge()
    assert done.profiles == ["default"] and done.removed_folders == [] and done.removed_keyring_entries == 0
