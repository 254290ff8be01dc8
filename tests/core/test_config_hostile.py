"""A damaged or hand-edited settings file never crashes the bridge and is never reinterpreted.

Each case is a file a user (or a disk) could really produce: the file is read through the
schema, a bad value is reported with its key, the file and the fix, and a file that is
unusable as a whole is kept aside while the bridge starts from the last good copy.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from addin.config import Config, take_notices
from addin.errors import ConfigError
from addin.settings_values import coerce

GOOD = {
    "version": 1,
    "active": "default",
    "profiles": {
        "default": {"mailbox.email": "alex@contoso.example", "crm.url": "https://contoso.crm.dynamics.com"}
    },
}


def _write(path: Path, payload: Any) -> None:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")


@pytest.mark.parametrize(
    "payload",
    [
        {"version": "1", "profiles": {}},
        {"version": True, "profiles": {}},
        {"version": 1, "profiles": "default"},
        {"version": 1, "profiles": {"default": "x"}},
        {"version": 1, "profiles": {"default": [1, 2]}},
        {"version": 1, "profiles": {"../../etc": {}}},
        {"version": 1, "active": ["default"], "profiles": {}},
        [],
        None,
        "not json {",
        "[" * 100_000 + "]" * 100_000,
        '{"profiles": ' * 50_000 + "{}" + "}" * 50_000,
    ],
    ids=[
        "version-text",
        "version-bool",
        "profiles-text",
        "profile-text",
        "profile-list",
        "profile-name-path",
        "active-list",
        "array",
        "null",
        "broken-json",
        "deep-array",
        "deep-object",
    ],
)
def test_a_damaged_file_is_kept_aside_and_the_last_good_copy_is_used(tmp_path: Path, payload: Any) -> None:
    path = tmp_path / "config.json"
    take_notices()
    _write(path, GOOD)
    Config.load(path)  # a good load keeps a copy to fall back on
    _write(path, payload)

    cfg = Config.load(path)

    assert cfg.profile().get("mailbox.email") == "alex@contoso.example"
    aside = list(tmp_path.glob("config.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text(encoding="utf-8") == (
        payload if isinstance(payload, str) else json.dumps(payload)
    )
    assert len(cfg.notices) == 1 and "last good copy" in cfg.notices[0] and str(aside[0]) in cfg.notices[0]
    assert take_notices() == cfg.notices
    # The good settings are back in place: the next start is quiet.
    again = Config.load(path)
    assert again.notices == [] and again.profile().get("crm.url") == "https://contoso.crm.dynamics.com"


def test_a_damaged_file_without_a_good_copy_starts_from_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    _write(path, [])
    cfg = Config.load(path)
    assert cfg.profile().get("mailbox.email") == ""
    assert "default settings" in cfg.notices[0]
    assert "newer" not in cfg.notices[0]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("tracking.never_track", 5, "expected a list of text lines"),
        ("tracking.never_track", ["a@b.c", 7], "expected a list of text lines"),
        ("crm.url", 12, "expected text"),
        ("crm.url", ["https://x.example"], "expected text"),
        ("mailbox.email", ["a@b.c"], "expected text"),
        ("crm.auth", "kerberos", "'kerberos' is not one of oauth, ntlm, bearer"),
        ("mailbox.auth", "OAuth2", "is not one of"),
        ("tracking.poll_seconds", 10**30, "at most 3600"),
        ("tracking.poll_seconds", True, "expected a whole number"),
        ("tracking.autotrack", "maybe", "expected yes or no"),
        ("tracking.autotrack", 1, "expected yes or no"),
        ("crm.url", "http://contoso.crm.dynamics.com", "must use https://"),
        ("crm.url", "https://bob:secret@contoso.crm.dynamics.com", "user name or password"),
        ("crm.url", "https://contoso.example:99999", "not a valid URL"),
        ("mailbox.server", "javascript:alert(1)", "starting with https://"),
        ("tracking.request_category", "a\x1b[2Jb", "single line"),
    ],
)
def test_each_bad_value_is_refused_with_key_file_and_fix(
    tmp_path: Path, key: str, value: Any, expected: str
) -> None:
    path = tmp_path / "config.json"
    payload = json.loads(json.dumps(GOOD))
    payload["profiles"]["default"][key] = value
    _write(path, payload)

    cfg = Config.load(path)  # the file still loads, so `config set` can fix it

    with pytest.raises(ConfigError) as info:
        cfg.check(cfg.profile())
    message = info.value.message
    assert key in message and str(path) in message and "Fix:" in message and expected in message
    assert "bob:secret" not in message  # a password in a URL is never repeated back
    with pytest.raises(ConfigError):
        cfg.profile().get(key)  # never silently replaced by the default


def test_a_password_in_a_url_is_removed_from_the_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    payload = json.loads(json.dumps(GOOD))
    payload["profiles"]["default"]["crm.url"] = "http://bob:secret@crm.example"
    _write(path, payload)
    cfg = Config.load(path)
    assert "secret" not in path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="user name or password"):
        cfg.check(cfg.profile())


def test_fixing_one_bad_value_keeps_the_others_and_clears_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    payload = json.loads(json.dumps(GOOD))
    payload["profiles"]["default"]["crm.auth"] = "kerberos"
    _write(path, payload)
    cfg = Config.load(path)
    cfg.profile().update({"crm.auth": "bearer"})
    cfg.save()
    fixed = Config.load(path)
    fixed.check(fixed.profile())
    assert fixed.profile().get("crm.auth") == "bearer"
    assert fixed.profile().get("mailbox.email") == "alex@contoso.example"


def test_loopback_http_is_allowed_and_command_line_text_is_converted() -> None:
    assert coerce("crm.url", "http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert coerce("mailbox.server", "http://localhost/EWS/Exchange.asmx").startswith("http://localhost")
    assert coerce("mailbox.server", "http://[::1]:9/EWS") == "http://[::1]:9/EWS"
    assert coerce("tracking.poll_seconds", "120") == 120
    assert coerce("tracking.autotrack", "no") is False
    assert coerce("tracking.never_track", "a@b.c\n@d.example\n") == ["a@b.c", "@d.example"]


def test_an_unreadable_settings_file_gives_a_readable_error(tmp_path: Path) -> None:
    # A folder where the file should be fails like an unreadable file, also for root.  (Not named
    # config.json: other tests search the temporary tree for settings files by that name.)
    path = tmp_path / "settings.json"
    path.mkdir()
    with pytest.raises(ConfigError, match="Fix:") as info:
        Config.load(path)
    assert str(path) in info.value.message


def test_save_into_a_folder_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    cfg = Config(blocker / "config.json")
    cfg.add_profile("default", {"mailbox.email": "a@b.example"})
    with pytest.raises(ConfigError, match="Cannot save settings"):
        cfg.save()
    good = Config(tmp_path / "ok" / "config.json")
    good.save()
    assert stat.S_IMODE((tmp_path / "ok" / "config.json").stat().st_mode) == 0o600
