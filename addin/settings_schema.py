"""Every user setting declared as data: key, type, default, group, label, help.

The UI renders these generically and the config module validates against them, so a
new setting is one entry here.  Secrets are never settings: they live in the keyring.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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
        choices=(("ews", "Exchange (EWS)"), ("graph", "Exchange Online (Microsoft Graph)")),
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
        30,
        "sending",
        "Check the CRM outbox every (seconds)",
        minimum=5,
        maximum=3600,
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
)

BY_KEY = {s.key: s for s in SETTINGS}


def defaults() -> dict[str, Any]:
    return {s.key: (list(s.default) if isinstance(s.default, list) else s.default) for s in SETTINGS}


def coerce(key: str, value: Any) -> Any:
    """Validate one value against its declaration; raise ValueError with a readable reason."""
    setting = BY_KEY.get(key)
    if setting is None:
        raise ValueError(f"unknown setting {key!r}")
    kind = setting.kind
    if kind is Kind.BOOL:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{setting.label}: expected yes or no, got {value!r}")
        return bool(value)
    if kind is Kind.INT:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{setting.label}: expected a whole number, got {value!r}") from None
        if setting.minimum is not None and number < setting.minimum:
            raise ValueError(f"{setting.label}: at least {setting.minimum}")
        if setting.maximum is not None and number > setting.maximum:
            raise ValueError(f"{setting.label}: at most {setting.maximum}")
        return number
    if kind is Kind.CHOICE:
        allowed = [v for v, _ in setting.choices]
        if value not in allowed:
            raise ValueError(f"{setting.label}: one of {', '.join(allowed)}")
        return value
    if kind is Kind.LIST:
        if isinstance(value, str):
            value = value.splitlines()
        return [str(v).strip() for v in value if str(v).strip()]
    text = "" if value is None else str(value).strip()
    if any(c in text for c in "\r\n\x00"):
        raise ValueError(f"{setting.label}: must be a single line")
    if kind is Kind.URL and text and not text.startswith(("http://", "https://")):
        raise ValueError(f"{setting.label}: must start with https://")
    if kind is Kind.EMAIL and text and ("@" not in text or " " in text):
        raise ValueError(f"{setting.label}: not an e-mail address")
    return text
