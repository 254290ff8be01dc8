"""Reusing a Thunderbird account: profiles.ini and prefs.js as Thunderbird writes them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from addin.errors import ConfigError
from addin.thunderbird import accounts, find_profiles, parse_prefs, profile_roots, read_accounts

DATA = Path(__file__).parents[1] / "data" / "thunderbird"
DEFAULT = DATA / "Profiles" / "x7k2m9qa.default-release"


def test_profiles_ini_lists_the_install_default_first() -> None:
    assert find_profiles([DATA]) == [DEFAULT, DATA / "Profiles" / "abcd1234.work"]


def test_profile_roots_per_os(tmp_path: Path) -> None:
    assert profile_roots(tmp_path, "linux")[0] == tmp_path / ".thunderbird"
    assert profile_roots(tmp_path, "darwin") == [tmp_path / "Library" / "Thunderbird"]
    assert profile_roots(tmp_path, "win32")[0].name == "Thunderbird"


def test_prefs_values_are_typed_and_unescaped() -> None:
    prefs = parse_prefs((DEFAULT / "prefs.js").read_text())
    assert prefs["mail.server.server2.port"] == 993
    assert prefs["mail.identity.id1.valid"] is True
    assert prefs["mail.identity.id2.fullName"] == 'Alice "Work" Example'
    assert "app.donation.eoy.version.viewed" in prefs


def test_accounts_in_thunderbird_order_without_local_folders() -> None:
    _, found = read_accounts(DEFAULT)
    assert [a.email for a in found] == [
        "alice@fastmail.example",
        "alice.work@gmail.example",
        "alice@isp.example",
    ]
    fastmail, gmail, pop = found

    assert fastmail.usable and not fastmail.oauth
    assert fastmail.settings() == {
        "mailbox.backend": "imap",
        "mailbox.email": "alice@fastmail.example",
        "mailbox.username": "alice@fastmail.example",
        "mailbox.auth": "basic",
        "mailbox.imap_server": "imaps://imap.fastmail.example:993",
        "mailbox.smtp_server": "smtps://smtp.fastmail.example:465",
        "mailbox.sent_folder": "Sent Items",
    }
    # Google OAuth2 account, STARTTLS outgoing server with no port (-> 587), Gmail-style Sent
    # folder. Google's sign-in is not offered: the user is told to use an app password.
    assert gmail.usable and not gmail.oauth and "app password" in gmail.note
    assert gmail.outgoing == "smtp://smtp.gmail.example:587"
    assert gmail.sent_folder == "[Gmail]/Sent Mail"
    assert gmail.settings()["mailbox.auth"] == "basic"

    assert not pop.usable and "POP3" in pop.reason
    with pytest.raises(ConfigError):
        pop.settings()


def test_a_microsoft_oauth_account_uses_microsoft_365_sign_in() -> None:
    prefs = parse_prefs(
        "\n".join(
            [
                'user_pref("mail.account.account1.identities", "id1");',
                'user_pref("mail.account.account1.server", "server1");',
                'user_pref("mail.accountmanager.accounts", "account1");',
                'user_pref("mail.identity.id1.smtpServer", "smtp1");',
                'user_pref("mail.identity.id1.useremail", "sam@contoso.example");',
                'user_pref("mail.server.server1.authMethod", 10);',
                'user_pref("mail.server.server1.hostname", "outlook.office365.com");',
                'user_pref("mail.server.server1.oauth2.issuer", "login.microsoftonline.com");',
                'user_pref("mail.server.server1.socketType", 3);',
                'user_pref("mail.server.server1.type", "imap");',
                'user_pref("mail.server.server1.userName", "sam@contoso.example");',
                'user_pref("mail.smtpserver.smtp1.authMethod", 10);',
                'user_pref("mail.smtpserver.smtp1.hostname", "smtp.office365.com");',
                'user_pref("mail.smtpserver.smtp1.port", 587);',
                'user_pref("mail.smtpserver.smtp1.try_ssl", 2);',
            ]
        )
    )
    [account] = accounts(prefs)
    assert account.oauth and not account.note
    assert account.settings()["mailbox.auth"] == "oauth"
    assert account.incoming == "imaps://outlook.office365.com:993"


def test_an_ews_account_maps_to_the_ews_backend() -> None:
    _, [ews] = read_accounts(DATA / "Profiles" / "abcd1234.work")
    assert ews.settings()["mailbox.backend"] == "ews"
    assert ews.settings()["mailbox.server"] == "https://mail.contoso.example/EWS/Exchange.asmx"
    assert ews.username == "CONTOSO\\alex"


def test_a_missing_profile_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_accounts(tmp_path / "nowhere")
    assert "prefs.js" in caught.value.message


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "addin", "config", "import-thunderbird", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_lists_then_imports_an_account_without_any_password(tmp_path: Path) -> None:
    profile = tmp_path / "tb"
    shutil.copytree(DEFAULT, profile)
    # A logins.json next to prefs.js is never read: its content must not reach the config.
    (profile / "logins.json").write_text('{"logins": [{"encryptedPassword": "PLANTED-SECRET"}]}')
    listed = _cli(tmp_path, "--profile-dir", str(profile), "--json")
    assert listed.returncode == 0, listed.stderr
    accounts = json.loads(listed.stdout)["accounts"]
    assert [a["usable"] for a in accounts] == [True, True, False]

    imported = _cli(tmp_path, "--profile-dir", str(profile), "--account", "1")
    assert imported.returncode == 0, imported.stderr
    assert "config secret mailbox" in imported.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "addin", "config", "show", "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path)),
        timeout=60,
    )
    settings = json.loads(shown.stdout)["settings"]
    assert settings["mailbox.backend"] == "imap"
    assert settings["mailbox.imap_server"] == "imaps://imap.fastmail.example:993"
    assert "PLANTED-SECRET" not in shown.stdout
    for path in (tmp_path / "config").rglob("*"):
        if path.is_file():
            assert b"PLANTED-SECRET" not in path.read_bytes()

    refused = _cli(tmp_path, "--profile-dir", str(profile), "--account", "3")
    assert refused.returncode == 2 and "POP3" in refused.stderr
