"""The one place that picks concrete classes: the CRM adapter, its sign-in and the mailbox backend.

The engine works on the ports (``addin.crm.port.CrmPort``, ``addin.mailbox.port.Mailbox``);
the facade asks this module for the objects behind them when it (re)connects.  The Microsoft
sign-in (one MSAL application and cache per profile) is shared by the CRM online and a Graph
mailbox, so both are wired here.
"""

from __future__ import annotations

from collections.abc import Callable

from addin.config import Profile
from addin.crm.auth import CrmAuth, MsalAuth, NtlmAuth, StaticTokenAuth
from addin.crm.client import DataverseClient
from addin.crm.dataverse_port import DataverseCrm
from addin.errors import ConfigError
from addin.mailbox.port import Mailbox
from addin.mailbox.registry import open_mailbox
from addin.mailbox.types import MailboxSettings, SecretSource
from addin.signin import (
    GRAPH_MAIL_SCOPES,
    MicrosoftSignIn,
    SignInConfig,
    SignInMethod,
    dataverse_scopes,
    shared_sign_in,
)


def open_crm(
    profile: Profile,
    secret: Callable[[], str],
    stored: Callable[[], str | None],
    *,
    timeout: float = 30.0,
) -> DataverseCrm:
    """The profile's CRM behind the port (no network traffic yet)."""
    if not profile.crm_api_url:
        raise ConfigError("No CRM organisation URL is set.", title="Set-up needed")
    return DataverseCrm(
        DataverseClient(profile.crm_api_url, crm_auth(profile, secret, stored), timeout=timeout)
    )


def open_profile_mailbox(settings: MailboxSettings, profile: Profile, stored: SecretSource) -> Mailbox:
    """The profile's mailbox backend behind the port, with its secret or Microsoft sign-in."""
    return open_mailbox(settings, mailbox_secret(profile, stored))


def crm_auth(profile: Profile, secret: Callable[[], str], stored: Callable[[], str | None]) -> CrmAuth:
    """The sign-in for the profile's CRM: ``secret`` raises when nothing is stored, ``stored`` may not."""
    kind = str(profile.get("crm.auth"))
    if kind == "bearer":
        return StaticTokenAuth(secret())
    if kind == "ntlm":
        return NtlmAuth(str(profile.get("crm.username")), stored)
    return MsalAuth(profile.crm_org_url, sign_in=microsoft_sign_in(profile))


# -- Microsoft sign-in shared by the CRM online and a Graph mailbox ----------------------------

GRAPH_BACKEND = "graph"


def sign_in_config(profile: Profile) -> SignInConfig:
    return SignInConfig(
        client_id=str(profile.get("auth.client_id")),
        tenant=str(profile.get("auth.tenant")),
        authority_host=str(profile.get("auth.authority")),
        method=SignInMethod(str(profile.get("auth.method"))),
        broker=bool(profile.get("auth.broker")),
        login_hint=str(profile.get("mailbox.email")) or None,
    )


def graph_signs_in(profile: Profile) -> bool:
    """A Graph mailbox with the "Microsoft 365" sign-in method gets its tokens from Microsoft sign-in.

    Any other method keeps the stored secret as the bearer token (a local Graph sandbox's token).
    """
    return (
        str(profile.get("mailbox.backend")) == GRAPH_BACKEND and str(profile.get("mailbox.auth")) == "oauth"
    )


def microsoft_resources(profile: Profile) -> list[tuple[str, ...]]:
    """The resources this profile reaches with Microsoft sign-in, mailbox first."""
    resources: list[tuple[str, ...]] = []
    if graph_signs_in(profile):
        resources.append(GRAPH_MAIL_SCOPES)
    if str(profile.get("crm.auth")) == "oauth" and profile.crm_org_url:
        resources.append(dataverse_scopes(profile.crm_org_url))
    return resources


def microsoft_sign_in(profile: Profile) -> MicrosoftSignIn:
    """The profile's one Microsoft sign-in (one MSAL app, one keyring cache), all resources declared.

    Declaring every resource up front lets the first browser sign-in ask consent for all of
    them, whichever of the CRM or the mailbox asks for a token first.
    """
    sign_in = shared_sign_in(profile.name, sign_in_config(profile))
    for scopes in microsoft_resources(profile):
        sign_in.register(scopes)
    return sign_in


def mailbox_secret(profile: Profile, stored: SecretSource) -> SecretSource:
    """What the mailbox backend gets as its secret: a Graph access token, or the stored secret.

    A Graph mailbox signing in with Microsoft 365 gets a SecretSource returning an access token
    for ``GRAPH_MAIL_SCOPES`` from the same MSAL application and cache as the CRM.
    """
    if graph_signs_in(profile):
        return microsoft_sign_in(profile).token_source(GRAPH_MAIL_SCOPES, "mailbox")
    return stored
