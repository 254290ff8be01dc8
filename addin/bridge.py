"""The one facade the UI and the CLI use.

It returns plain values (:mod:`addin.bridge_types`) and raises only
:class:`addin.errors.BridgeError` subclasses, each with a title and a message a user
can read.  Listeners registered with :meth:`Bridge.subscribe` are called from worker
threads; a UI must marshal them to its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from addin import engine_state, paths
from addin.bridge_regarding import RegardingFacade
from addin.bridge_types import (
    REGARDING_TABLES,
    ActivityLogged,
    AuditEntry,
    BridgeEvent,
    Issue,
    IssuesChanged,
    MailItem,
    MailList,
    OutboxChanged,
    OutboxItem,
    RecordRef,
    StateChanged,
    Status,
    TrackOutcome,
    TrackResult,
)
from addin.config import Config, Profile
from addin.credentials import register_secret
from addin.crm.client import DataverseClient
from addin.engine.autotrack import AutoTrack
from addin.engine.crm_gateway import CrmGateway
from addin.engine.mime import parse_mime
from addin.engine.msg_file import is_msg, parse_msg
from addin.engine.outbox import Outbox, OutboxSettings
from addin.engine.poll_pace import PollPace
from addin.engine.profile_settings import (
    autotrack_settings,
    crm_auth,
    mailbox_secret,
    microsoft_sign_in,
    outbox_settings,
    pace_policy,
    track_settings,
)
from addin.engine.scheduler import Job, Scheduler
from addin.engine.tracker import Tracker, parse_record_spec
from addin.errors import AuthError, BridgeError, ConfigError, MessageError
from addin.mailbox.port import Mailbox
from addin.mailbox.registry import open_mailbox
from addin.mailbox.types import FetchFailure, Folder, MailboxInfo, Message
from addin.secrets import KeyringSecrets, MemorySecrets, SecretStore
from addin.signin import SignInMethod
from addin.state import BridgeState
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


class Bridge(RegardingFacade):
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
        self.store = Store(self.data_dir / "journal.sqlite3")
        self.store.on_audit = lambda row: self._emit(ActivityLogged(_to_entry(row)))
        self._outbox_overrides = outbox_settings
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._mailbox: Mailbox | None = None
        self._client: DataverseClient | None = None
        self._gateway: CrmGateway | None = None
        self._dismissed: set[str] = set()
        self._outbox_lock = threading.Lock()
        self._autotrack_job: AutoTrack | None = None
        self._watch_stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._engine_lock = FileLock(
            str(paths.private_file(self.data_dir / "engine.lock")), mode=paths.PRIVATE_FILE
        )
        self._regarding_init()
        self.outbox_pace = PollPace(pace_policy(profile))
        self.scheduler = Scheduler(self._jobs(), on_state=self._state_changed, on_synced=self._publish_state)

    @classmethod
    def open(cls, profile: str | None = None) -> Bridge:
        from addin.credentials import CredentialStore

        config = Config.load()
        chosen = config.profile(profile)
        config.check(chosen)
        missing = chosen.missing()
        if missing:
            raise ConfigError(
                f"Profile {chosen.name!r} is not set up yet: {', '.join(missing)}. "
                "Run 'crm-bridge config set' or open Settings.",
                title="Set-up needed",
            )
        return cls(chosen, secrets=KeyringSecrets(CredentialStore(chosen.name)), config=config)

    # -- wiring ---------------------------------------------------------------------------

    def _secret(self, kind: str) -> str:
        value = self.secrets.get(kind)
        if not value:
            raise AuthError(f"No {kind} password or token is stored yet; enter it in Settings.", service=kind)
        # From now on the value is masked wherever it could reach a log line or a message.
        register_secret(value)
        return value

    @property
    def mailbox(self) -> Mailbox:
        with self._lock:
            if self._mailbox is None:
                settings = self.profile.mailbox_settings()
                # Remembered server hints skip autodiscover and probing (the backend ignores
                # hints recorded for another address or server).
                hints = self.store.get("mailbox_hints") or {}
                settings = replace(settings, options={**hints, **settings.options})
                secret = mailbox_secret(self.profile, lambda: self._secret("mailbox"))
                self._mailbox = open_mailbox(settings, secret)
            return self._mailbox

    def _remember_hints(self) -> None:
        with self._lock:
            mailbox = self._mailbox
        if mailbox is None:
            return
        hints = mailbox.hints()
        if hints and hints != self.store.get("mailbox_hints"):
            self.store.put("mailbox_hints", hints)

    @property
    def crm(self) -> CrmGateway:
        with self._lock:
            if self._gateway is None:
                if not self.profile.crm_api_url:
                    raise ConfigError("No CRM organisation URL is set.", title="Set-up needed")
                auth = crm_auth(self.profile, lambda: self._secret("crm"), lambda: self.secrets.get("crm"))
                self._client = DataverseClient(self.profile.crm_api_url, auth)
                self._gateway = CrmGateway(self._client)
            return self._gateway

    @property
    def tracker(self) -> Tracker:
        settings = replace(
            track_settings(self.profile), is_regarding=self.regarding_categories.is_regarding_category
        )
        return Tracker(self.mailbox, self.crm, self.store, settings)

    @property
    def outbox_engine(self) -> Outbox:
        return Outbox(
            self.mailbox,
            self.crm,
            self.store,
            outbox_settings(self.profile, self._outbox_overrides),
            on_change=lambda: self._emit(OutboxChanged()),
            lock=self._outbox_lock,
        )

    def _autotrack(self) -> AutoTrack:
        return AutoTrack(
            self.mailbox,
            self.tracker,
            self.crm,
            self.store,
            autotrack_settings(self.profile),
            self.regarding_categories,
        )

    def _jobs(self) -> list[Job]:
        def mail_job() -> None:
            with self._lock:
                if self._autotrack_job is None:
                    self._autotrack_job = self._autotrack()
                autotrack = self._autotrack_job
            self.tracker.drain_queue()
            autotrack.run_once()
            self._refresh_regarding_if_due()
            self._remember_hints()

        def outbox_job() -> None:
            self.outbox_pace.spend()
            report = self.outbox_engine.poll()
            if report.sent or report.failed or report.settled:
                self.outbox_pace.activity()  # e-mail is being queued: more is likely soon
            self._remember_hints()  # e.g. whether the provider files Sent copies itself

        return [
            Job("mailbox", timedelta(seconds=int(self.profile.get("tracking.poll_seconds"))), mail_job),
            Job(
                "outbox",
                timedelta(seconds=int(self.profile.get("sending.poll_seconds"))),
                outbox_job,
                enabled=lambda: bool(self.profile.get("sending.enabled")),
                pace=self.outbox_pace.next_interval,
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
        self.store.prune_audit()
        self.scheduler.start()
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
                folder_ids = [w.folder.id for w in self._autotrack().watches()]
                self.mailbox.watch(folder_ids, lambda: self.scheduler.run_now("mailbox"), self._watch_stop)
            except NotImplementedError:
                return
            except BridgeError as exc:
                log.info("mailbox notifications paused: %s", exc.message)
                self._watch_stop.wait(WATCH_RETRY)
            except Exception:  # a bug here must not take the bridge down; the poll goes on
                log.exception("mailbox notifications failed")
                self._watch_stop.wait(WATCH_RETRY)

    def stop(self) -> None:
        channel, self._channel = getattr(self, "_channel", None), None
        if channel is not None:
            channel.stop()
        self._watch_stop.set()
        self.scheduler.stop()
        if self._engine_lock.is_locked:
            engine_state.withdraw(self.store)
            self._engine_lock.release()
        with self._lock:
            if self._mailbox is not None:
                self._mailbox.close()
            if self._client is not None:
                self._client.close()
        self.store.close()

    def status(self) -> Status:
        s = self.scheduler
        failed = len(self.store.outbox_in_states("failed"))
        return Status(
            state=s.state,
            detail=s.detail,
            profile=self.profile.name,
            mailbox=str(self.profile.get("mailbox.email")),
            crm_url=self.profile.crm_org_url,
            last_synced=s.last_synced,
            paused_until=s.paused_until,
            outbox_queued=len(self.store.outbox_in_states("sending", "submitting", "sent")),
            outbox_failed=failed,
            track_queue=len(self.store.queued_tracks()),
            issues=len(self.issues()),
            sending_enabled=bool(self.profile.get("sending.enabled")),
            autotrack_enabled=bool(self.profile.get("tracking.autotrack")),
        )

    def _publish_state(self) -> None:
        engine_state.publish(self.store, self.scheduler)

    def engine_status(self) -> Status:
        """The status of the engine for this profile, whether it runs here, in another process
        (the tray, ``crm-bridge run``) or nowhere (state NOT_RUNNING)."""
        status = self.status()
        if self._engine_lock.is_locked:
            return status
        return engine_state.read(status, self.store, self._engine_lock)

    def pause(self, until: datetime | None = None) -> None:
        self.scheduler.pause(until)

    def resume(self) -> None:
        self.scheduler.resume()

    def sync_now(self) -> None:
        self.scheduler.run_now()

    # -- mail -----------------------------------------------------------------------------

    def folders(self) -> list[Folder]:
        return self.mailbox.list_folders()

    def messages(
        self, folder_id: str, *, offset: int = 0, limit: int = 50, text: str | None = None
    ) -> MailList:
        page = self.mailbox.list_messages(folder_id, offset=offset, limit=limit, text=text)
        links = self.store.links_by_items([m.id for m in page.items])
        queued = {q.item_id: q for q in self.store.queued_tracks()}
        tracked_category = str(self.profile.get("tracking.tracked_category"))
        items = []
        for m in page.items:
            link = links.get(m.id)
            regarding = None
            if link and link.regarding:
                ref = parse_record_spec(link.regarding)
                regarding = RecordRef(ref.table, ref.id, link.regarding_name or "")
            q = queued.get(m.id)
            items.append(
                MailItem(
                    id=m.id,
                    folder_id=m.folder_id,
                    subject=m.subject,
                    sender=str(m.sender) if m.sender else "",
                    received=m.received,
                    message_id=m.message_id,
                    tracked=bool(link) or bool(m.stamp) or tracked_category in m.categories,
                    activity_id=link.activity_id if link else m.stamp,
                    regarding=regarding,
                    queued=q is not None,
                    error=q.last_error or None if q else None,
                    categories=m.categories,
                    private=m.sensitivity.value in ("private", "personal", "confidential"),
                    has_attachments=m.has_attachments,
                )
            )
        return MailList(tuple(items), page.total, page.offset, page.more)

    def track(self, item_ids: Sequence[str], regarding: RecordRef | None = None) -> list[TrackResult]:
        self.user_active()
        results = self.tracker.track_items(list(item_ids), regarding, reason="manual")
        if regarding is not None:
            self._remember_regarding(regarding)
        self._emit(StateChanged(self.status()))
        return results

    def track_file(self, data: bytes, filename: str, regarding: RecordRef | None = None) -> TrackResult:
        """Track one dropped .eml/.msg file; a file that is not mail raises MessageError."""
        return self._track_dropped([(filename, _read_dropped(data, filename))], regarding)[0]

    def track_files(
        self, files: Sequence[tuple[bytes, str]], regarding: RecordRef | None = None
    ) -> list[TrackResult]:
        """Track dropped files in one CRM round; a file that is not mail fails alone, with why."""
        out: list[TrackResult | None] = []
        readable: list[tuple[str, Message]] = []
        for data, filename in files:
            try:
                readable.append((filename, _read_dropped(data, filename)))
                out.append(None)
            except MessageError as exc:
                out.append(TrackResult(filename, TrackOutcome.FAILED, subject=filename, message=exc.message))
        tracked = iter(self._track_dropped(readable, regarding))
        return [result if result is not None else next(tracked) for result in out]

    def _track_dropped(
        self, files: Sequence[tuple[str, Message]], regarding: RecordRef | None
    ) -> list[TrackResult]:
        tracker = Tracker(None, self.crm, self.store, self.tracker.settings)
        results = tracker.track_messages([m for _, m in files], regarding, reason="file")
        return [
            TrackResult(filename, r.outcome, r.activity_id, r.subject, r.message, r.warnings)
            for (filename, _), r in zip(files, results, strict=True)
        ]

    def untrack(self, item_ids: Sequence[str], *, delete_activity: bool | None = None) -> list[TrackResult]:
        delete = (
            bool(self.profile.get("tracking.untrack_deletes")) if delete_activity is None else delete_activity
        )
        tracked_category = str(self.profile.get("tracking.tracked_category"))
        request_category = str(self.profile.get("tracking.request_category"))
        results = []
        for item in self.mailbox.fetch(list(item_ids), with_attachments=False):
            if isinstance(item, FetchFailure):
                results.append(TrackResult(item.id, TrackOutcome.FAILED, message=item.reason))
                continue
            link = self.store.link_by_item(item.id)
            activity_id = link.activity_id if link else item.stamp
            if not (link or activity_id or tracked_category in item.categories):
                # Nothing to undo: say so, and write no audit row for something that did not happen.
                results.append(
                    TrackResult(
                        item.id, TrackOutcome.SKIPPED, None, item.subject, "Not tracked; nothing to undo"
                    )
                )
                continue
            if activity_id and delete:
                self.crm.delete_email(activity_id)
            categories = [c for c in item.categories if c not in (tracked_category, request_category)]
            self.mailbox.set_categories(item.id, categories)
            self.mailbox.set_stamp(item.id, None)
            if link:
                self.store.remove_link(link.message_key)
            self.store.audit(
                "untracked",
                subject=item.subject,
                detail="CRM e-mail deleted" if delete else "CRM e-mail kept; link removed",
                activity_id=activity_id,
                item_id=item.id,
            )
            results.append(TrackResult(item.id, TrackOutcome.SKIPPED, activity_id, item.subject, "Untracked"))
        return results

    def set_regarding(self, item_ids: Sequence[str], regarding: RecordRef | None) -> list[TrackResult]:
        results = []
        for item_id in item_ids:
            link = self.store.link_by_item(item_id)
            if link is None and regarding is None:
                results.append(
                    TrackResult(
                        item_id, TrackOutcome.FAILED, message="Not tracked; there is no Regarding to remove"
                    )
                )
                continue
            if link is None:
                # Not tracked yet: Set Regarding tracks it with that Regarding.
                results += self.track([item_id], regarding)
                continue
            self.crm.set_regarding(link.activity_id, regarding)
            self.store.set_link_regarding(
                link.message_key,
                regarding.to_spec() if regarding else None,
                regarding.name if regarding else None,
            )
            self.store.audit(
                "regarding",
                subject=link.subject,
                detail=f"Regarding set to {regarding.label}" if regarding else "Regarding removed",
                activity_id=link.activity_id,
                item_id=item_id,
            )
            results.append(
                TrackResult(item_id, TrackOutcome.TRACKED, link.activity_id, link.subject, "Regarding set")
            )
        if regarding is not None:
            self._remember_regarding(regarding)
        return results

    def search_records(
        self, text: str, tables: Sequence[str] = REGARDING_TABLES, limit: int = 20
    ) -> list[RecordRef]:
        return self.crm.search_records(text, tables, limit)

    def describe_records(self, refs: Sequence[RecordRef]) -> list[RecordRef]:
        """Saved Regarding choices (``table:id``) with their names, to show instead of ids."""
        return self.crm.named(refs)

    def recent_regarding(self, limit: int = 8) -> list[RecordRef]:
        stored = self.store.get("recent_regarding") or []
        return [RecordRef(**r) for r in stored[:limit]]

    def _remember_regarding(self, ref: RecordRef) -> None:
        stored = [r for r in (self.store.get("recent_regarding") or []) if r.get("id") != ref.id]
        entry = {"table": ref.table, "id": ref.id, "name": ref.name, "detail": ref.detail}
        self.store.put("recent_regarding", [entry, *stored][:20])
        self._regarding_changed()

    # -- outbox, activity, issues ---------------------------------------------------------

    def outbox(self) -> list[OutboxItem]:
        self.user_active()
        return self.outbox_engine.items()

    def user_active(self) -> None:
        """The user works with the app: CRM e-mail is likelier now, so the outbox is checked fast."""
        self.outbox_pace.activity()
        self.scheduler.hasten("outbox", self.outbox_pace.policy.fast)

    def retry_outbox(self, activity_id: str) -> None:
        self.outbox_engine.retry(activity_id)
        self._dismissed.discard(f"outbox:{activity_id}")
        self.store.outbox_put(activity_id, message_id="", state="released")
        self.sync_now()

    def recent_activity(self, limit: int = 200, text: str | None = None) -> list[AuditEntry]:
        return [_to_entry(r) for r in self.store.recent_audit(limit, text)]

    def issues(self) -> list[Issue]:
        found: list[Issue] = []
        s = self.scheduler
        if s.state is BridgeState.CREDENTIALS_NEEDED:
            action = getattr(s.auth_error, "fix_action", None) or "open_settings"
            found.append(Issue("credentials", "Sign-in needed", s.detail, action))
        elif s.state is BridgeState.ERROR:
            found.append(Issue("error", "CRM Bridge needs attention", s.detail, "open_settings"))
        for rec in self.store.outbox_in_states("failed"):
            found.append(
                Issue(
                    f"outbox:{rec.activity_id}",
                    f"Not sent: {rec.subject}",
                    rec.reason,
                    "retry_outbox",
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

    # -- settings -------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return dict(self.profile.values)

    def update_settings(self, changes: dict[str, Any]) -> None:
        self.profile.update(changes)
        if self.config is not None:
            self.config.save()
        signin = any(k.startswith("auth.") for k in changes)  # shared by both sides
        self._reconnect(
            # sending.bcc_self is a mailbox option (the hidden copy is the backend's job).
            mailbox=signin or any(k.startswith("mailbox.") or k == "sending.bcc_self" for k in changes),
            crm=signin or any(k.startswith("crm.") for k in changes),
        )
        self.sync_now()

    def set_secret(self, kind: str, secret: str) -> None:
        if kind not in ("mailbox", "crm"):
            raise ConfigError(f"Unknown secret kind {kind!r}.")
        self.secrets.set(kind, secret)
        self._reconnect(mailbox=kind == "mailbox", crm=kind == "crm")
        if self.scheduler.state is BridgeState.CREDENTIALS_NEEDED:
            self.scheduler.resume()

    def sign_in(self, method: str | None = None, on_device_code: Callable[[str], None] | None = None) -> str:
        """Microsoft sign-in now (the Fix of "Sign-in needed"): browser or device code; the user name.

        One sign-in serves the CRM online and a Graph mailbox; the engine resumes afterwards.
        """
        sign_in = microsoft_sign_in(self.profile)
        if not sign_in.resources:
            raise ConfigError(
                "This profile uses no Microsoft sign-in (CRM sign-in method or mail server type).",
                title="Nothing to sign in to",
            )
        if on_device_code is not None:
            sign_in.on_device_code = on_device_code
        sign_in.sign_in(method=SignInMethod(method) if method else None)
        if self.scheduler.state is BridgeState.CREDENTIALS_NEEDED:
            self.scheduler.resume()
        return ", ".join(sign_in.accounts())

    def sign_out(self) -> None:
        """Forget the profile's Microsoft sign-in (the keyring's token cache is deleted)."""
        microsoft_sign_in(self.profile).sign_out()

    def _reconnect(self, *, mailbox: bool, crm: bool) -> None:
        """Drop what the changed settings invalidate; the next use rebuilds it from the profile."""
        with self._lock:
            old_mailbox, old_client = (self._mailbox if mailbox else None), (self._client if crm else None)
            if mailbox:
                self._mailbox = None
            if crm:
                self._gateway, self._client = None, None
            # Tracking rules, folders and intervals are read from the profile again.
            self._autotrack_job = None
            for job in self.scheduler.jobs:
                key = "tracking.poll_seconds" if job.name == "mailbox" else "sending.poll_seconds"
                job.interval = timedelta(seconds=int(self.profile.get(key)))
            self.outbox_pace.policy = pace_policy(self.profile)
        for resource in (old_mailbox, old_client):
            if resource is not None:
                resource.close()

    def test_mailbox(self, values: dict[str, Any], secret: str | None = None) -> MailboxInfo:
        trial = Profile(self.profile.name, dict(self.profile.values))
        trial.update(values)
        source = secret or self.secrets.get("mailbox") or ""
        # A Graph mailbox is tested with a token from the profile's Microsoft sign-in.
        mailbox = open_mailbox(trial.mailbox_settings(), mailbox_secret(trial, lambda: source))
        try:
            return mailbox.check()
        finally:
            mailbox.close()

    def test_crm(self, values: dict[str, Any], secret: str | None = None) -> str:
        trial = Profile(self.profile.name, dict(self.profile.values))
        trial.update(values)
        if not trial.crm_api_url:
            raise ConfigError("Enter the organisation URL first.")
        given = secret or self.secrets.get("crm") or ""

        def trial_secret() -> str:
            if not given:
                raise AuthError("Enter the CRM password or token first.", service="crm")
            return given

        client = DataverseClient(
            trial.crm_api_url, crm_auth(trial, trial_secret, lambda: given or None), timeout=20
        )
        try:
            ctx = CrmGateway(client).context(refresh=True)
            return ctx.full_name or ctx.email
        finally:
            client.close()

    def log_dir(self) -> Path:
        return paths.ensure_private_dir(paths.log_dir())


__all__ = ["Bridge", "BridgeError", "MemorySecrets", "SecretStore"]


def _read_dropped(data: bytes, filename: str) -> Message:
    # The OLE signature decides, not the name: a .msg renamed .eml is still a .msg.
    is_outlook = is_msg(data) or filename.lower().endswith(".msg")
    return parse_msg(data) if is_outlook else parse_mime(data)
