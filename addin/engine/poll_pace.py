"""How often the CRM outbox is asked: fast while someone works, slow when nothing happens,
and never more than a budget of CRM requests.

Dataverse counts every request against the user's licence entitlement (40,000 per 24 hours
for a Dynamics 365 Enterprise or Professional user, 6,000 for a Team Member or a Power Apps
per-app user, shared with everything else the user does).  An idle outbox check costs one
request, so the pace is a token bucket of checks: it holds ``burst`` tokens and refills at
``per_hour``.  Whatever the activity, N hours cost at most ``burst + per_hour * N`` checks
(defaults: 40 + 340 * 8 = 2,760 in an 8-hour day; with the user context the checks refresh
every 15 minutes, 4 counted requests, 2,888: under 3,000).

Wanted interval: ``fast`` for ``active_for`` after the last activity (the app started, an
e-mail sent, the user working in the app); then it doubles every ``active_for`` up to
``slow``.  When the bucket is empty the check waits for the next token (``3600 / per_hour``
seconds, 10.6 s by default), so even a day of constant activity keeps within the budget.

Why the slow interval is 12 s and not minutes: the bridge cannot see a salesperson press
Send in the CRM, so an e-mail queued after a quiet spell waits for the slow check; a 95th
percentile of 12 s from Pending Send to Sent Items needs a check at least every ~12 s.  An
idle 8-hour day then costs 2,400 checks, a busy one at most the budget above; the fast
pace halves the wait while e-mail is being sent.

There is no cheaper way to learn of new Pending Send e-mail: change tracking
(``Prefer: odata.track-changes``) allows no ``$filter`` and needs organisation-wide read on
the table, and ``If-None-Match`` gives 304 only for a single record, not for a query.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from addin.store import utcnow


@dataclass(frozen=True)
class PacePolicy:
    fast: timedelta = timedelta(seconds=6)
    slow: timedelta = timedelta(seconds=12)
    active_for: timedelta = timedelta(minutes=5)
    per_hour: int = 340
    burst: int = 40

    def worst_case(self, hours: float) -> int:
        """The most checks ``hours`` can ever cost, whatever happens."""
        return self.burst + int(self.per_hour * hours)


class PollPace:
    """The next interval of the outbox check; thread-safe, clock injectable (for tests)."""

    def __init__(self, policy: PacePolicy, *, now: Callable[[], datetime] = utcnow) -> None:
        self.policy = policy
        self._now = now
        self._lock = threading.Lock()
        self._tokens = float(policy.burst)
        self._refilled = now()
        # Starting the app counts as activity: its user is at the computer.
        self._active: datetime | None = self._refilled

    def activity(self) -> None:
        """Something happened that makes more e-mail likely soon: check fast for a while."""
        with self._lock:
            self._active = self._now()

    def spend(self, checks: int = 1) -> None:
        """A check was made (call once per outbox poll)."""
        with self._lock:
            self._refill()
            self._tokens -= checks

    def wanted(self) -> timedelta:
        """The interval activity alone asks for, before the budget."""
        p = self.policy
        with self._lock:
            active = self._active
        if active is None:
            return p.slow
        steps = int((self._now() - active) / p.active_for)
        return min(p.slow, p.fast * (1 << min(steps, 16)))

    def next_interval(self) -> timedelta:
        """How long to wait before the next check: the wanted pace, or the budget's if slower."""
        wanted = self.wanted()
        with self._lock:
            self._refill()
            missing = 1.0 - self._tokens
        if missing <= 0:
            return wanted
        return max(wanted, timedelta(hours=missing / self.policy.per_hour))

    def _refill(self) -> None:
        now = self._now()
        elapsed = max(0.0, (now - self._refilled).total_seconds())
        self._tokens = min(float(self.policy.burst), self._tokens + elapsed * self.policy.per_hour / 3600)
        self._refilled = now
