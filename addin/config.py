"""User configuration: named profiles (a mailbox plus a CRM organisation), as JSON.

Config holds settings only.  Secrets live in the keyring, state in the journal
(:mod:`addin.store`).  Writes are atomic (temporary file + rename) and private to the
user, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from addin import paths
from addin.errors import ConfigError
from addin.mailbox.types import MailboxAuth, MailboxSettings
from addin.settings_schema import BY_KEY, defaults
from addin.settings_values import SettingValueError, coerce, is_loopback_host, strip_credentials

CONFIG_VERSION = 1
# Settings that moved: a file written before keeps its values under the new names.
# (Microsoft sign-in became one per profile, serving the CRM and a Graph mailbox alike.)
RENAMED = {"crm.client_id": "auth.client_id", "crm.tenant": "auth.tenant"}
DEFAULT_PROFILE = "default"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
log = logging.getLogger(__name__)
NOTICES: list[str] = []


@dataclass
class Profile:
    name: str
    values: dict[str, Any] = field(default_factory=defaults)
    # Values read from the file that the schema refused: kept (and written back) so nothing
    # the user typed is lost, reported by ``problems`` until the user fixes them.
    invalid: dict[str, tuple[Any, SettingValueError]] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        if key not in BY_KEY:
            raise KeyError(key)
        if key in self.invalid:
            # Never fall back to the default in its place: an unknown sign-in method must not
            # quietly become another one.
            problem = self.invalid[key][1]
            raise ConfigError(f"{key}: {problem.problem}. Fix: {problem.fix}.", title="Settings need fixing")
        return self.values.get(key, BY_KEY[key].default)

    def update(self, changes: dict[str, Any]) -> None:
        problems: list[str] = []
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            try:
                clean[key] = coerce(key, value)
            except SettingValueError as exc:
                problems.append(f"{exc} (fix: {exc.fix})")
        if problems:
            raise ConfigError("; ".join(problems), title="Settings not saved")
        self.values.update(clean)
        for key in clean:
            self.invalid.pop(key, None)

    def problems(self, path: Path) -> list[str]:
        """One readable line per refused value: the key, the file, what is wrong, the fix."""
        return [
            f"{key} in {path} (profile {self.name!r}): {exc.problem}. Fix: {exc.fix}."
            for key, (_, exc) in sorted(self.invalid.items())
        ]

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
        return [BY_KEY[k].label for k in needed if k not in self.invalid and not self.get(k)]


def _is_loopback(url: str) -> bool:
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


class ConfigCorrupt(Exception):
    """The settings file cannot be used as a whole (not JSON, wrong shape)."""


class Config:
    """All profiles, loaded from and saved to one JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / "config.json"
        self.profiles: dict[str, Profile] = {}
        self.active = DEFAULT_PROFILE
        # What the user must be told about this load (a damaged file set aside).
        self.notices: list[str] = []
        self._scrubbed = False

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        """Read the settings file; never raises for a damaged file.

        A file that is not usable as a whole is renamed ``config.json.corrupt-<time>`` and
        the last good copy (or the defaults) is used instead; ``notices`` says so.  A single
        bad value is kept aside on its profile and reported by :meth:`check`.
        """
        config = cls(path)
        try:
            if not config.path.exists():
                return config
            config._tighten()
            text = config.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"Cannot read the settings file {config.path}: {exc.strerror or exc}. "
                "Fix: make it readable by your user account (or move it away to start afresh).",
                title="Settings unreadable",
            ) from None
        try:
            config._parse(text)
        except ConfigCorrupt as exc:
            config._recover(str(exc))
        else:
            config._keep_good_copy(text)
        if config._scrubbed:
            try:
                config.save()
            except ConfigError as exc:
                log.warning("could not remove a password from the settings file: %s", exc.message)
        return config

    def _tighten(self) -> None:
        """Settings folder 0700 and file 0600 even when an older version or a copy loosened them."""
        try:
            paths.fix_mode(self.path.parent, paths.PRIVATE_DIR)
            paths.fix_mode(self.path, paths.PRIVATE_FILE)
        except paths.PrivacyError as exc:
            # Reading still works; saving will name the problem if it persists.
            log.warning("%s", exc.message)

    def _parse(self, text: str) -> None:
        try:
            raw = json.loads(text)
        except RecursionError:
            raise ConfigCorrupt("nested too deeply") from None
        except ValueError as exc:
            raise ConfigCorrupt(f"not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ConfigCorrupt(f"expected a JSON object, found {type(raw).__name__}")
        version = raw.get("version", CONFIG_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ConfigCorrupt(f"'version' must be a whole number, found {version!r:.40}")
        if version > CONFIG_VERSION:
            raise ConfigError(
                f"{self.path} was written by a newer CRM Bridge (settings version {version}). "
                "Fix: update CRM Bridge.",
                title="Settings from a newer version",
            )
        active = raw.get("active", DEFAULT_PROFILE)
        if not isinstance(active, str):
            raise ConfigCorrupt("'active' must be a profile name")
        profiles = raw.get("profiles", {})
        if not isinstance(profiles, dict):
            raise ConfigCorrupt("'profiles' must be an object of profiles")
        loaded: dict[str, Profile] = {}
        for name, values in profiles.items():
            if not _PROFILE_NAME.fullmatch(name):
                raise ConfigCorrupt(f"{name!r:.70} is not a valid profile name")
            if not isinstance(values, dict):
                raise ConfigCorrupt(f"profile {name!r} must be an object of settings")
            profile = Profile(name)
            # Unknown keys are dropped (settings removed in a later version); renamed ones move.
            for old_key, value in values.items():
                key = RENAMED.get(old_key, old_key)
                if key not in BY_KEY or (key != old_key and key in values):
                    continue
                try:
                    profile.values[key] = coerce(key, value)
                except SettingValueError as exc:
                    if isinstance(value, str) and strip_credentials(value) != value:
                        # A password typed into a URL must not stay on disk: keep the URL
                        # without it (the file is rewritten below) and still report it.
                        value = strip_credentials(value)
                        self._scrubbed = True
                    profile.invalid[key] = (value, exc)
            loaded[name] = profile
        self.active = active
        self.profiles = loaded

    def _recover(self, reason: str) -> None:
        """Keep the damaged file for the user, then start from the last good copy or defaults."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, aside)
            kept = f"it was kept as {aside}"
        except OSError as exc:
            kept = f"it could not be moved aside ({exc.strerror or exc}) and was left as it is"
        good = self._good_copy_path()
        source = "the default settings"
        try:
            text = good.read_text(encoding="utf-8")
            self._parse(text)
            self.save()
            source = "the last good copy of your settings"
        except (OSError, ConfigCorrupt, ConfigError):
            self.profiles, self.active = {}, DEFAULT_PROFILE
        message = (
            f"The settings file {self.path} is damaged ({reason}); {kept}. CRM Bridge started with {source}."
        )
        log.warning("%s", message)
        self.notices.append(message)
        NOTICES.append(message)

    def _good_copy_path(self) -> Path:
        return self.path.with_name(self.path.name + ".last-good")

    def _keep_good_copy(self, text: str) -> None:
        """Copy the settings just read or written, for :meth:`_recover` to fall back on."""
        good = self._good_copy_path()
        try:
            if good.exists() and good.read_text(encoding="utf-8") == text:
                return
            _write_private(good, text)
        except OSError as exc:
            log.info("could not keep a copy of the settings: %s", exc)

    def check(self, profile: Profile) -> None:
        """Raise one ConfigError naming every bad value of ``profile`` (key, file and fix)."""
        problems = profile.problems(self.path)
        if problems:
            raise ConfigError(" ".join(problems), title="Settings need fixing")

    def save(self) -> None:
        payload = {
            "version": CONFIG_VERSION,
            "active": self.active,
            "profiles": {
                name: {**p.values, **{k: raw for k, (raw, _) in p.invalid.items()}}
                for name, p in sorted(self.profiles.items())
            },
        }
        text = json.dumps(payload, indent=2, sort_keys=True)
        try:
            paths.ensure_private_dir(self.path.parent)
        except paths.PrivacyError as exc:
            raise ConfigError(
                f"Cannot save settings to {self.path}: {exc.message}", title="Settings not saved"
            ) from None
        try:
            _write_private(self.path, text)
        except OSError as exc:
            raise ConfigError(
                f"Cannot save settings to {self.path}: {exc.strerror or exc}. "
                f"Fix: make {self.path.parent} writable by your user account.",
                title="Settings not saved",
            ) from None
        if not any(p.invalid for p in self.profiles.values()):
            self._keep_good_copy(text)

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
        if not _PROFILE_NAME.fullmatch(name):
            raise ConfigError(
                "A profile name has letters, digits, spaces, dots, dashes or underscores (at most 64)."
            )
        profile = self.profiles.get(name) or Profile(name)
        if values:
            profile.update(values)
        self.profiles[name] = profile
        return profile


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file + rename), readable by the user only."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def take_notices() -> list[str]:
    """Notices from every load since the last call (the CLI prints them on stderr)."""
    taken = list(NOTICES)
    NOTICES.clear()
    return taken
