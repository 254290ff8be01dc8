"""Reuse a Thunderbird account: find profiles, read ``prefs.js``, offer the mail accounts.

Only settings are read (servers, ports, security, user names, the Sent folder choice).
Passwords and OAuth tokens stay where Thunderbird keeps them (``logins.json``, encrypted
with ``key4.db``): they are never read; the user types the password once, into the keyring.

``prefs.js`` holds one ``user_pref("name", value);`` per line.  Thunderbird rewrites it
while running, so what is read is a point-in-time copy.  Facts used (Thunderbird's
``mailnews.js``, ``MailNewsTypes2.idl``, ``SmtpClient.sys.mjs``): ``socketType`` /
``try_ssl`` 0 plain, 2 STARTTLS, 3 TLS; ``authMethod`` 10 is OAuth2; an absent IMAP port
is 993 with TLS, else 143; an absent or 0 SMTP port is 465 with TLS, else 587.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from addin.errors import ConfigError

_PREF = re.compile(r'^\s*user_pref\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*(.*?)\s*\)\s*;\s*$')
OAUTH2 = 10
TLS = 3


@dataclass(frozen=True)
class ThunderbirdAccount:
    key: str  # "account1"
    kind: str  # imap, pop3, ews, graph
    email: str
    full_name: str
    username: str
    incoming: str  # imaps://host:993, imap://host:143 or the EWS URL
    outgoing: str  # smtps://host:465 or smtp://host:587 ("" when none)
    oauth: bool
    sent_folder: str  # the IMAP folder Thunderbird files sent mail in ("" when not on this server)
    usable: bool
    reason: str = ""
    note: str = ""  # something the user must do (e.g. an app password instead of Google sign-in)

    @property
    def label(self) -> str:
        return f"{self.email or self.username} ({self.kind.upper()} {self.incoming})"

    def settings(self) -> dict[str, str]:
        """Profile settings (``mailbox.*``) for this account; never a secret."""
        if not self.usable:
            raise ConfigError(f"{self.label} cannot be used: {self.reason}", title="Account not usable")
        values = {
            "mailbox.email": self.email,
            "mailbox.username": self.username,
            "mailbox.auth": "oauth" if self.oauth else "basic",
        }
        if self.kind == "ews":
            values.update({"mailbox.backend": "ews", "mailbox.server": self.incoming})
            return values
        values.update(
            {
                "mailbox.backend": "imap",
                "mailbox.imap_server": self.incoming,
                "mailbox.smtp_server": self.outgoing,
                "mailbox.sent_folder": self.sent_folder,
            }
        )
        return values


def parse_prefs(text: str) -> dict[str, Any]:
    """The ``user_pref`` lines of a prefs.js as a dict (strings, ints, bools)."""
    prefs: dict[str, Any] = {}
    for line in text.splitlines():
        match = _PREF.match(line)
        if not match:
            continue
        try:
            name = json.loads(f'"{match.group(1)}"')
        except ValueError:
            continue
        raw = match.group(2)
        value: Any
        if raw.startswith('"'):
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw.strip('"')
        elif raw in ("true", "false"):
            value = raw == "true"
        else:
            try:
                value = int(raw)
            except ValueError:
                continue
        prefs[name] = value
    return prefs


def _int(prefs: dict[str, Any], key: str, default: int) -> int:
    value = prefs.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(prefs: dict[str, Any], key: str) -> str:
    value = prefs.get(key, "")
    return value if isinstance(value, str) else ""


def _keys(value: Any) -> list[str]:
    return [k.strip() for k in str(value or "").split(",") if k.strip()]


def _outgoing(prefs: dict[str, Any], key: str) -> tuple[str, str, bool]:
    """(url, username, oauth) of an outgoing server key; newer Thunderbirds name the
    prefs ``mail.outgoingserver.*``, older ones ``mail.smtpserver.*``."""
    for prefix in ("mail.smtpserver.", "mail.outgoingserver."):
        host = _str(prefs, f"{prefix}{key}.hostname")
        if not host:
            continue
        kind = _str(prefs, f"{prefix}{key}.type") or "smtp"
        if kind != "smtp":
            return "", "", False
        security = _int(prefs, f"{prefix}{key}.try_ssl", 0)
        port = _int(prefs, f"{prefix}{key}.port", 0) or (465 if security == TLS else 587)
        scheme = "smtps" if security == TLS else "smtp"
        oauth, _ = _oauth(prefs, f"{prefix}{key}", host)
        return f"{scheme}://{host}:{port}", _str(prefs, f"{prefix}{key}.username"), oauth
    return "", "", False


def _sent_folder(uri: str, host: str) -> str:
    """The folder path of ``imap://user%40example.com@host/Sent`` when it is on ``host``."""
    if not uri.startswith("imap://"):
        return ""
    parts = urlsplit(uri)
    if (parts.hostname or "").lower() != host.lower():
        return ""
    return unquote(parts.path.lstrip("/"))


GOOGLE_NOTE = (
    "Thunderbird signs in to Google with Google's own sign-in, which CRM Bridge does not offer: "
    "create an app password in your Google account and type it as the password."
)


def _oauth(prefs: dict[str, Any], prefix: str, host: str) -> tuple[bool, str]:
    """(use Microsoft 365 sign-in, note) for an OAuth2 server; only Microsoft's is offered."""
    if _int(prefs, f"{prefix}.authMethod", 3) != OAUTH2:
        return False, ""
    issuer = _str(prefs, f"{prefix}.oauth2.issuer").lower()
    if "google" in issuer or host.lower().endswith(("gmail.com", "googlemail.com")):
        return False, GOOGLE_NOTE
    return True, ""


