"""The CRM outbox: Pending Send e-mails leave through the user's mailbox exactly once.

Protocol (DESIGN §2):
1. claim in the CRM: Pending Send -> Sending with ``If-Match`` and the Message-ID we
   will use; a 412 means another copy of the bridge took it;
2. write the intent to the journal (``sending``) *before* sending;
3. send with that Message-ID and the stamp (= activity id), copy to Sent Items;
4. journal ``sent``, then mark Sent in the CRM with the Message-ID read back from
   the Sent Items copy; journal ``done``.

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
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from addin.bridge_types import OutboxItem, OutboxState
from addin.crm import records as r
from addin.crm.mail_methods import DeliveryMethod
from addin.engine.crm_gateway import CrmGateway, PendingEmail, UserContext
from addin.engine.headers import check_address, check_subject
from addin.engine.html_text import html_to_text
from addin.engine.outbox_evidence import ClaimEvidence
from addin.errors import (
    AuthError,
    BridgeError,
    HeaderInjectionError,
    MessageError,
    OfflineError,
    ThrottledError,
    UnknownOutcomeError,
)
from addin.mailbox.port import Mailbox
from addin.mailbox.types import (
    Address,
    Attachment,
    Folder,
    FolderKind,
    OutgoingMessage,
    SendEvidence,
    SendState,
)
from addin.states import JournalState, SendOutcome
from addin.store import AuditNote, Store, utcnow

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
CONFIRMED = "Confirmed from Sent Items"
UNKNOWN_SENT = "Unknown whether it was sent — check your Sent folder, then Retry or Dismiss"
WAITING_REASON = "Waiting for the mail server to send: it is in your Outbox"


@dataclass(frozen=True)
class OutboxSettings:
    enabled: bool = True
    message_id_domain: str = "crm-bridge.local"
    # A claim (CRM Sending) older than this with no journal of ours is settled from Sent Items.
    stale_claim: timedelta = timedelta(minutes=10)
    # How long a send may take to show its copy in Sent Items before we call it "not sent".
    grace: timedelta = timedelta(seconds=60)
    # Backends that send drafts: how long a submitted send may stay without a Sent copy (or
    # sit in Outbox) before it is reported as Failed instead of waited for.
    unknown_limit: timedelta = timedelta(hours=2)
    # How long to wait for a late Sent copy to read the Message-ID the server kept.
    copy_wait: timedelta = timedelta(minutes=5)
    # How long a claimed e-mail may wait for the mail server (its stamped copy in Outbox, or a
    # stale claim without positive evidence that it never left) before it is reported as
    # Failed ("check your Outbox") instead of waited for.  Never sent a second time.
    stuck_limit: timedelta = timedelta(hours=4)
    page_size: int = 50


@dataclass(frozen=True)
class PollReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    settled: int = 0
    requests_idle: bool = False


class Outbox:
    def __init__(
        self,
        mailbox: Mailbox,
        crm: CrmGateway,
        store: Store,
        settings: OutboxSettings,
        *,
        now: Callable[[], datetime] = utcnow,
        on_change: Callable[[], None] = lambda: None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.crm = crm
        self.store = store
        self.settings = settings
        self._now = now
        self._on_change = on_change
        self._sent_folder: Folder | None = None
        self._evidence = ClaimEvidence(store)
        # One poll at a time per journal: recovery must never take this process's own
        # in-flight send for one interrupted by a crash.
        self._lock = lock or threading.Lock()

    def allowed(self, ctx: UserContext) -> bool:
        """Never send when server-side synchronization owns outgoing mail (method 2)."""
        return (
            self.settings.enabled and ctx.outgoing_method == DeliveryMethod.THIS_APP and bool(ctx.mailbox_id)
        )

    def poll(self) -> PollReport:
        with self._lock:
            return self._poll()

    def _poll(self) -> PollReport:
        ctx = self.crm.context()
        if not self.allowed(ctx):
            return PollReport(requests_idle=True)
        settled = self.recover()
        pending = self.crm.outbox(
            ctx, (r.STATUS_PENDING_SEND, r.STATUS_SENDING), top=self.settings.page_size, due_by=self._now()
        )
        sent = failed = skipped = 0
        for item in pending:
            if item.statuscode == r.STATUS_SENDING:
                settled += self._settle_claim(item)
                continue
            if item.send_after and item.send_after > self._now():
                skipped += 1
                continue
            outcome = self.send_one(item)
            sent += outcome is SendOutcome.SENT
            failed += outcome is SendOutcome.FAILED
            if outcome is SendOutcome.PENDING:
                # The connection broke mid-send: do not claim the next one on a failing line.
                break
        if sent or failed or settled:
            self._on_change()
        return PollReport(sent, failed, skipped, settled, requests_idle=not pending)

    # -- one e-mail ---------------------------------------------------------------------

    def send_one(self, item: PendingEmail) -> SendOutcome:
        message_id = make_message_id(
            item.activity_id, self.settings.message_id_domain, self._evidence.machine()
        )
        recipients = ", ".join(item.to)
        try:
            outgoing = self._compose(item, message_id)
        except (HeaderInjectionError, MessageError) as exc:
            self._fail(item, exc.message, claimed=False)
            return SendOutcome.FAILED
        if not self.crm.claim(item, message_id):
            log.info("another copy of the bridge claimed %s", item.activity_id)
            return SendOutcome.SKIPPED
        # The intent is durable before anything leaves: a crash from here on is settled
        # from Sent Items, never by blindly sending again.
        self.store.outbox_put(
            item.activity_id,
            message_id=message_id,
            state=JournalState.SENDING,
            subject=item.subject,
            recipients=recipients,
        )
        try:
            attachments = self.crm.attachments(item.activity_id)
            outgoing = _with_attachments(outgoing, attachments)
            self._submit(item.activity_id, outgoing)
        except (MessageError, HeaderInjectionError) as exc:
            self._fail(item, exc.message, claimed=True)
            return SendOutcome.FAILED
        except BridgeError as exc:
            # A backend whose missing copy proves nothing raises UnknownOutcomeError whenever the
            # message may have left, so any other error from it means it did not.
            did_not_leave = (
                not isinstance(exc, UnknownOutcomeError) and not self.mailbox.missing_copy_means_unsent()
            )
            if did_not_leave:
                self._release_own(item, message_id)  # back to Pending Send for a later poll
            if isinstance(exc, AuthError | OfflineError | ThrottledError):
                # The mailbox (or the CRM) cannot be reached or refuses us: stop the whole poll
                # here, before anything else is claimed.  An e-mail that may have left stays
                # "sending" in the journal and is settled from the mailbox once it answers again.
                log.warning("send of %s stopped: %s", item.activity_id, exc.message)
                raise
            if did_not_leave:
                log.info("send of %s did not leave, queued again: %s", item.activity_id, exc.message)
            else:
                # Unknown whether it left: keep the journal in "sending"; recovery decides.
                log.warning("send of %s interrupted: %s", item.activity_id, exc.message)
            return SendOutcome.PENDING
        self.store.outbox_put(item.activity_id, message_id=message_id, state=JournalState.SENT)
        self._finish(item.activity_id, message_id, item.subject)
        return SendOutcome.SENT

    def _submit(self, activity_id: str, outgoing: OutgoingMessage) -> None:
        if not self.mailbox.sends_drafts:
            self.mailbox.send(outgoing)
            return
        draft_id = self.mailbox.create_draft(outgoing)
        # From here on the message may leave: recovery needs evidence before sending anything.
        self.store.outbox_put(activity_id, message_id=outgoing.message_id, state=JournalState.SUBMITTING)
        self.mailbox.send_draft(draft_id)

    def _compose(self, item: PendingEmail, message_id: str) -> OutgoingMessage:
        subject = check_subject(item.subject)
        to = tuple(Address(check_address(a)) for a in item.to if a)
        cc = tuple(Address(check_address(a)) for a in item.cc if a)
        bcc = tuple(Address(check_address(a)) for a in item.bcc if a)
        if not (to or cc or bcc):
            raise MessageError("The e-mail has no recipient address.")
        return OutgoingMessage(
            message_id=message_id,
            subject=subject,
            to=to,
            cc=cc,
            bcc=bcc,
            text_body=html_to_text(item.description),
            html_body=item.description or None,
            stamp=item.activity_id,
        )

    def _finish(
        self, activity_id: str, message_id: str, subject: str, detail: str = "Sent from your mailbox"
    ) -> bool:
        copy_id = self._copy_message_id(activity_id)
        if copy_id is None and self.mailbox.sends_drafts:
            # The copy can reach Sent Items late; the Message-ID the CRM keeps should be the
            # one the server kept, so wait for it a while (the journal stays "sent").
            rec = self.store.outbox_get(activity_id)
            if rec is not None and self._now() - rec.updated_at < self.settings.copy_wait:
                return False
        copy_id = copy_id or message_id
        self.crm.mark_sent(activity_id, copy_id)
        # "done" and its audit row in one transaction: every sent e-mail has exactly one row.
        self.store.outbox_put(
            activity_id,
            message_id=copy_id,
            state=JournalState.DONE,
            audit=AuditNote(
                "sent", subject=subject, detail=detail, activity_id=activity_id, message_id=copy_id
            ),
        )
        return True

    def _release_own(self, item: PendingEmail, message_id: str) -> None:
        """Our claim, and the backend says nothing left: Sending -> Pending Send."""
        if self.crm.release(replace(item, etag="*")):
            self.store.outbox_put(item.activity_id, message_id=message_id, state=JournalState.RELEASED)

    def _fail(self, item: PendingEmail, reason: str, *, claimed: bool) -> None:
        attempts = item.attempts + 1
        # Unclaimed, the e-mail is only ours to fail while it is unchanged (If-Match).
        if not self.crm.mark_failed(item.activity_id, attempts, "*" if claimed else item.etag or "*"):
            return
        self.store.outbox_put(
            item.activity_id,
            message_id=item.message_id or "",
            state=JournalState.FAILED,
            subject=item.subject,
            recipients=", ".join(item.to),
            reason=reason,
            attempts=attempts,
            audit=AuditNote(
                "send_failed", ok=False, subject=item.subject, detail=reason, activity_id=item.activity_id
            ),
        )

    # -- recovery -------------------------------------------------------------------------

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
                or current.statuscode != r.STATUS_SENDING
                or current.message_id != rec.message_id
            ):
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
                outgoing = _with_attachments(
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

    def _copy_message_id(self, activity_id: str) -> str | None:
        if self._sent_folder is None:
            self._sent_folder = self.mailbox.folder(FolderKind.SENT)
        hits = self.mailbox.find_by_stamp(self._sent_folder.id, activity_id)
        if not hits:
            return None
        return hits[0].message_id or ""

    # -- the user's view ------------------------------------------------------------------

    def items(self) -> list[OutboxItem]:
        ctx = self.crm.context()
        rows = self.crm.outbox(ctx, (r.STATUS_PENDING_SEND, r.STATUS_SENDING, r.STATUS_FAILED), top=200)
        journal = {rec.activity_id: rec for rec in self.store.outbox_all()}
        waiting = self._evidence.waiting()
        out: list[OutboxItem] = []
        now = self._now()
        for row in rows:
            rec = journal.get(row.activity_id)
            if row.statuscode == r.STATUS_FAILED:
                state = OutboxState.FAILED
            elif row.statuscode == r.STATUS_SENDING:
                state = OutboxState.WAITING if row.activity_id in waiting else OutboxState.SENDING
            elif row.send_after and row.send_after > now:
                state = OutboxState.SCHEDULED
            else:
                state = OutboxState.QUEUED
            out.append(
                OutboxItem(
                    row.activity_id,
                    row.subject,
                    row.to,
                    state,
                    reason=_shown_reason(state, rec.reason if rec else ""),
                    updated=row.modified,
                    send_after=row.send_after,
                    attempts=row.attempts,
                )
            )
        return out

    def retry(self, activity_id: str) -> None:
        self.crm.requeue(activity_id)
        self.store.audit("send_retry", detail="Queued again by the user", activity_id=activity_id)
        self._on_change()


def _shown_reason(state: OutboxState, journal_reason: str) -> str:
    if state is OutboxState.WAITING:
        return WAITING_REASON
    return journal_reason if state is OutboxState.FAILED else ""


def make_message_id(activity_id: str, domain: str, machine: str = "") -> str:
    """A Message-ID that names the activity (for humans reading headers) and is unique per claim;
    ``machine`` (the claiming journal's token) ends the local part, so a journal knows its claims."""
    # Kept short (about 60 characters): a longer id can be folded or encoded by mail software
    # that keeps header lines under 78 characters, and a reply would no longer match it.
    # Unique per claim: the time in seconds plus 32 random bits, for one activity.
    local = f"{int(time.time())}.{secrets.token_hex(4)}.crm.{activity_id[:8]}"
    return f"<{local}.{machine}@{domain}>" if machine else f"<{local}@{domain}>"


def _with_attachments(message: OutgoingMessage, attachments: Sequence[Attachment]) -> OutgoingMessage:
    return replace(message, attachments=tuple(attachments))
