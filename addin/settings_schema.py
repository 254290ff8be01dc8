"""Every user setting declared as data: key, type, default, group, label, help.

The UI renders these generically and the config module validates against them, so a
new setting is one entry here.  Secrets are never settings: they live in the keyring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit


class Kind(StrEnum):
    TEXT = "text"
    URL = "url"
    EMAIL = "email"
    BOOL = "bool"
    INT = "int"
    CHOICE = "choice"
    LIST = "list"  # list of strings, one per line in the UI


@dataclass(frozen=True)
class Setting:
    key: str
    kind: Kind
    default: Any
    group: str
    label: str
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    minimum: int | None = None
    maximum: int | None = None
    advanced: bool = False


GROUPS = (
    ("mailbox", "Mailbox"),
    ("crm", "CRM"),
    ("tracking", "Tracking"),
    ("sending", "Sending"),
    ("general", "General"),
)

SETTINGS: tuple[Setting, ...] = (
    # Mailbox
    Setting(
        "mailbox.backend",
        Kind.CHOICE,
        "ews",
        "mailbox",
        "Mail server type",
        choices=(
            ("ews", "Exchange (EWS)"),
            ("graph", "Exchange Online (Microsoft Graph)"),
            ("imap", "IMAP + SMTP (any provider)"),
        ),
    ),
    Setting(
        "mailbox.email",
        Kind.EMAIL,
        "",
        "mailbox",
        "E-mail address",
        "Your own address; the server is found from it unless you give one below.",
    ),
    Setting(
        "mailbox.server",
        Kind.URL,
        "",
        "mailbox",
        "Server (EWS URL)",
        "Leave empty to discover it from the address (autodiscover).",
    ),
    Setting(
        "mailbox.imap_server",
        Kind.TEXT,
        "",
        "mailbox",
        "Incoming server (IMAP)",
        "For IMAP + SMTP: imaps://imap.example.com (TLS) or imap://host:143 (STARTTLS).",
    ),
    Setting(
        "mailbox.smtp_server",
        Kind.TEXT,
        "",
        "mailbox",
        "Outgoing server (SMTP)",
        "For IMAP + SMTP: smtps://smtp.example.com:465 or smtp://smtp.example.com:587 (STARTTLS).",
    ),
    Setting(
        "mailbox.sent_folder",
        Kind.TEXT,
        "",
        "mailbox",
        "Sent folder (IMAP)",
        "Leave empty to use the folder the server marks as Sent.",
        advanced=True,
    ),
    Setting(
        "mailbox.username",
        Kind.TEXT,
        "",
        "mailbox",
        "User name",
        "Defaults to the e-mail address; DOMAIN\\user for NTLM.",
    ),
    Setting(
        "mailbox.auth",
        Kind.CHOICE,
        "basic",
        "mailbox",
        "Sign-in method",
        choices=(
            ("basic", "Password"),
            ("ntlm", "Windows (NTLM)"),
            ("oauth", "Microsoft 365"),
            ("token", "Access token"),
        ),
    ),
    Setting(
        "mailbox.autodiscover_url",
        Kind.URL,
        "",
        "mailbox",
        "Autodiscover endpoint",
        "Only for unusual setups: where to ask for the server's address.",
        advanced=True,
    ),
    # CRM
    Setting(
        "crm.url", Kind.URL, "", "crm", "Organisation URL", "For example https://contoso.crm.dynamics.com"
    ),
    Setting(
        "crm.auth",
        Kind.CHOICE,
        "oauth",
        "crm",
        "Sign-in method",
        choices=(
            ("oauth", "Microsoft 365"),
            ("ntlm", "Windows (on premises)"),
            ("bearer", "Token (sandbox)"),
        ),
    ),
    Setting("crm.username", Kind.TEXT, "", "crm", "User name", "Only for Windows sign-in."),
    # Microsoft sign-in (addin/signin.py): one account for the CRM online and a Graph mailbox.
    Setting(
        "auth.client_id",
        Kind.TEXT,
        "",
        "crm",
        "Microsoft sign-in: application (client) id",
        "Your organisation's app registration for CRM Bridge; there is no built-in default. "
        "Used for the CRM online and for a Microsoft 365 (Graph) mailbox. See docs/MICROSOFT-SIGN-IN.md.",
    ),
    Setting(
        "auth.tenant",
        Kind.TEXT,
        "organizations",
        "crm",
        "Microsoft sign-in: tenant",
        "Your directory (tenant) id or domain; 'organizations' accepts any work or school account.",
        advanced=True,
    ),
    Setting(
        "auth.method",
        Kind.CHOICE,
        "browser",
        "crm",
        "Microsoft sign-in: how",
        "In the web browser, or with a code entered on another device (no browser here).",
        choices=(("browser", "Web browser"), ("device_code", "Code on another device")),
        advanced=True,
    ),
    Setting(
        "auth.broker",
        Kind.BOOL,
        True,
        "crm",
        "Microsoft sign-in: use the Windows account broker",
        "On Windows, sign in through the account already on the computer (WAM) when available.",
        advanced=True,
    ),
    Setting(
        "auth.authority",
        Kind.URL,
        "https://login.microsoftonline.com",
        "crm",
        "Microsoft sign-in: authority",
        "Only for national clouds, e.g. https://login.microsoftonline.us.",
        advanced=True,
    ),
    # Tracking
    Setting(
        "tracking.autotrack",
        Kind.BOOL,
        True,
        "tracking",
        "Track automatically",
        "Follow your CRM setting for which incoming mail to track.",
    ),
    Setting(
        "tracking.request_category",
        Kind.TEXT,
        "Track in CRM",
        "tracking",
        "Category that asks for tracking",
        "Put this category on a message in any mail client to track it.",
    ),
    Setting(
        "tracking.tracked_category", Kind.TEXT, "Tracked in CRM", "tracking", "Category on tracked messages"
    ),
    Setting(
        "tracking.regarding_categories",
        Kind.INT,
        10,
        "tracking",
        "Regarding categories in the mailbox",
        'How many pinned and recent Regarding records get a category (e.g. "CRM ▸ Fabrikam, Inc.") '
        "that tracks a message with that Regarding from any mail client; 0 turns them off.",
        minimum=0,
        maximum=50,
        advanced=True,
    ),
    Setting(
        "tracking.tracked_folders",
        Kind.LIST,
        [],
        "tracking",
        "Tracked folders",
        "One per line: a folder path, optionally '= table:id' to set Regarding, "
        "e.g. 'Inbox/Fabrikam = account:<id>'.",
    ),
    Setting(
        "tracking.never_track",
        Kind.LIST,
        [],
        "tracking",
        "Never track",
        "Addresses or @domains whose mail is never tracked automatically.",
    ),
    Setting(
        "tracking.skip_internal",
        Kind.BOOL,
        True,
        "tracking",
        "Skip internal mail",
        "Do not auto-track mail whose parties are all colleagues.",
    ),
    Setting(
        "tracking.untrack_deletes",
        Kind.BOOL,
        False,
        "tracking",
        "Untrack deletes the CRM e-mail",
        "Otherwise Untrack only removes the link and keeps the CRM record.",
    ),
    Setting(
        "tracking.poll_seconds",
        Kind.INT,
        60,
        "tracking",
        "Check the mailbox every (seconds)",
        minimum=10,
        maximum=3600,
    ),
    # Sending
    Setting(
        "sending.enabled",
        Kind.BOOL,
        True,
        "sending",
        "Send CRM e-mail through my mailbox",
        "Only when the CRM says your mail is sent by this app, never by server-side sync.",
    ),
    Setting(
        "sending.poll_seconds",
        Kind.INT,
        12,
        "sending",
        "Check the CRM outbox every (seconds)",
        "When nothing has happened for a while; faster while e-mail is being sent.",
        minimum=5,
        maximum=3600,
    ),
    Setting(
        "sending.fast_poll_seconds",
        Kind.INT,
        6,
        "sending",
        "While e-mail is being sent, check every (seconds)",
        "For a few minutes after an e-mail was found or you used the app.",
        minimum=5,
        maximum=3600,
        advanced=True,
    ),
    Setting(
        "sending.checks_per_hour",
        Kind.INT,
        340,
        "sending",
        "At most this many outbox checks per hour",
        "Each check is a CRM request, counted against your licence's daily request entitlement "
        "(6,000 per 24 hours for some licences). 340 keeps an 8-hour day under 3,000.",
        minimum=10,
        maximum=720,
        advanced=True,
    ),
    Setting(
        "sending.bcc_self",
        Kind.BOOL,
        False,
        "sending",
        "Send myself a hidden copy as proof (IMAP + SMTP)",
        "SMTP cannot always say whether an e-mail left. With this on, each CRM e-mail also goes to "
        "you as a hidden copy, which the bridge moves into Sent when it arrives; if the server's "
        "answer is lost, that copy proves whether the e-mail left, so it is neither sent twice nor "
        "left for you to check.",
        advanced=True,
    ),
    # General
    Setting(
        "general.notifications",
        Kind.CHOICE,
        "errors",
        "general",
        "Notifications",
        choices=(("all", "Everything"), ("errors", "Problems only"), ("none", "None")),
    ),
    Setting(
        "general.update_feed",
        Kind.URL,
        "",
        "general",
        "Release feed for update checks",
        "Empty: never check. Otherwise the app says when a newer version exists; it never installs it.",
        advanced=True,
    ),
)

BY_KEY = {s.key: s for s in SETTINGS}


def defaults() -> dict[str, Any]:
    return {s.key: (list(s.default) if isinstance(s.default, list) else s.default) for s in SETTINGS}


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
