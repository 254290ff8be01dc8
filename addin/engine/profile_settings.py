"""Turn a profile's declared settings into the engine's settings objects and the sign-ins."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from addin.bridge_types import RecordRef
from addin.config import Profile
from addin.crm.auth import CrmAuth, MsalAuth, NtlmAuth, StaticTokenAuth
from addin.engine.autotrack import AutoTrackSettings
from addin.engine.outbox import OutboxSettings
from addin.engine.poll_pace import PacePolicy
from addin.engine.tracker import TrackSettings, parse_record_spec
from addin.mailbox.types import SecretSource
from addin.signin import (
    GRAPH_MAIL_SCOPES,
    MicrosoftSignIn,
    SignInConfig,
    SignInMethod,
    dataverse_scopes,
    shared_sign_in,
)

log = logging.getLogger(__name__)


def track_settings(profile: Profile) -> TrackSettings:
    return TrackSettings(
        tracked_category=str(profile.get("tracking.tracked_category")),
        request_category=str(profile.get("tracking.request_category")),
        user_email=str(profile.get("mailbox.email")),
    )


def outbox_settings(profile: Profile, overrides: OutboxSettings | None = None) -> OutboxSettings:
    domain = str(profile.get("mailbox.email")).rpartition("@")[2] or "crm-bridge.local"
    return replace(
        overrides or OutboxSettings(), enabled=bool(profile.get("sending.enabled")), message_id_domain=domain
    )


def pace_policy(profile: Profile) -> PacePolicy:
    """The outbox check's pace: fast and slow intervals and the hourly budget of checks."""
    slow = timedelta(seconds=int(profile.get("sending.poll_seconds")))
    fast = min(slow, timedelta(seconds=int(profile.get("sending.fast_poll_seconds"))))
    return PacePolicy(fast=fast, slow=slow, per_hour=int(profile.get("sending.checks_per_hour")))


def tracked_folders(profile: Profile) -> dict[str, RecordRef | None]:
    """``"Inbox/Fabrikam = account:<id>"`` lines -> {folder path: Regarding or None}."""
    folders: dict[str, RecordRef | None] = {}
    for line in profile.get("tracking.tracked_folders"):
        path, _, spec = str(line).partition("=")
        try:
            folders[path.strip()] = parse_record_spec(spec.strip()) if spec.strip() else None
        except ValueError as exc:
            log.warning("ignoring tracked folder %r: %s", line, exc)
    return folders


def autotrack_settings(profile: Profile) -> AutoTrackSettings:
    return AutoTrackSettings(
        enabled=bool(profile.get("tracking.autotrack")),
        request_category=str(profile.get("tracking.request_category")),
        tracked_category=str(profile.get("tracking.tracked_category")),
        tracked_folders=tracked_folders(profile),
        never_track=tuple(profile.get("tracking.never_track")),
        skip_internal=bool(profile.get("tracking.skip_internal")),
        user_email=str(profile.get("mailbox.email")),
    )


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
