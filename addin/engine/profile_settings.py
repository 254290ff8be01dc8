"""Turn a profile's declared settings into the engine's settings objects (the sign-ins and the
concrete CRM and mailbox are picked in ``addin.compose``)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from addin.bridge_types import RecordRef
from addin.config import Profile
from addin.engine.autotrack import AutoTrackSettings
from addin.engine.outbox import OutboxSettings
from addin.engine.poll_pace import PacePolicy
from addin.engine.tracker import TrackSettings, parse_record_spec

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
