"""The CRM outbox: Pending Send e-mails leave through the user's mailbox exactly once.

Protocol (DESIGN §2):
1. claim in the CRM: Pending Send -> Sending with ``If-Match`` and the Message-ID we
   will use; a 412 means another copy of the bridge took it;
2. write the intent to the journal (``sending``) *before* sending;
3. send with that Message-ID and the stamp (= activity id), copy to Sent Items;
4. journal ``sent``, then mark Sent in the CRM with the Message-ID read back from
   the Sent Items copy; journal ``done``.

Recovery after an interruption, and stale claims of other machines: see
:mod:`addin.engine.outbox_recovery`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from addin.bridge_types import OutboxItem, OutboxState
from addin.crm.codes import EmailStatus
from addin.crm.mail_methods import DeliveryMethod
from addin.crm.port import CrmPort, PendingEmail, UserContext
from addin.engine.headers import check_address, check_subject
from addin.engine.html_text import html_to_text
from addin.engine.outbox_evidence import ClaimEvidence
from addin.engine.outbox_recovery import (
    CONFIRMED,
    DRAFT_SENT,
    RECOVERED,
    RESENT,
    STUCK,
    UNKNOWN,
    UNKNOWN_SENT,
    WAITING_REASON,
    OutboxRecovery,
    with_attachments,
)
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
    Folder,
    FolderKind,
    OutgoingMessage,
)
from addin.states import JournalState, SendOutcome
from addin.store import AuditNote, Store, utcnow

log = logging.getLogger(__name__)

# The reasons recovery writes live with it; they are part of this module's interface too.
__all__ = [
    "CONFIRMED",
    "DRAFT_SENT",
    "RECOVERED",
    "RESENT",
    "STUCK",
    "UNKNOWN",
    "UNKNOWN_SENT",
    "WAITING_REASON",
    "Outbox",
    "OutboxSettings",
    "PollReport",
    "make_message_id",
]


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


class Outbox(OutboxRecovery):
    def __init__(
        self,
        mailbox: Mailbox,
        crm: CrmPort,
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
            ctx,
            (EmailStatus.PENDING_SEND, EmailStatus.SENDING),
            top=self.settings.page_size,
            due_by=self._now(),
        )
        sent = failed = skipped = 0
        for item in pending:
            if item.statuscode == EmailStatus.SENDING:
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
            outgoing = with_attachments(outgoing, attachments)
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
        # The reason is journalled before the CRM says Failed, so a kill between the two cannot
        # leave a Failed e-mail without its reason: an entry in flight keeps its state (recovery
        # finds the CRM's Failed and records it with this reason); any other becomes "released"
        # (not ours to settle) with the reason the Outbox view shows once the CRM says Failed.
        own = self.store.outbox_get(item.activity_id)
        in_flight = own is not None and own.state in JournalState.in_flight()
        self.store.outbox_put(
            item.activity_id,
            message_id=own.message_id if own is not None and in_flight else item.message_id or "",
            state=own.state if own is not None and in_flight else JournalState.RELEASED,
            subject=item.subject,
            recipients=", ".join(item.to),
            reason=reason,
        )
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
        rows = self.crm.outbox(
            ctx, (EmailStatus.PENDING_SEND, EmailStatus.SENDING, EmailStatus.FAILED), top=200
        )
        journal = {rec.activity_id: rec for rec in self.store.outbox_all()}
        waiting = self._evidence.waiting()
        out: list[OutboxItem] = []
        now = self._now()
        for row in rows:
            rec = journal.get(row.activity_id)
            if row.statuscode == EmailStatus.FAILED:
                state = OutboxState.FAILED
            elif row.statuscode == EmailStatus.SENDING:
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
