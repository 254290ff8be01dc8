"""The outbox check's pace: fast while e-mail is being sent, slow when idle, within a request budget.

Everything runs on a fake clock: the schedule is computed, never waited for.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from addin.config import Profile
from addin.engine.poll_pace import PacePolicy, PollPace
from addin.engine.profile_settings import pace_policy
from addin.engine.scheduler import Job, Scheduler

DAY = timedelta(hours=8)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _run_day(pace: PollPace, clock: FakeClock, queued: list[timedelta]) -> tuple[int, list[float]]:
    """Checks made in an 8-hour day, and how long each queued e-mail waited for a check.

    A check that finds an e-mail sends it and counts as activity, as the bridge's outbox job does.
    """
    start, checks, waits = clock.now, 0, []
    waiting = sorted(queued)
    while clock.now - start < DAY:
        pace.spend()
        checks += 1
        found = [q for q in waiting if start + q <= clock.now]
        if found:
            waits += [(clock.now - (start + q)).total_seconds() for q in found]
            waiting = waiting[len(found) :]
            pace.activity()
        clock.now += pace.next_interval()
    return checks, waits


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]  # nearest rank


def test_fast_after_activity_then_doubling_to_slow() -> None:
    clock = FakeClock()
    pace = PollPace(PacePolicy(), now=clock)
    assert pace.next_interval() == timedelta(seconds=6)  # the app just started: its user is here
    clock.now += timedelta(minutes=4)
    assert pace.wanted() == timedelta(seconds=6)
    clock.now += timedelta(minutes=1)
    assert pace.wanted() == timedelta(seconds=12)  # nothing for 5 minutes: the slow pace
    clock.now += timedelta(hours=5)
    assert pace.next_interval() == timedelta(seconds=12)
    pace.policy = PacePolicy(slow=timedelta(seconds=60))  # settings changed: doubling up to slow
    assert pace.wanted() == timedelta(seconds=60)
    pace.activity()
    clock.now += timedelta(minutes=5)
    assert pace.wanted() == timedelta(seconds=12)
    clock.now += timedelta(minutes=5)
    assert pace.wanted() == timedelta(seconds=24)
    pace.activity()
    assert pace.next_interval() == timedelta(seconds=6)


def test_an_empty_budget_waits_for_the_next_token() -> None:
    clock = FakeClock()
    pace = PollPace(PacePolicy(burst=3, per_hour=360), now=clock)
    for _ in range(3):
        pace.spend()
    assert pace.next_interval() == timedelta(seconds=10)  # one token per 3600 / 360 s
    clock.now += timedelta(seconds=4)
    assert pace.next_interval() == timedelta(seconds=6)  # wanted and budget agree again


def test_a_day_of_constant_activity_stays_within_the_budget() -> None:
    clock = FakeClock()
    policy = PacePolicy()
    pace = PollPace(policy, now=clock)
    # An e-mail queued every 5 seconds all day: the pace would like to check every 6 s.
    checks, waits = _run_day(pace, clock, [timedelta(seconds=s) for s in range(0, 8 * 3600, 5)])
    assert checks <= policy.worst_case(8) == 2_760
    assert checks >= 2_700  # the budget is used, not wasted
    assert _p95(waits) <= 3600 / policy.per_hour  # never more than one token interval (10.6 s)


def test_an_idle_day_checks_at_the_slow_pace() -> None:
    clock = FakeClock()
    checks, waits = _run_day(PollPace(PacePolicy(), now=clock), clock, [])
    assert waits == []
    assert 2_400 <= checks <= 2_450  # every 12 s after the first 5 minutes of fast checks


def test_an_e_mail_queued_after_a_quiet_spell_waits_at_most_the_slow_interval() -> None:
    rng = random.Random(7)
    queued = [timedelta(seconds=rng.uniform(0, 8 * 3600)) for _ in range(100)]
    clock = FakeClock()
    checks, waits = _run_day(PollPace(PacePolicy(), now=clock), clock, queued)
    assert len(waits) == 100 and max(waits) <= 12.0
    assert checks <= PacePolicy().worst_case(8)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_e_mail_queued_in_bursts_waits_little(seed: int) -> None:
    """Five working sessions a day; in each, 20 e-mails at random moments within 10 minutes."""
    rng = random.Random(seed)
    queued = [
        timedelta(hours=session * 1.5 + 0.5, seconds=rng.uniform(0, 600))
        for session in range(5)
        for _ in range(20)
    ]
    clock = FakeClock()
    checks, waits = _run_day(PollPace(PacePolicy(), now=clock), clock, queued)
    assert len(waits) == 100
    assert _p95(waits) <= 10.0  # plus the send itself (1-2 s): within the 12 s target
    assert max(waits) <= 12.0
    assert checks <= PacePolicy().worst_case(8)


def test_settings_give_the_policy() -> None:
    profile = Profile("p", {"sending.poll_seconds": 60, "sending.fast_poll_seconds": 8})
    policy = pace_policy(profile)
    assert (policy.fast, policy.slow, policy.per_hour) == (timedelta(seconds=8), timedelta(seconds=60), 340)
    slow_only = pace_policy(Profile("p", {"sending.poll_seconds": 5, "sending.fast_poll_seconds": 30}))
    assert slow_only.fast == slow_only.slow == timedelta(seconds=5)  # "fast" is never slower


def test_the_scheduler_waits_what_the_pace_says_and_activity_hastens_it() -> None:
    clock = FakeClock()
    runs: list[datetime] = []
    job = Job(
        "outbox", timedelta(seconds=30), lambda: runs.append(clock()), pace=lambda: timedelta(seconds=7)
    )
    scheduler = Scheduler([job], on_state=lambda state, detail: None, now=clock)
    scheduler._run(job)
    assert runs == [clock.now] and job.next_due == clock.now + timedelta(seconds=7)
    job.next_due = clock.now + timedelta(seconds=30)
    scheduler.hasten("outbox", timedelta(seconds=6))
    assert job.next_due == clock.now + timedelta(seconds=6)
    scheduler.hasten("outbox", timedelta(seconds=20))  # never later than already due
    assert job.next_due == clock.now + timedelta(seconds=6)
