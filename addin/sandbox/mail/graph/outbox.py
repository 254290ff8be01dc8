"""Graph sends waiting to complete: Exchange Online's send is asynchronous (message-send
answers 202 Accepted before the message is out), and the ``sent_copy_delay_seconds`` fault makes
the sandbox's sends wait the same way. Each waiting send runs once, on its timer or when a test
calls ``flush``."""

from __future__ import annotations

import logging
import threading
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
