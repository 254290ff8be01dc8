"""Client-side limits of the Graph backend: requests in flight and messages sent per minute.

Outlook allows 4 concurrent requests per app and mailbox and Exchange Online 30 sent
messages a minute per mailbox (learn.microsoft.com/graph/throttling-limits; Exchange Online
limits); staying under them avoids 429s instead of paying for them.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_CONCURRENT = 4  # Outlook: concurrent requests per app and mailbox
SEND_LIMIT = 30  # Exchange Online: messages per minute per mailbox
SEND_WINDOW = 60.0


class Slots:
    """A counting limit on requests in flight; a batch takes one slot per part (up to all)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.cond = threading.Condition()

    def acquire(self, n: int) -> int:
        n = max(1, min(n, self.limit))
        with self.cond:
            self.cond.wait_for(lambda: self.used + n <= self.limit)
            self.used += n
        return n

    def release(self, n: int) -> None:
        with self.cond:
            self.used -= n
            self.cond.notify_all()


class SendRate:
    """At most SEND_LIMIT sends in any SEND_WINDOW seconds (a sliding window)."""

    def __init__(self, sleep: Callable[[float], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.sleep = sleep
        self.clock = clock
        self.times: collections.deque[float] = collections.deque()
        self.lock = threading.Lock()

    def wait_turn(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                while self.times and now - self.times[0] >= SEND_WINDOW:
                    self.times.popleft()
                if len(self.times) < SEND_LIMIT:
                    self.times.append(now)
                    return
                wait = SEND_WINDOW - (now - self.times[0])
            log.info("Sending limit reached; waiting %.1f s", wait)
            self.sleep(max(wait, 0.01))
