"""When to retry a Web API request, and how long to wait (reference dataverse.md §4.3).

The rules, in one place:

- 429 and 503 mean the server did not run the request: retry any method, waiting ``Retry-After``
  when given, else an exponential back-off.  The three service-protection error codes are
  treated the same whatever status carries them.
- A connection that could not be opened (DNS, refused, connect timeout) sent nothing: retry.
- A response lost after the request went out (reset, closed, read timeout), and 500/502/504,
  may have taken effect: retry only idempotent requests (GET/HEAD, or PATCH/PUT/DELETE carrying
  ``If-Match``/``If-None-Match``); anything else surfaces as ``UnknownOutcomeError``.
- The total wait of one call is capped by ``max_wait``; a ``Retry-After`` beyond what is left
  is not slept at all: ``ThrottledError`` tells the caller when to come back.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Service protection API limit errors (api-limits.md): number of requests, combined execution
# time, concurrent requests.  Both hex and decimal forms appear in the wild.
THROTTLE_CODES = frozenset(
    {"0x80072322", "0x80072321", "0x80072326", "-2147015902", "-2147015903", "-2147015898"}
)
RETRY_ANY_STATUS = frozenset({429, 503})
RETRY_IDEMPOTENT_STATUS = frozenset({500, 502, 504})


def is_idempotent(method: str, headers: Mapping[str, str] | None = None) -> bool:
    """True if repeating the request cannot apply a change twice."""
    method = method.upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return True
    if method in ("PATCH", "PUT", "DELETE") and headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("if-match"):
            return True
        none_match = lowered.get("if-none-match")
        # "If-None-Match: null" is the Web API's cache-busting default, not a precondition.
        if none_match and none_match != "null":
            return True
    return False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        current = time.time() if now is None else now
        seconds = when.timestamp() - current
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass
class RetryPolicy:
    """Retry limits for one client; ``sleep`` and ``clock`` are injectable for tests."""

    max_retries: int = 5
    max_wait: float = 120.0
    base_delay: float = 1.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    clock: Callable[[], float] = field(default=time.monotonic)

    def backoff(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (0-based) when the server gave no Retry-After."""
        return float(min(self.max_delay, self.base_delay * (2**retry_number)))

    def start(self) -> RetryBudget:
        return RetryBudget(self, self.clock())


@dataclass
class RetryBudget:
    """The retries and waiting time left for one logical call."""

    policy: RetryPolicy
    started: float
    retries: int = 0
    slept: float = 0.0

    def delay_for(self, retry_after: float | None) -> float | None:
        """The delay before the next attempt, or None when the budget cannot afford one."""
        if self.retries >= self.policy.max_retries:
            return None
        delay = retry_after if retry_after is not None else self.policy.backoff(self.retries)
        elapsed = self.policy.clock() - self.started
        if elapsed + delay > self.policy.max_wait:
            return None
        return delay

    def wait(self, delay: float) -> None:
        self.retries += 1
        self.slept += delay
        if delay > 0:
            self.policy.sleep(delay)
