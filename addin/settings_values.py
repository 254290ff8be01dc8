"""Checking and converting setting values against their declarations (``settings_schema``).

Every value that reaches a profile passes :func:`coerce`: from a config file, the CLI, the
Settings window or the wizard.  A bad value is a :class:`SettingValueError` naming the key,
what is wrong and how to fix it, never a traceback.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from addin.settings_schema import BY_KEY, Kind, Setting

MAX_TEXT = 2048  # one line of text (a URL, a name); anything longer is not a setting
MAX_LIST = 500  # entries in a list setting
_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LOOPBACK = re.compile(r"^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|::1)$", re.IGNORECASE)
_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False}
_BOOL_WORDS["off"] = False


class SettingValueError(ValueError):
    """One bad value: which key, what is wrong, and how to fix it."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem
        self.fix = fix


def is_loopback_host(host: str | None) -> bool:
    """True for this computer (127.x, localhost, ::1): the only place plain http is allowed."""
    return bool(host) and _LOOPBACK.match(str(host)) is not None


def check_url(value: str) -> str | None:
    """Why ``value`` is not an acceptable server URL, or None when it is.

    A URL never carries a user name or password (they would end up in the settings file
    and in every status line); plain http is refused except for a server on this computer.
    """
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be a web address starting with https://"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not contain a user name or password"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return "must use https:// (plain http only for a server on this computer)"
    return None


def _text(setting: Setting, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingValueError(
            setting.key,
            f"expected text, got {_kind_of(value)}",
            f'set it to a text value, e.g. {setting.key}=""',
        )
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise SettingValueError(setting.key, f"longer than {MAX_TEXT} characters", "shorten it")
    if _CONTROL.search(text):
        raise SettingValueError(
            setting.key, "must be a single line", "remove line breaks and control characters"
        )
    return text


def _kind_of(value: Any) -> str:
    names = {bool: "yes/no", int: "a number", float: "a number", list: "a list", dict: "an object"}
    if value is None:
        return "nothing (null)"
    return names.get(type(value), type(value).__name__)


def coerce(key: str, value: Any) -> Any:
    """Validate one value against its declaration and return it in its declared type.

    Accepts the JSON type of the setting, or text as typed on a command line ("yes",
    "30", one list entry per line).  Anything else raises :class:`SettingValueError`
    naming the key, the problem and the fix; a value is never silently reinterpreted.
    """
    setting = BY_KEY.get(key)
    if setting is None:
        raise SettingValueError(key, "unknown setting", "see 'crm-bridge config keys' for the known keys")
    kind = setting.kind
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.strip().lower()]
        raise SettingValueError(key, f"expected yes or no, got {_show(value)}", f"set {key}=yes or {key}=no")
    if kind is Kind.INT:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", value):
            number = int(value)
        low, high = setting.minimum, setting.maximum
        span = f"{low}..{high}" if low is not None and high is not None else "a whole number"
        if number is None:
            raise SettingValueError(
                key, f"expected a whole number, got {_show(value)}", f"set {key}=<{span}>"
            )
        if low is not None and number < low:
            raise SettingValueError(key, f"at least {low}, got {number}", f"set {key}=<{span}>")
        if high is not None and number > high:
            raise SettingValueError(key, f"at most {high}, got {number}", f"set {key}=<{span}>")
        return number
    if kind is Kind.CHOICE:
        allowed = [v for v, _ in setting.choices]
        if not isinstance(value, str) or value.strip() not in allowed:
            # Never guess: an unknown sign-in method must not turn into another one.
            raise SettingValueError(
                key,
                f"{_show(value)} is not one of {', '.join(allowed)}",
                f"set {key}={allowed[0]} (or another of these)",
            )
        return value.strip()
    if kind is Kind.LIST:
        if isinstance(value, str):
            value = value.splitlines()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingValueError(
                key,
                f"expected a list of text lines, got {_show(value)}",
                'write it as a list, e.g. ["first", "second"]',
            )
        if len(value) > MAX_LIST:
            raise SettingValueError(key, f"more than {MAX_LIST} entries", "remove some entries")
        return [t for t in (_text(setting, v) for v in value) if t]
    text = _text(setting, "" if value is None else value)
    if kind is Kind.URL and text:
        why = check_url(text)
        if why:
            raise SettingValueError(
                key,
                f"{why} ({_show_url(text)})",
                "use https://host[:port][/path]; passwords go in the keyring ('crm-bridge config secret')",
            )
    if kind is Kind.EMAIL and text and not _EMAIL.match(text):
        raise SettingValueError(key, f"not an e-mail address ({text!r})", f"set {key}=name@example.com")
    return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def strip_credentials(url: str) -> str:
    """``url`` without the ``user:password@`` part (unchanged when it has none or is unreadable)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _show_url(url: str) -> str:
    """The URL for an error message, with any user name and password taken out."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "unreadable"
    host = parts.netloc.rpartition("@")[2]
    return _show(f"{parts.scheme}://{host}{parts.path}")
