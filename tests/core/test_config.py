"""Settings are declared as data, validated per value, and saved atomically without secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from addin.config import Config, Profile
from addin.errors import ConfigError
from addin.settings_schema import SETTINGS, defaults
from addin.settings_values import coerce


def test_every_setting_has_a_valid_default_and_label() -> None:
    for setting in SETTINGS:
        assert setting.label
        assert coerce(setting.key, setting.default) == setting.default


def test_bad_values_are_refused_with_readable_reasons() -> None:
    profile = Profile("p")
    with pytest.raises(ConfigError) as info:
        profile.update(
            {"tracking.poll_seconds": "2", "mailbox.email": "not an address", "crm.url": "ftp://x"}
        )
    text = info.value.message
    assert "at least 10" in text and "not an e-mail address" in text and "https://" in text
    assert profile.get("tracking.poll_seconds") == 60  # nothing half-applied
    with pytest.raises(ValueError, match="single line"):
        coerce("tracking.request_category", "Track\r\nBcc: x")


def test_profiles_round_trip_and_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.json"
    cfg = Config(path)
    cfg.add_profile(
        "work", {"mailbox.email": "alex@contoso.example", "crm.url": "https://contoso.crm.dynamics.com"}
    )
    cfg.add_profile(
        "second org", {"mailbox.email": "alex@contoso.example", "crm.url": "https://other.crm4.dynamics.com"}
    )
    cfg.active = "work"
    cfg.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Config.load(path)
    assert sorted(loaded.profiles) == ["second org", "work"]
    work = loaded.profile()
    assert work.crm_api_url == "https://contoso.crm.dynamics.com/api/data/v9.2/"
    assert work.mailbox_settings().username == "alex@contoso.example"
    assert work.mailbox_settings().verify_tls is True
    raw = json.loads(path.read_text())
    assert raw["version"] == 1


def test_unknown_profile_and_bad_names(tmp_path: Path) -> None:
    cfg = Config(tmp_path / "c.json")
    with pytest.raises(ConfigError, match="No profile"):
        cfg.profile("missing")
    with pytest.raises(ConfigError):
        cfg.add_profile("../escape")
    assert cfg.profile().values == defaults()


def test_newer_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"version": 99, "profiles": {}}))
    with pytest.raises(ConfigError, match="newer"):
        Config.load(path)


def test_sign_in_settings_saved_under_their_old_names_are_kept(tmp_path: Path) -> None:
    # Files written before Microsoft sign-in served the CRM and a Graph mailbox alike kept the
    # client id and tenant as crm.*; upgrading must not lose an organisation's app registration.
    path = tmp_path / "c.json"
    client_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
    old = {
        "crm.url": "https://contoso.crm.dynamics.com",
        "crm.client_id": client_id,
        "crm.tenant": "contoso.com",
    }
    path.write_text(json.dumps({"version": 1, "active": "default", "profiles": {"default": old}}))
    profile = Config.load(path).profile()
    assert profile.get("auth.client_id") == client_id
    assert profile.get("auth.tenant") == "contoso.com"
    # A value saved under the new name wins over a leftover old one.
    both = {**old, "auth.client_id": "11111111-2222-3333-4444-555555555555"}
    path.write_text(json.dumps({"version": 1, "active": "default", "profiles": {"default": both}}))
    assert Config.load(path).profile().get("auth.client_id") == "11111111-2222-3333-4444-555555555555"
