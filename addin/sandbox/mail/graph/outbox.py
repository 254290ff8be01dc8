"""Graph sends waiting to complete, and the per-mailbox send rate.

Exchange Online's send is asynchronous (message-send answers 202 Accepted before the message is
out); the ``sent_copy_delay_seconds`` fault makes the sandbox's sends wait the same way. Each
waiting send runs once, on its timer or when a test calls ``flush``.

Exchange Online lets a mailbox send 30 messages a minute (Exchange Online limits, "Sending
limits"). With the ``send_limit_per_minute`` fault the sandbox refuses sends over N in any
60 seconds with 429 and ``Retry-After`` -- how Graph reports that limit is unverified (the message
may also be accepted and held), so this knob is off by default and only checks that a client
keeps under the limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)


class PendingSends:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[threading.Timer, Callable[[], None]]] = []

    def later(self, seconds: float, job: Callable[[], None]) -> None:
        """Run ``job`` after ``seconds`` on a timer thread, once."""
        done = threading.Event()
        lock = threading.Lock()

        def run_once() -> None:
            with lock:
                if done.is_set():
                    return
                done.set()
            try:
                job()
            except Exception:  # the sandbox stopped, or the message went away meanwhile
                log.debug("delayed Graph send did not complete", exc_info=True)

        timer = threading.Timer(seconds, run_once)
        timer.daemon = True
        with self._lock:
            self._pending = [(t, j) for t, j in self._pending if t.is_alive()]
            self._pending.append((timer, run_once))
        timer.start()

    def flush(self) -> int:
        """Complete every waiting send now; returns how many were waiting."""
        with self._lock:
            pending, self._pending = self._pending, []
        for timer, job in pending:
            timer.cancel()
            job()
        return len(pending)

    def cancel_all(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for timer, _ in pending:
            timer.cancel()


class SendRate:
    """Sends per mailbox in a sliding 60-second window."""

    WINDOW = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}

    def take(self, mailbox: str, limit: int) -> int | None:
        """Count one send; None if allowed, else the seconds until one would be (nothing counted)."""
        if limit <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            sent = self._sent.setdefault(mailbox, deque())
            while sent and now - sent[0] >= self.WINDOW:
                sent.popleft()
            if len(sent) >= limit:
                return max(1, int(self.WINDOW - (now - sent[0])) + 1)
            sent.append(now)
            return None
