"""The per-mailbox Graph send rate.

(Sends waiting in Outbox -- Exchange Online's send is asynchronous, message-send answers 202
Accepted before the message is out -- go through the transport queue both protocols share:
addin/sandbox/mail/transport.py.)

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

log = logging.getLogger(__name__)


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
