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
