"""The worker loop: polls the mailbox and the CRM outbox, survives sleep, clock jumps and outages.

One thread runs both jobs on their own intervals.  It never sleeps longer than
``MAX_NAP`` at a time and works out what is due from the wall clock, so after a laptop
wakes (or the clock jumps) everything overdue runs at once.  Errors become states —
Offline with back-off, CredentialsNeeded until the user acts, Error with back-off —
never a dead thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from addin.errors import AuthError, BridgeError, CredentialStoreError, OfflineError, ThrottledError
from addin.state import BridgeState
from addin.store import utcnow

log = logging.getLogger(__name__)

MAX_NAP = 30.0
MAX_BACKOFF = timedelta(minutes=15)


@dataclass
class Job:
    name: str
    interval: timedelta
    run: Callable[[], object]
    enabled: Callable[[], bool] = lambda: True
    next_due: datetime = field(default_factory=utcnow)
    # An adaptive pace (see poll_pace): the wait after a successful run; else ``interval``.
    pace: Callable[[], timedelta] | None = None
    failures: int = 0


class Scheduler:
    def __init__(
        self,
        jobs: list[Job],
        *,
        on_state: Callable[[BridgeState, str], None],
        now: Callable[[], datetime] = utcnow,
        max_nap: float = MAX_NAP,
        on_synced: Callable[[], None] = lambda: None,
    ) -> None:
        self.jobs = jobs
        self._on_synced = on_synced
        self._max_nap = max_nap
        self._on_state = on_state
        self._now = now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.paused = False
        self.paused_until: datetime | None = None
        self.state = BridgeState.STARTING
        self.detail = ""
        self.last_synced: datetime | None = None
        self._blocked_on_credentials = False
        # The sign-in problem behind CREDENTIALS_NEEDED, so the facade can offer the right Fix.
        self.auth_error: AuthError | None = None

    # -- control --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="crm-bridge-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def pause(self, until: datetime | None) -> None:
        with self._lock:
            self.paused, self.paused_until = True, until
        self._set(BridgeState.PAUSED, f"until {until:%H:%M}" if until else "until resumed")
        self._wake.set()

    def resume(self) -> None:
        with self._lock:
            self.paused, self.paused_until = False, None
            self._blocked_on_credentials = False
        self.run_now()

    def run_now(self, name: str | None = None) -> None:
        """Make every job (or the named one) due and wake the loop."""
        with self._lock:
            now = self._now()
            if name is None:
                self._blocked_on_credentials = False
            for job in self.jobs:
                if name is None or job.name == name:
                    job.next_due = now
        self._wake.set()

    def hasten(self, name: str, within: timedelta) -> None:
        """Run the named job no later than ``within`` from now (activity makes it urgent)."""
        with self._lock:
            latest = self._now() + within
            for job in self.jobs:
                if job.name == name and job.next_due > latest:
                    job.next_due = latest
                    self._wake.set()

    # -- the loop -------------------------------------------------------------------------

    def _set(self, state: BridgeState, detail: str = "") -> None:
        if (state, detail) != (self.state, self.detail):
            self.state, self.detail = state, detail
            self._on_state(state, detail)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self._now()
            if self.paused and self.paused_until is not None and now >= self.paused_until:
                self.resume()
                continue
            if self.paused or self._blocked_on_credentials:
                self._nap(self._max_nap)
                continue
            due = [j for j in self.jobs if j.next_due <= now and j.enabled()]
            if not due:
                if self.state in (BridgeState.STARTING, BridgeState.SYNCING):
                    self._set(BridgeState.IDLE)
                upcoming = min(
                    (j.next_due for j in self.jobs), default=now + timedelta(seconds=self._max_nap)
                )
                self._nap(max(0.05, min(self._max_nap, (upcoming - now).total_seconds())))
                continue
            for job in due:
                if self._stop.is_set() or self.paused:
                    break
                self._run(job)

    def _nap(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _run(self, job: Job) -> None:
        if self.state not in (BridgeState.OFFLINE, BridgeState.ERROR):
            self._set(BridgeState.SYNCING)
        with self._lock:
            due_at_start = job.next_due
        try:
            job.run()
        except AuthError as exc:
            self._blocked_on_credentials = True
            self.auth_error = exc
            self._set(BridgeState.CREDENTIALS_NEEDED, exc.message)
            job.next_due = self._now() + job.interval
            return
        except CredentialStoreError as exc:
            self._blocked_on_credentials = True
            self.auth_error = None  # the keyring, not a sign-in: no "Sign in…" for this one
            self._set(BridgeState.CREDENTIALS_NEEDED, exc.message)
            return
        except (OfflineError, ThrottledError) as exc:
            job.failures += 1
            wait = self._backoff(job, getattr(exc, "retry_after", None))
            job.next_due = self._now() + wait
            state = BridgeState.OFFLINE if isinstance(exc, OfflineError) else BridgeState.SYNCING
            self._set(state, exc.message)
            return
        except BridgeError as exc:
            job.failures += 1
            job.next_due = self._now() + self._backoff(job, None)
            self._set(BridgeState.ERROR, f"{exc.title}: {exc.message}")
            return
        except Exception:  # a bug must not kill the loop; it is logged and retried with back-off
            log.exception("job %s failed", job.name)
            job.failures += 1
            job.next_due = self._now() + self._backoff(job, None)
            self._set(BridgeState.ERROR, f"Internal error in {job.name}; see the log.")
            return
        job.failures = 0
        upcoming = self._now() + (job.pace() if job.pace is not None else job.interval)
        with self._lock:
            # run_now()/hasten() while the job ran (a change notified mid-run): keep that request,
            # or the change would wait for the next interval.
            if job.next_due != due_at_start:
                upcoming = min(upcoming, job.next_due)
            job.next_due = upcoming
        self.last_synced = self._now()
        self._on_synced()
        if self.state in (BridgeState.OFFLINE, BridgeState.ERROR):
            self._set(BridgeState.SYNCING)

    def _backoff(self, job: Job, retry_after: float | None) -> timedelta:
        wait: timedelta = min(job.interval * (2 ** min(job.failures - 1, 8)), MAX_BACKOFF)
        if retry_after:
            wait = max(wait, timedelta(seconds=retry_after))
        return max(wait, timedelta(seconds=1))
