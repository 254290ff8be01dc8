"""The worker loop turns errors into states, backs off, honours pause, and catches up after a clock jump."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from addin.engine.scheduler import Job, Scheduler
from addin.errors import AuthError, OfflineError
from addin.state import BridgeState


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def jump(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.fixture
def states() -> list[BridgeState]:
    return []


@pytest.fixture
def make(states: list[BridgeState]) -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def factory(jobs: list[Job], clock: Clock) -> Scheduler:
        s = Scheduler(jobs, on_state=lambda st, d: states.append(st), now=clock, max_nap=0.05)
        made.append(s)
        s.start()
        return s

    yield factory
    for s in made:
        s.stop()


def test_jobs_run_and_state_settles_idle(make: Callable[..., Scheduler], states: list[BridgeState]) -> None:
    clock = Clock()
    runs: list[str] = []
    s = make([Job("a", timedelta(minutes=1), lambda: runs.append("a"), next_due=clock())], clock)
    wait_for(lambda: runs == ["a"] and s.state is BridgeState.IDLE)
    assert BridgeState.SYNCING in states
    assert s.last_synced == clock()


def test_auth_error_waits_for_the_user(make: Callable[..., Scheduler]) -> None:
    clock = Clock()
    calls: list[int] = []

    def job() -> None:
        calls.append(1)
        raise AuthError("The password was refused.", service="mailbox")

    s = make([Job("mail", timedelta(seconds=1), job, next_due=clock())], clock)
    wait_for(lambda: s.state is BridgeState.CREDENTIALS_NEEDED)
    clock.jump(timedelta(hours=1))
    time.sleep(0.3)
    assert len(calls) == 1  # no hammering with a bad password
    s.run_now()  # the user fixed the password
    wait_for(lambda: len(calls) == 2)


def test_the_sign_in_problem_is_kept_for_the_fix_action(make: Callable[..., Scheduler]) -> None:
    """The facade offers "Sign in…" for a Microsoft sign-in; a locked keyring is another fix."""
    from addin.errors import CredentialStoreError
    from addin.signin import MicrosoftSignInNeeded

    clock = Clock()
    errors: list[Exception] = [
        MicrosoftSignInNeeded("Your Microsoft sign-in has expired.", service="crm"),
        CredentialStoreError("The system keyring is locked."),
    ]

    def job() -> None:
        raise errors.pop(0)

    s = make([Job("outbox", timedelta(seconds=1), job, next_due=clock())], clock)
    wait_for(lambda: s.state is BridgeState.CREDENTIALS_NEEDED)
    assert isinstance(s.auth_error, MicrosoftSignInNeeded) and s.auth_error.fix_action == "sign_in_microsoft"
    s.run_now()
    wait_for(lambda: not errors and s.detail == "The system keyring is locked.")
    assert s.auth_error is None


def test_offline_backs_off_then_recovers(make: Callable[..., Scheduler]) -> None:
    clock = Clock()
    outcomes = [OfflineError("no network"), OfflineError("no network"), None]
    calls: list[datetime] = []

    def job() -> None:
        calls.append(clock())
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    s = make([Job("mail", timedelta(seconds=60), job, next_due=clock())], clock)
    wait_for(lambda: s.state is BridgeState.OFFLINE)
    time.sleep(0.2)
    assert len(calls) == 1  # waits for the back-off, not a busy loop
    clock.jump(timedelta(seconds=61))
    wait_for(lambda: len(calls) == 2)
    clock.jump(timedelta(seconds=119))
    time.sleep(0.2)
    assert len(calls) == 2  # the second wait is longer (120 s)
    clock.jump(timedelta(seconds=2))
    wait_for(lambda: len(calls) == 3 and s.state is BridgeState.IDLE)


def test_pause_until_and_catch_up_after_sleep(make: Callable[..., Scheduler]) -> None:
    clock = Clock()
    runs: list[datetime] = []
    s = make([Job("outbox", timedelta(minutes=5), lambda: runs.append(clock()), next_due=clock())], clock)
    wait_for(lambda: len(runs) == 1)
    s.pause(clock() + timedelta(hours=1))
    wait_for(lambda: s.state is BridgeState.PAUSED)
    clock.jump(timedelta(minutes=30))
    time.sleep(0.2)
    assert len(runs) == 1  # paused: nothing runs even though the job is due
    # The laptop sleeps through the end of the pause: on wake the loop resumes and catches up.
    clock.jump(timedelta(hours=2))
    wait_for(lambda: len(runs) == 2 and not s.paused)


def test_a_bug_in_a_job_does_not_kill_the_loop(make: Callable[..., Scheduler]) -> None:
    clock = Clock()
    calls: list[int] = []

    def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("bug")

    s = make([Job("mail", timedelta(seconds=10), job, next_due=clock())], clock)
    wait_for(lambda: s.state is BridgeState.ERROR)
    clock.jump(timedelta(seconds=11))
    wait_for(lambda: len(calls) == 2)


def test_a_run_asked_for_while_the_job_runs_is_not_lost() -> None:
    """A mailbox change notified while the mailbox job is running makes it run again at once,
    not after its interval (the push path's notifications arrive at any moment)."""
    clock = Clock()
    scheduler: Scheduler

    def job_notified_midway() -> None:
        scheduler.run_now("mailbox")

    job = Job("mailbox", timedelta(seconds=60), job_notified_midway)
    scheduler = Scheduler([job], on_state=lambda state, detail: None, now=clock)
    scheduler._run(job)
    assert job.next_due == clock()
    job.run = lambda: None
    scheduler._run(job)  # nothing asked for this time: the interval
    assert job.next_due == clock() + timedelta(seconds=60)
