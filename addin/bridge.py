"""The one facade the UI and the CLI use.

It returns plain values (:mod:`addin.bridge_types`) and raises only
:class:`addin.errors.BridgeError` subclasses, each with a title and a message a user
can read.  Listeners registered with :meth:`Bridge.subscribe` are called from worker
threads; a UI must marshal them to its own thread.

The facade owns its engine: the connections, Tracker, Outbox and AutoTrack are built once
per (re)connect (:mod:`addin.bridge_engine`) and are private; mail (:mod:`addin.bridge_mail`),
changes to tracked mail (:mod:`addin.bridge_tracked`), settings (:mod:`addin.bridge_settings`)
and Regarding categories (:mod:`addin.bridge_regarding`) are its parts.
:class:`addin.facade.BridgeFacade` is the interface the UI types against.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from filelock import FileLock, Timeout

from addin import engine_state, paths
from addin.bridge_engine import Engine
from addin.bridge_mail import MailFacade
from addin.bridge_regarding import RegardingFacade
from addin.bridge_settings import POLL_SETTINGS, SettingsFacade
from addin.bridge_tracked import TrackedFacade
from addin.bridge_types import (
    ActivityLogged,
    AuditEntry,
    BridgeEvent,
    Issue,
    IssuesChanged,
    OutboxChanged,
    OutboxItem,
    RecordRef,
    StateChanged,
    Status,
)
from addin.config import Config, Profile
from addin.crm.port import CrmPort
from addin.engine.autotrack import AutoTrack
from addin.engine.outbox import Outbox, OutboxSettings
from addin.engine.poll_pace import PollPace
from addin.engine.profile_settings import pace_policy
from addin.engine.scheduler import Job, Scheduler
from addin.engine.tracker import Tracker
from addin.errors import BridgeError, ConfigError
from addin.mailbox.port import Mailbox
from addin.secrets import KeyringSecrets, MemorySecrets, SecretStore
from addin.state import BridgeState
from addin.states import IssueAction, JournalState
from addin.store import AuditRow, Store

log = logging.getLogger(__name__)

Listener = Callable[[BridgeEvent], None]
WATCH_RETRY = 60.0  # seconds before watching again after a failure


def _to_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        row.id,
        row.at,
        row.action,
        row.subject,
        row.detail,
        row.ok,
        row.activity_id,
        row.item_id,
        row.message_id,
    )


class Bridge(MailFacade, TrackedFacade, SettingsFacade, RegardingFacade):
    def __init__(
        self,
        profile: Profile,
        *,
        secrets: SecretStore,
        config: Config | None = None,
        data_dir: Path | None = None,
        outbox_settings: OutboxSettings | None = None,
    ) -> None:
        self.profile = profile
        self.config = config
        self.secrets = secrets
        if data_dir is None:
            root = paths.data_dir()
            self.data_dir = paths.ensure_private_dir(root / "profiles" / profile.name, root=root)
        else:
            self.data_dir = paths.ensure_private_dir(data_dir)
        self._store = Store(self.data_dir / "journal.sqlite3")
        self._store.on_audit = lambda row: self._emit(ActivityLogged(_to_entry(row)))
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()  # the listeners
        self._dismissed: set[str] = set()
        self._watch_stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._engine_lock = FileLock(
            str(paths.private_file(self.data_dir / "engine.lock")), mode=paths.PRIVATE_FILE
        )
        self._regarding_init()
        self._outbox_pace = PollPace(pace_policy(profile))
        self._engine = Engine(
            profile,
            self._store,
            lambda: self.secrets,
            self.regarding_categories,
            outbox_overrides=outbox_settings,
            on_outbox_change=lambda: self._emit(OutboxChanged()),
        )
        self._scheduler = Scheduler(self._jobs(), on_state=self._state_changed, on_synced=self._publish_state)

    @classmethod
    def open(cls, profile: str | None = None, *, allow_unconfigured: bool = False) -> Bridge:
        """The user's profile with its secrets in the OS keyring.

        A profile not set up yet is refused with what is missing, unless ``allow_unconfigured``
        (the set-up wizard: it opens the facade to test and save the settings it collects).
        """
        from addin.credentials import CredentialStore

        config = Config.load()
        chosen = config.profile(profile)
        missing = chosen.missing()
        if not (missing and allow_unconfigured):
            config.check(chosen)
            if missing:
                raise ConfigError(
                    f"Profile {chosen.name!r} is not set up yet: {', '.join(missing)}. "
                    "Run 'crm-bridge config set' or open Settings.",
                    title="Set-up needed",
                )
        return cls(chosen, secrets=KeyringSecrets(CredentialStore(chosen.name)), config=config)

    # -- the engine (private: for this package's drivers and tests) -----------------------

    @property
    def _mailbox(self) -> Mailbox:
        return self._engine.mailbox

    @property
    def _crm(self) -> CrmPort:
        return self._engine.crm

    @property
    def _tracker(self) -> Tracker:
        return self._engine.tracker

    @property
    def _outbox_engine(self) -> Outbox:
        return self._engine.outbox

    @property
    def _autotrack(self) -> AutoTrack:
        return self._engine.autotrack

    def _jobs(self) -> list[Job]:
        def mail_job() -> None:
            self._engine.tracker.drain_queue()
            self._engine.autotrack.run_once()
            self._refresh_regarding_if_due()
            self._engine.remember_hints()

        def outbox_job() -> None:
            self._outbox_pace.spend()
            report = self._engine.outbox.poll()
            if report.sent or report.failed or report.settled:
                self._outbox_pace.activity()  # e-mail is being queued: more is likely soon
            self._engine.remember_hints()  # e.g. whether the provider files Sent copies itself

        def every(job: str) -> timedelta:
            return timedelta(seconds=int(self.profile.get(POLL_SETTINGS[job])))

        return [
            Job("mailbox", every("mailbox"), mail_job),
            Job(
                "outbox",
                every("outbox"),
                outbox_job,
                enabled=lambda: bool(self.profile.get("sending.enabled")),
                pace=self._outbox_pace.next_interval,
            ),
        ]

    # -- events ---------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: BridgeEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not stop the engine
                log.exception("event listener failed")

    def _state_changed(self, state: BridgeState, detail: str) -> None:
        self._publish_state()
        self._emit(StateChanged(self.status()))
        if state.needs_attention:
            self._emit(IssuesChanged(tuple(self.issues())))

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        try:
            # Not 0: a `crm-bridge status` probing the lock at this very moment holds it briefly.
            self._engine_lock.acquire(timeout=1.0)
        except Timeout:
            raise ConfigError(
                f"CRM Bridge is already running for profile {self.profile.name!r} on this computer.",
                title="Already running",
            ) from None
        self._publish_state()
        # The audit log keeps 90 days; pruning once per start is enough for a log this small.
        self._store.prune_audit()
        self._scheduler.start()
        from addin.native.actions import start_channel  # the native host's way in

        self._channel = start_channel(self)
        self._watch_stop.clear()
        self._watcher = threading.Thread(target=self._watch_mailbox, name="crm-bridge-watch", daemon=True)
        self._watcher.start()

    def _watch_mailbox(self) -> None:
        """Where the server can push (EWS streaming), a change in a watched folder — a category
        set in any mail client, new mail — runs the mailbox job at once instead of at the next
        poll.  The poll stays the safety net: any failure here only waits and watches again."""
        while not self._watch_stop.is_set():
            try:
                folder_ids = [w.folder.id for w in self._engine.autotrack.watches()]
                self._engine.mailbox.watch(
                    folder_ids, lambda: self._scheduler.run_now("mailbox"), self._watch_stop
                )
            except NotImplementedError:
                return
            except BridgeError as exc:
                log.info("mailbox notifications paused: %s", exc.message)
                self._watch_stop.wait(WATCH_RETRY)
            except Exception:  # a bug here must not take the bridge down; the poll goes on
                log.exception("mailbox notifications failed")
                self._watch_stop.wait(WATCH_RETRY)

    def stop(self) -> None:
        """Stop the engine and close the journal; a second call does nothing."""
        with self._lock:
            if getattr(self, "_stopped", False):
                return
            self._stopped = True
        channel, self._channel = getattr(self, "_channel", None), None
        if channel is not None:
            channel.stop()
        self._watch_stop.set()
        self._scheduler.stop()
        if self._engine_lock.is_locked:
            engine_state.withdraw(self._store)
            self._engine_lock.release()
        self._engine.close()
        self._store.close()

    def status(self) -> Status:
        s = self._scheduler
        failed = len(self._store.outbox_in_states(JournalState.FAILED))
        return Status(
            state=s.state,
            detail=s.detail,
            profile=self.profile.name,
            mailbox=str(self.profile.get("mailbox.email")),
            crm_url=self.profile.crm_org_url,
            last_synced=s.last_synced,
            paused_until=s.paused_until,
            outbox_queued=len(self._store.outbox_in_states(*JournalState.in_flight())),
            outbox_failed=failed,
            track_queue=len(self._store.queued_tracks()),
            issues=len(self.issues()),
            sending_enabled=bool(self.profile.get("sending.enabled")),
            autotrack_enabled=bool(self.profile.get("tracking.autotrack")),
        )

    def _publish_state(self) -> None:
        engine_state.publish(self._store, self._scheduler)

    def engine_status(self) -> Status:
        """The status of the engine for this profile, whether it runs here, in another process
        (the tray, ``crm-bridge run``) or nowhere (state NOT_RUNNING)."""
        status = self.status()
        if self._engine_lock.is_locked:
            return status
        return engine_state.read(status, self._store, self._engine_lock)

    def pause(self, until: datetime | None = None) -> None:
        self._scheduler.pause(until)

    def resume(self) -> None:
        self._scheduler.resume()

    def sync_now(self) -> None:
        self._scheduler.run_now()

    # -- outbox, activity, issues ---------------------------------------------------------

    def outbox(self) -> list[OutboxItem]:
        self.user_active()
        return self._engine.outbox.items()

    def user_active(self) -> None:
        """The user works with the app: CRM e-mail is likelier now, so the outbox is checked fast."""
        self._outbox_pace.activity()
        self._scheduler.hasten("outbox", self._outbox_pace.policy.fast)

    def retry_outbox(self, activity_id: str) -> None:
        self._engine.outbox.retry(activity_id)
        self._dismissed.discard(f"outbox:{activity_id}")
        self._store.outbox_put(activity_id, message_id="", state=JournalState.RELEASED)
        self.sync_now()

    def recent_activity(self, limit: int = 200, text: str | None = None) -> list[AuditEntry]:
        return [_to_entry(r) for r in self._store.recent_audit(limit, text)]

    def issues(self) -> list[Issue]:
        found: list[Issue] = []
        s = self._scheduler
        if s.state is BridgeState.CREDENTIALS_NEEDED:
            action = getattr(s.auth_error, "fix_action", None) or IssueAction.OPEN_SETTINGS
            found.append(Issue("credentials", "Sign-in needed", s.detail, action))
        elif s.state is BridgeState.ERROR:
            found.append(Issue("error", "CRM Bridge needs attention", s.detail, IssueAction.OPEN_SETTINGS))
        for rec in self._store.outbox_in_states(JournalState.FAILED):
            found.append(
                Issue(
                    f"outbox:{rec.activity_id}",
                    f"Not sent: {rec.subject}",
                    rec.reason,
                    IssueAction.RETRY_OUTBOX,
                    rec.activity_id,
                    rec.updated_at,
                )
            )
        return [i for i in found if i.key not in self._dismissed]

    def dismiss_issue(self, key: str) -> None:
        self._dismissed.add(key)
        self._emit(IssuesChanged(tuple(self.issues())))

    def record_url(self, ref: RecordRef) -> str:
        return f"{self.profile.crm_org_url}/main.aspx?etn={ref.table}&id={ref.id}&pagetype=entityrecord"

    def activity_url(self, activity_id: str) -> str:
        return f"{self.profile.crm_org_url}/main.aspx?etn=email&id={activity_id}&pagetype=entityrecord"


__all__ = ["Bridge", "BridgeError", "MemorySecrets", "RecordRef", "SecretStore"]
