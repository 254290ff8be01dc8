"""The facade's engine: the connections and engine objects of one profile, built once.

Each object is built on first use and kept until a (re)connect drops it — a changed setting or
secret — so the Tracker, the Outbox (and its Sent Items folder) and AutoTrack (and its watched
folders) live across polls instead of being rebuilt on every access.  One lock guards building
and dropping; the objects themselves are used outside it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from addin.compose import open_crm, open_profile_mailbox
from addin.config import Profile
from addin.credentials import register_secret
from addin.crm.port import CrmPort
from addin.engine.autotrack import AutoTrack
from addin.engine.outbox import Outbox, OutboxSettings
from addin.engine.profile_settings import autotrack_settings, outbox_settings, track_settings
from addin.engine.regarding_categories import RegardingCategories
from addin.engine.tracker import Tracker, TrackSettings
from addin.errors import AuthError
from addin.mailbox.port import Mailbox
from addin.secrets import SecretStore
from addin.store import Store

MAILBOX_HINTS = "mailbox_hints"  # the journal's key for remembered server hints


class Engine:
    def __init__(
        self,
        profile: Profile,
        store: Store,
        secrets: Callable[[], SecretStore],
        regarding_categories: RegardingCategories,
        *,
        outbox_overrides: OutboxSettings | None = None,
        on_outbox_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._profile = profile
        self._store = store
        self._secrets = secrets  # read at each use: the facade's secret store can be replaced
        self._regarding_categories = regarding_categories
        self._outbox_overrides = outbox_overrides
        self._on_outbox_change = on_outbox_change
        self._lock = threading.RLock()
        # One poll at a time per journal, across the Outbox objects of successive connects.
        self._outbox_lock = threading.Lock()
        self._mailbox: Mailbox | None = None
        self._crm: CrmPort | None = None
        self._tracker: Tracker | None = None
        self._file_tracker: Tracker | None = None
        self._outbox: Outbox | None = None
        self._autotrack: AutoTrack | None = None

    def secret(self, kind: str) -> str:
        value = self._secrets().get(kind)
        if not value:
            raise AuthError(f"No {kind} password or token is stored yet; enter it in Settings.", service=kind)
        # From now on the value is masked wherever it could reach a log line or a message.
        register_secret(value)
        return value

    # -- connections ----------------------------------------------------------------------

    @property
    def mailbox(self) -> Mailbox:
        with self._lock:
            if self._mailbox is None:
                settings = self._profile.mailbox_settings()
                # Remembered server hints skip autodiscover and probing (the backend ignores
                # hints recorded for another address or server).
                hints = self._store.get(MAILBOX_HINTS) or {}
                settings = replace(settings, options={**hints, **settings.options})
                self._mailbox = open_profile_mailbox(settings, self._profile, lambda: self.secret("mailbox"))
            return self._mailbox

    @property
    def crm(self) -> CrmPort:
        with self._lock:
            if self._crm is None:
                self._crm = open_crm(
                    self._profile, lambda: self.secret("crm"), lambda: self._secrets().get("crm")
                )
            return self._crm

    # -- engine objects -------------------------------------------------------------------

    def _track_settings(self) -> TrackSettings:
        return replace(
            track_settings(self._profile), is_regarding=self._regarding_categories.is_regarding_category
        )

    @property
    def tracker(self) -> Tracker:
        with self._lock:
            if self._tracker is None:
                self._tracker = Tracker(self.mailbox, self.crm, self._store, self._track_settings())
            return self._tracker

    @property
    def file_tracker(self) -> Tracker:
        """Tracks dropped files: the CRM only, so the mailbox is neither opened nor marked."""
        with self._lock:
            if self._file_tracker is None:
                self._file_tracker = Tracker(None, self.crm, self._store, self._track_settings())
            return self._file_tracker

    @property
    def outbox(self) -> Outbox:
        with self._lock:
            if self._outbox is None:
                self._outbox = Outbox(
                    self.mailbox,
                    self.crm,
                    self._store,
                    outbox_settings(self._profile, self._outbox_overrides),
                    on_change=self._on_outbox_change,
                    lock=self._outbox_lock,
                )
            return self._outbox

    @property
    def autotrack(self) -> AutoTrack:
        with self._lock:
            if self._autotrack is None:
                self._autotrack = AutoTrack(
                    self.mailbox,
                    self.tracker,
                    self.crm,
                    self._store,
                    autotrack_settings(self._profile),
                    self._regarding_categories,
                )
            return self._autotrack

    # -- (re)connect ----------------------------------------------------------------------

    def reset(self, *, mailbox: bool, crm: bool) -> None:
        """Drop what changed settings invalidate; the next use builds it again from the profile.

        The engine objects always go (tracking rules, folders and send settings are read
        again); a connection goes only when its own settings or secret changed.
        """
        with self._lock:
            old_mailbox, old_crm = (self._mailbox if mailbox else None), (self._crm if crm else None)
            if mailbox:
                self._mailbox = None
            if crm:
                self._crm = None
            self._tracker = self._file_tracker = None
            self._outbox = None
            self._autotrack = None
        if old_mailbox is not None:
            old_mailbox.close()
        if old_crm is not None:
            old_crm.close()

    def remember_hints(self) -> None:
        """Keep what the mailbox learnt about its server (e.g. its EWS URL) for the next start."""
        with self._lock:
            mailbox = self._mailbox
        if mailbox is None:
            return
        hints = mailbox.hints()
        if hints and hints != self._store.get(MAILBOX_HINTS):
            self._store.put(MAILBOX_HINTS, hints)

    def close(self) -> None:
        with self._lock:
            mailbox, crm = self._mailbox, self._crm
        if mailbox is not None:
            mailbox.close()
        if crm is not None:
            crm.close()