def accounts(prefs: dict[str, Any]) -> list[ThunderbirdAccount]:
    """Mail accounts in Thunderbird's order; Local Folders, feeds and news are left out."""
    default_smtp = _str(prefs, "mail.smtp.defaultserver") or (_keys(prefs.get("mail.smtpservers")) or [""])[0]
    found: list[ThunderbirdAccount] = []
    for acct in _keys(prefs.get("mail.accountmanager.accounts")):
        server = _str(prefs, f"mail.account.{acct}.server")
        kind = _str(prefs, f"mail.server.{server}.type")
        if not server or kind in ("none", "rss", "nntp", ""):
            continue
        ids = _keys(prefs.get(f"mail.account.{acct}.identities"))
        ident = ids[0] if ids else ""
        host = _str(prefs, f"mail.server.{server}.hostname")
        username = _str(prefs, f"mail.server.{server}.userName")
        email = _str(prefs, f"mail.identity.{ident}.useremail") or (username if "@" in username else "")
        full_name = _str(prefs, f"mail.identity.{ident}.fullName")
        oauth, note = _oauth(prefs, f"mail.server.{server}", host)
        common = {"key": acct, "kind": kind, "email": email, "full_name": full_name, "username": username}
        if kind == "imap":
            security = _int(prefs, f"mail.server.{server}.socketType", 0)
            port = _int(prefs, f"mail.server.{server}.port", 993 if security == TLS else 143)
            scheme = "imaps" if security == TLS else "imap"
            smtp_key = _str(prefs, f"mail.identity.{ident}.smtpServer") or default_smtp
            outgoing, _, smtp_oauth = _outgoing(prefs, smtp_key)
            fcc = prefs.get(f"mail.identity.{ident}.fcc", True) is not False
            sent = _sent_folder(_str(prefs, f"mail.identity.{ident}.fcc_folder"), host) if fcc else ""
            reason = "" if outgoing else "it has no SMTP outgoing server"
            found.append(
                ThunderbirdAccount(
                    **common,
                    incoming=f"{scheme}://{host}:{port}",
                    outgoing=outgoing,
                    oauth=oauth or smtp_oauth,
                    sent_folder=sent,
                    usable=bool(outgoing),
                    reason=reason,
                    note=note,
                )
            )
        elif kind == "ews":
            url = _str(prefs, f"mail.server.{server}.ews_url")
            found.append(
                ThunderbirdAccount(
                    **common,
                    incoming=url,
                    outgoing="",
                    oauth=oauth,
                    sent_folder="",
                    usable=bool(url),
                    reason="" if url else "it has no EWS address",
                )
            )
        else:
            reason = {
                "pop3": "POP3 has no server-side folders, no Sent folder and no flags to carry the "
                "tracking category; add the mailbox as IMAP instead",
                "graph": "Exchange Online over Microsoft Graph is set up with 'Microsoft 365' sign-in",
            }.get(kind, f"{kind} accounts are not supported")
            found.append(
                ThunderbirdAccount(
                    **common,
                    incoming=f"{kind}://{host}" if host else kind,
                    outgoing="",
                    oauth=oauth,
                    sent_folder="",
                    usable=False,
                    reason=reason,
                )
            )
    return found


def profile_roots(home: Path | None = None, platform: str | None = None) -> list[Path]:
    """Where Thunderbird keeps ``profiles.ini`` on this OS (Linux: also Flatpak and Snap)."""
    home = home or Path.home()
    platform = platform or sys.platform
    if platform == "win32":
        appdata = os.environ.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return [base / "Thunderbird"]
    if platform == "darwin":
        return [home / "Library" / "Thunderbird"]
    return [
        home / ".thunderbird",
        home / ".var" / "app" / "org.mozilla.Thunderbird" / ".thunderbird",
        home / "snap" / "thunderbird" / "common" / ".thunderbird",
    ]


def find_profiles(roots: list[Path] | None = None) -> list[Path]:
    """Profile folders named in ``profiles.ini``, the default (per install) first."""
    result: list[Path] = []
    for root in roots if roots is not None else profile_roots():
        ini = root / "profiles.ini"
        if not ini.is_file():
            continue
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read(ini, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        defaults = {
            parser.get(s, "Default", fallback="") for s in parser.sections() if s.startswith("Install")
        }
        found: list[tuple[int, Path]] = []
        for section in parser.sections():
            if not section.startswith("Profile") or not parser.has_option(section, "Path"):
                continue
            rel = parser.get(section, "Path")
            relative = parser.get(section, "IsRelative", fallback="1") == "1"
            path = root / rel if relative else Path(rel)
            first = rel in defaults or parser.get(section, "Default", fallback="0") == "1"
            found.append((0 if first else 1, path))
        result += [p for _, p in sorted(found, key=lambda t: t[0]) if (p / "prefs.js").is_file()]
    return result


def read_accounts(profile_dir: Path | None = None) -> tuple[Path, list[ThunderbirdAccount]]:
    """The accounts of one profile (the given folder, or the default one found)."""
    if profile_dir is None:
        profiles = find_profiles()
        if not profiles:
            places = ", ".join(str(p) for p in profile_roots())
            raise ConfigError(
                f"No Thunderbird profile was found (looked in {places}); pass --profile-dir.",
                title="Thunderbird not found",
            )
        profile_dir = profiles[0]
    prefs_file = profile_dir / "prefs.js"
    try:
        text = prefs_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(
            f"Cannot read {prefs_file}: {exc.strerror or exc}", title="Thunderbird profile"
        ) from None
    return profile_dir, accounts(parse_prefs(text))
