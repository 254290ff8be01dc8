"""User configuration: named profiles (a mailbox plus a CRM organisation), as JSON.

Config holds settings only.  Secrets live in the keyring, state in the journal
(:mod:`addin.store`).  Writes are atomic (temporary file + rename) and private to the
user, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addin import paths
from addin.errors import ConfigError
from addin.mailbox.types import MailboxAuth, MailboxSettings
from addin.settings_schema import BY_KEY, coerce, defaults

CONFIG_VERSION = 1
DEFAULT_PROFILE = "default"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


@dataclass
class Profile:
    name: str
    values: dict[str, Any] = field(default_factory=defaults)

    def get(self, key: str) -> Any:
        if key not in BY_KEY:
            raise KeyError(key)
        return self.values.get(key, BY_KEY[key].default)

    def update(self, changes: dict[str, Any]) -> None:
        problems: list[str] = []
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            try:
                clean[key] = coerce(key, value)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("; ".join(problems), title="Settings not saved")
        self.values.update(clean)

    def mailbox_settings(self) -> MailboxSettings:
        email = str(self.get("mailbox.email"))
        backend = str(self.get("mailbox.backend"))
        server = str(self.get("mailbox.server")) or None
        options: dict[str, str] = {}
        if backend == "imap":
            server = str(self.get("mailbox.imap_server")) or server
            # Always present (empty = default), so remembered hints never override them.
            for key in ("smtp_server", "sent_folder"):
                options[key] = str(self.get(f"mailbox.{key}"))
            if self.get("sending.bcc_self"):
                options["bcc_self"] = "yes"
        return MailboxSettings(
            backend=backend,
            email=email,
            username=str(self.get("mailbox.username")) or email,
            server=server,
            options=options,
            auth=MailboxAuth(str(self.get("mailbox.auth"))),
            autodiscover_url=str(self.get("mailbox.autodiscover_url")) or None,
            verify_tls=not _is_loopback(str(self.get("mailbox.server"))),
        )

    @property
    def crm_api_url(self) -> str:
        """The Web API base URL (``.../api/data/v9.2/``) from the organisation URL."""
        url = str(self.get("crm.url")).rstrip("/")
        if not url:
            return ""
        if "/api/data/" in url:
            return url + "/"
        return url + "/api/data/v9.2/"

    @property
    def crm_org_url(self) -> str:
        url = str(self.get("crm.url")).rstrip("/")
        return url.split("/api/data/")[0]

    def missing(self) -> list[str]:
        """Settings that must be filled before the bridge can run."""
        needed = ["mailbox.email", "crm.url"]
        return [BY_KEY[k].label for k in needed if not self.get(k)]


def _is_loopback(url: str) -> bool:
    return bool(re.match(r"^https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", url))


class Config:
    """All profiles, loaded from and saved to one JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / "config.json"
        self.profiles: dict[str, Profile] = {}
        self.active = DEFAULT_PROFILE

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        config = cls(path)
        if not config.path.exists():
            return config
        try:
            raw = json.loads(config.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read {config.path}: {exc}") from None
        if not isinstance(raw, dict) or raw.get("version", 0) > CONFIG_VERSION:
            raise ConfigError(f"{config.path} was written by a newer CRM Bridge; update the app.")
        config.active = str(raw.get("active", DEFAULT_PROFILE))
        for name, values in dict(raw.get("profiles", {})).items():
            profile = Profile(name)
            # Unknown keys are dropped (settings removed in a later version); bad values
            # fall back to defaults rather than keeping the bridge from starting.
            for key, value in dict(values).items():
                if key in BY_KEY:
                    with contextlib.suppress(ValueError):
                        profile.values[key] = coerce(key, value)
            config.profiles[name] = profile
        return config

    def save(self) -> None:
        paths.ensure_private_dir(self.path.parent)
        payload = {
            "version": CONFIG_VERSION,
            "active": self.active,
            "profiles": {name: p.values for name, p in sorted(self.profiles.items())},
        }
        fd, tmp = tempfile.mkstemp(prefix=".config-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise ConfigError(f"Cannot save settings to {self.path}: {exc}") from None

    def profile(self, name: str | None = None) -> Profile:
        name = name or self.active
        if name not in self.profiles:
            if name == DEFAULT_PROFILE and not self.profiles:
                self.profiles[name] = Profile(name)
            else:
                known = ", ".join(sorted(self.profiles)) or "none"
                raise ConfigError(f"No profile named {name!r} (profiles: {known}).")
        return self.profiles[name]

    def add_profile(self, name: str, values: dict[str, Any] | None = None) -> Profile:
        if not _PROFILE_NAME.match(name):
            raise ConfigError(
                "A profile name has letters, digits, spaces, dots, dashes or underscores (at most 64)."
            )
        profile = self.profiles.get(name) or Profile(name)
        if values:
            profile.update(values)
        self.profiles[name] = profile
        return profile

    def remove_profile(self, name: str) -> None:
        self.profiles.pop(name, None)
        if self.active == name:
            self.active = next(iter(sorted(self.profiles)), DEFAULT_PROFILE)
