"""Outbox recovery: an interrupted send, and a stale claim of another machine, settled
from positive evidence in the mailbox (mixed into :class:`addin.engine.outbox.Outbox`).

Recovery: the mailbox is the source of truth, and only positive evidence in it settles
an interrupted send (``Mailbox.send_evidence``):

* a stamped copy in Sent Items: it was sent; mark it Sent;
* a stamped draft that was never submitted (backends that send drafts, Graph): it did not
  leave; send THAT draft (a draft can be sent only once), never compose a new message;
* a stamped item in Outbox (submitted, the server is sending it): wait;
* nothing, journal ``sending`` (the message never reached the mailbox): after the grace
  period, with the claim still ours, send again;
* nothing, journal ``submitting`` (a draft's send was requested; its answer may have been
  lost and the Sent copy may be late): wait; never send a second message.  Past
  ``unknown_limit`` the e-mail becomes Failed with "unknown whether it was sent".

A CRM claim (Sending) older than the stale timeout with no journal entry of ours is settled
from the mailbox too, but is put back to Pending Send only on positive evidence that its
message never reached the mailbox (``ClaimEvidence.never_left``): the claim is this
machine's own (its Message-ID carries this journal's token) and the journal never recorded a
send, or the backend vouches that "in none of Drafts, Outbox, Sent Items" means never
submitted (``Mailbox.absence_is_evidence``).  Otherwise it waits -- shown as "Waiting for the mail
server to send" while its stamped copy sits in Outbox -- and past ``stuck_limit`` becomes
Failed; never a second send.  docs/ARCHITECTURE.md states the rule.

Where a missing copy proves nothing (``Mailbox.missing_copy_means_unsent()`` is False, as
on SMTP: the answer to DATA can be lost after the message left), "no copy" never leads to
a send: the e-mail becomes Failed with :data:`UNKNOWN_SENT` for the user to check and Retry
or Dismiss.  Such a backend raises ``UnknownOutcomeError`` whenever a message may have
left, so any other error from its ``send`` gives the claim back for a later poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from addin.crm.codes import EmailStatus
from addin.crm.port import CrmPort, PendingEmail
from addin.engine.outbox_evidence import ClaimEvidence
from addin.errors import AuthError, BridgeError, HeaderInjectionError, MessageError
from addin.mailbox.port import Mailbox
from addin.mailbox.types import Attachment, OutgoingMessage, SendEvidence, SendState
from addin.states import JournalState
from addin.store import AuditNote, Store

if TYPE_CHECKING:
    from addin.engine.outbox import OutboxSettings

log = logging.getLogger(__name__)

RECOVERED = "Sent before an interruption; confirmed from Sent Items"
CONFIRMED = "Confirmed from Sent Items"  # a stale claim (no journal of ours) found sent
RESENT = "Not sent before an interruption; sent again under the same claim"
DRAFT_SENT = "Not sent before an interruption; its saved draft was sent"
UNKNOWN = (
    "Unknown whether it was sent: the mail server accepted a send but no copy appeared in "
    "Sent Items — check your Sent Items before sending it again"
)
STUCK = "The mail server has not sent it — check your Outbox"
UNKNOWN_SENT = "Unknown whether it was sent — check your Sent folder, then Retry or Dismiss"
WAITING_REASON = "Waiting for the mail server to send: it is in your Outbox"


class OutboxRecovery:
    mailbox: Mailbox
    crm: CrmPort
    store: Store
    settings: OutboxSettings
    _evidence: ClaimEvidence
    _now: Callable[[], datetime]

    if TYPE_CHECKING:  # provided by the Outbox

        def _compose(self, item: PendingEmail, message_id: str) -> OutgoingMessage: ...
        def _submit(self, activity_id: str, outgoing: OutgoingMessage) -> None: ...
        def _fail(self, item: PendingEmail, reason: str, *, claimed: bool) -> None: ...
        def _finish(
            self, activity_id: str, message_id: str, subject: str, detail: str = "Sent from your mailbox"
        ) -> bool: ...

    def recover(self) -> int:
        """Settle our own journal entries left in ``sending``, ``submitting`` or ``sent``."""
        settled = 0
        for rec in self.store.outbox_in_states(*JournalState.in_flight()):
            if rec.state == JournalState.SENT:
                settled += self._finish(rec.activity_id, rec.message_id, rec.subject, RECOVERED)
                continue
            evidence = self.mailbox.send_evidence(rec.activity_id)
            self._evidence.note(rec.activity_id, evidence, self._now())
            if evidence.state is SendState.SENT:
                self.store.outbox_put(rec.activity_id, message_id=rec.message_id, state=JournalState.SENT)
                settled += self._finish(rec.activity_id, rec.message_id, rec.subject, RECOVERED)
                continue
            if self._now() - rec.updated_at < self.settings.grace:
                continue
            current = self.crm.current(rec.activity_id)
            if (
                current is None
                or current.statuscode != EmailStatus.SENDING
                or current.message_id != rec.message_id
            ):
                if current is not None and current.statuscode == EmailStatus.FAILED and rec.reason:
                    # Killed between the CRM's Failed and the journal's: the reason was
                    # journalled first (Outbox._fail), so it is recorded now, with its audit row.
                    self.store.outbox_put(
                        rec.activity_id,
                        message_id=rec.message_id,
                        state=JournalState.FAILED,
                        reason=rec.reason,
                        attempts=current.attempts,
                        audit=AuditNote(
                            "send_failed",
                            ok=False,
                            subject=rec.subject,
                            detail=rec.reason,
                            activity_id=rec.activity_id,
                        ),
                    )
                    continue
                # The claim is no longer ours (released by another machine, or the record moved on).
                self.store.outbox_put(rec.activity_id, message_id=rec.message_id, state=JournalState.RELEASED)
                continue
            if evidence.state is SendState.DRAFT and evidence.item_id:
                settled += self._send_saved_draft(current, rec.message_id, evidence)
                continue
            if evidence.state is SendState.SUBMITTED or rec.state == JournalState.SUBMITTING:
                # The server has it, or may: its copy can still arrive.  Never a second message.
                stuck = evidence.state is SendState.SUBMITTED
                limit = self.settings.stuck_limit if stuck else self.settings.unknown_limit
                if self._now() - rec.updated_at >= limit:
                    self._fail(current, STUCK if stuck else UNKNOWN, claimed=True)
                    settled += 1
                continue
            if not self.mailbox.missing_copy_means_unsent():
                # No copy proves nothing here (SMTP: the answer to DATA may have been lost
                # after the message left). Never send again without evidence: the user decides.
                self._fail(current, UNKNOWN_SENT, claimed=True)
                settled += 1
                continue
            # Still our claim, journal "sending" and the message nowhere in the mailbox: it
            # never reached the server.  Send it again under the same claim.
            try:
                outgoing = with_attachments(
                    self._compose(current, rec.message_id), self.crm.attachments(rec.activity_id)
                )
                self.store.outbox_put(rec.activity_id, message_id=rec.message_id, state=JournalState.SENDING)
                self._submit(rec.activity_id, outgoing)
            except (HeaderInjectionError, MessageError) as exc:
                self._fail(current, exc.message, claimed=True)
                continue
            self.store.outbox_put(rec.activity_id, message_id=rec.message_id, state=JournalState.SENT)
            self._finish(rec.activity_id, rec.message_id, rec.subject, RESENT)
            settled += 1
        return settled

    def _send_saved_draft(self, item: PendingEmail, message_id: str, evidence: SendEvidence) -> int:
        """A stamped draft never submitted: send that very draft (it can be sent only once)."""
        assert evidence.item_id
        self.store.outbox_put(item.activity_id, message_id=message_id, state=JournalState.SUBMITTING)
        try:
            self.mailbox.send_draft(evidence.item_id)
        except (HeaderInjectionError, MessageError) as exc:
            self._fail(item, exc.message, claimed=True)
            return 1
        self.store.outbox_put(item.activity_id, message_id=message_id, state=JournalState.SENT)
        self._finish(item.activity_id, message_id, item.subject, DRAFT_SENT)
        return 1

    def _settle_claim(self, item: PendingEmail) -> int:
        """A CRM claim (Sending) that is not in our journal: settle it once it is stale."""
        own = self.store.outbox_get(item.activity_id)
        if own is not None and own.state in JournalState.in_flight():
            return 0  # ours: recover() handles it
        evidence = self.mailbox.send_evidence(item.activity_id)
        self._evidence.note(item.activity_id, evidence, self._now())
        if evidence.state is SendState.SENT:
            copy_id = evidence.message_id or item.message_id or ""
            # Journal it as ours first, so a crash before the audit row is settled by recover().
            self.store.outbox_put(
                item.activity_id,
                message_id=copy_id,
                state=JournalState.SENT,
                subject=item.subject,
                recipients="",
            )
            self._finish(item.activity_id, copy_id, item.subject, CONFIRMED)
            return 1
        if item.modified is None or self._now() - item.modified < self.settings.stale_claim:
            return 0
        if evidence.state is SendState.DRAFT and evidence.item_id:
            # A stale claim whose stamped draft was never submitted: send that draft (the
            # server sends a draft once, so a concurrent owner cannot make it two).
            try:
                self.mailbox.send_draft(evidence.item_id)
            except AuthError:
                raise
            except BridgeError as exc:
                log.warning("saved draft of %s not sent: %s", item.activity_id, exc.message)
                return 0
            message_id = evidence.message_id or item.message_id or ""
            # Ours from here: a late copy or a crash before the audit row is settled by recover().
            self.store.outbox_put(
                item.activity_id,
                message_id=message_id,
                state=JournalState.SENT,
                subject=item.subject,
                recipients="",
            )
            self._finish(item.activity_id, message_id, item.subject, DRAFT_SENT)
            return 1
        if not self._evidence.never_left(item, evidence, self.mailbox):
            if not self.mailbox.missing_copy_means_unsent():
                # Another machine's stale claim without a copy may still have left by SMTP, and
                # nothing will ever show it: the user decides, never a second send.
                self._fail(item, UNKNOWN_SENT, claimed=False)
                return 1
            return self._hold_claim(item, evidence)
        if self.crm.release(item):
            self.store.audit(
                "send_released",
                subject=item.subject,
                detail="A stale claim whose e-mail never reached the mailbox was put back in the queue",
                activity_id=item.activity_id,
            )
            return 1
        return 0

    def _hold_claim(self, item: PendingEmail, evidence: SendEvidence) -> int:
        """A stale claim that may still be on its way: wait; past ``stuck_limit``, Failed."""
        if item.modified is None or self._now() - item.modified < self.settings.stuck_limit:
            return 0
        self._fail(item, STUCK if evidence.state is SendState.SUBMITTED else UNKNOWN, claimed=True)
        self._evidence.note(item.activity_id, None, self._now())
        return 1


def with_attachments(message: OutgoingMessage, attachments: Sequence[Attachment]) -> OutgoingMessage:
    return replace(message, attachments=tuple(attachments))
