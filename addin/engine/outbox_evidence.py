"""Positive evidence for the outbox: whose claim is it, did its message ever reach the mailbox,
and which claimed e-mails are waiting for the mail server (docs/ARCHITECTURE.md, "Positive
evidence before any resend").

A stale CRM claim (Sending) is put back to Pending Send only when its message provably never
reached the mailbox:

* it is this journal's own claim (its Message-ID ends in this journal's token) and the journal
  holds no live entry for it -- the journal records ``sending`` before anything leaves; or
* the mailbox shows it nowhere and the backend vouches that "nowhere" means "never submitted"
  (``Mailbox.absence_is_evidence``: EWS, whose server keeps a submitted message in Outbox until
  its Sent Items copy is filed).

Anything else waits, and past ``OutboxSettings.stuck_limit`` becomes Failed.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from addin.crm.port import PendingEmail
from addin.mailbox.port import Mailbox
from addin.mailbox.types import SendEvidence, SendState
from addin.store import Store

# Store keys: this journal's claim token; claimed e-mails whose stamped copy sits in Outbox.
MACHINE_KEY = "outbox.machine"
WAITING_KEY = "outbox.waiting"


class ClaimEvidence:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._token: str | None = None

    def machine(self) -> str:
        """This journal's token, carried in the Message-IDs of the claims it makes."""
        if self._token is None:
            token = self.store.get(MACHINE_KEY)
            if not isinstance(token, str) or not token:
                token = secrets.token_hex(4)
                self.store.put(MACHINE_KEY, token)
            self._token = token
        return self._token

    def never_left(self, item: PendingEmail, evidence: SendEvidence, mailbox: Mailbox) -> bool:
        """Positive evidence that a stale claim's message never reached the mailbox."""
        if evidence.state is not SendState.NONE:
            return False
        if item.message_id and f".{self.machine()}@" in item.message_id:
            # Our own claim with no live journal entry (the caller checked): nothing was sent,
            # because the journal records "sending" before anything leaves.
            own = self.store.outbox_get(item.activity_id)
            return own is None or own.message_id != item.message_id
        return mailbox.absence_is_evidence

    def note(self, activity_id: str, evidence: SendEvidence | None, now: datetime) -> None:
        """Remember whether a claimed e-mail sits in Outbox (persisted: the command line's
        ``crm-bridge outbox`` shows it too); ``None`` forgets it."""
        waiting = self._waiting()
        in_outbox = evidence is not None and evidence.state is SendState.SUBMITTED
        if in_outbox == (activity_id in waiting):
            return
        if in_outbox:
            waiting[activity_id] = now.isoformat()
        else:
            waiting.pop(activity_id, None)
        self.store.put(WAITING_KEY, waiting)

    def waiting(self) -> set[str]:
        return set(self._waiting())

    def _waiting(self) -> dict[str, Any]:
        value = self.store.get(WAITING_KEY)
        return dict(value) if isinstance(value, dict) else {}
