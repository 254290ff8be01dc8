"""Which mailbox backend suits an address: Graph for Exchange Online, EWS on premises.

The first-run wizard calls :func:`choose_backend` with the address and, when it has one,
the EWS URL autodiscover answered; the result carries the reason as text for the user,
who can still override the choice.  No network traffic here: the caller discovers.

Microsoft is switching EWS off in Exchange Online (from 2026-10-01, removed 2027-04-01),
so a mailbox there must use Graph; an on-premises Exchange has no Graph endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# Hosts autodiscover names for mailboxes in Exchange Online (worldwide and national clouds).
_ONLINE_HOSTS = (
    "outlook.office365.com",
    "outlook.office.com",
    "outlook.office365.us",
    "outlook.office365.de",
    "partner.outlook.cn",
)
# Domains only Microsoft 365 tenants have.
_ONLINE_DOMAINS = (".onmicrosoft.com", ".onmicrosoft.us", ".partner.onmschina.cn")


@dataclass(frozen=True)
class BackendChoice:
    backend: str  # "graph" or "ews"
    reason: str
    certain: bool  # False: a default the user should confirm


def choose_backend(email: str, ews_url: str | None = None) -> BackendChoice:
    """The backend for ``email``, from autodiscover's EWS URL when known, else the domain."""
    domain = email.rpartition("@")[2].strip().lower()
    if ews_url:
        host = (urlsplit(ews_url.strip()).hostname or "").lower()
        if host in _ONLINE_HOSTS or host.endswith(".outlook.com"):
            return BackendChoice(
                "graph",
                f"Your mailbox is in Exchange Online (autodiscover points to {host}), where Microsoft is "
                "retiring EWS, so the bridge uses Microsoft Graph.",
                True,
            )
        if host:
            return BackendChoice(
                "ews",
                f"Your mailbox is on an Exchange server of your organisation ({host}), reached through "
                "Exchange Web Services.",
                True,
            )
    if domain.endswith(_ONLINE_DOMAINS):
        return BackendChoice(
            "graph",
            f"{domain} is a Microsoft 365 domain, so the mailbox is in Exchange Online: the bridge uses "
            "Microsoft Graph.",
            True,
        )
    return BackendChoice(
        "ews",
        "The mail server could not be identified; Exchange on premises (EWS) is assumed. Choose "
        "Microsoft Graph if your mailbox is in Microsoft 365.",
        False,
    )
