"""The outbox protocol and its recovery on in-memory ports: every branch, no server.

The end-to-end versions (real sandboxes, SIGKILL) are in tests/faults; these pin down each
decision the outbox makes from the journal, the CRM and the mailbox's evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from addin.bridge_types import OutboxState
from addin.crm.codes import EmailStatus
from addin.crm.mail_methods import DeliveryMethod
from addin.engine.outbox import (
    CONFIRMED,
    DRAFT_SENT,
    RECOVERED,
    RESENT,
    STUCK,
    UNKNOWN,
    UNKNOWN_SENT,
    WAITING_REASON,
    OutboxSettings,
    make_message_id,
)
from addin.errors import MailboxError, OfflineError, UnknownOutcomeError
from addin.mailbox.memory import MemoryMailbox
from addin.mailbox.types import OutgoingMessage
from tests.core.engine.engine_kit import CUSTOMER, Crash, Tripwire, World

FAST = OutboxSettings(grace=timedelta(seconds=60), stale_claim=timedelta(minutes=10))


def audit_details(world: World, machine: str = "a") -> list[str]:
    store = world.store(machine)
    try:
        return [row.detail for row in store.recent_audit(100)]
    finally:
        store.close()


def test_a_pending_send_email_is_sent_once_and_marked_sent(world: World) -> None:
    aid = world.crm.queue_email(CUSTOMER, "Quote", "<p>Our price</p>")
    changes: list[int] = []
    store = world.store()
    report = world.outbox(store, on_change=lambda: changes.append(1)).poll()
    assert (report.sent, report.failed) == (1, 0) and changes == [1]
    assert world.copies(aid) == 1
    assert world.status(aid) == EmailStatus.SENT
    [copy] = world.mailbox().sent_copies(aid)
    assert world.crm.emails[aid].message_id == copy.message_id
    assert world.server.transmitted == [(world.mailbox().address, copy.message_id, aid)]
    rec = store.outbox_get(aid)
    assert rec is not None and rec.state == "done"
    # A second poll finds nothing to do.
    assert world.outbox(store).poll().sent == 0 and world.copies(aid) == 1


def test_nothing_is_sent_when_server_side_sync_owns_outgoing_mail(world: World) -> None:
    world.crm.user = replace(world.crm.user, outgoing_method=DeliveryMethod.SERVER_SIDE_SYNC)
    aid = world.crm.queue_email(CUSTOMER, "Not ours", "")
    report = world.outbox(world.store()).poll()
    assert report.requests_idle and report.sent == 0
    assert world.copies(aid) == 0 and world.status(aid) == EmailStatus.PENDING_SEND


def test_send_later_waits_for_its_time(world: World) -> None:
    aid = world.crm.queue_email(CUSTOMER, "Later", "", send_after=world.clock() + timedelta(hours=1))
    store = world.store()
    assert world.outbox(store).poll().sent == 0
    [item] = world.outbox(store).items()
    assert item.state is OutboxState.SCHEDULED
    world.clock.advance(hours=1, seconds=1)
    assert world.outbox(store).poll().sent == 1 and world.copies(aid) == 1


@pytest.mark.parametrize(
    ("to", "subject", "reason"),
    [("", "No recipient", "no recipient"), (CUSTOMER, "Bad\r\nBcc: x@evil.example", "")],
)
def test_a_message_that_cannot_be_composed_fails_with_its_reason(
    world: World, to: str, subject: str, reason: str
) -> None:
    aid = world.crm.queue_email(to, subject, "")
    store = world.store()
    assert world.outbox(store).poll().failed == 1
    assert world.status(aid) == EmailStatus.FAILED and world.copies(aid) == 0
    rec = store.outbox_get(aid)
    assert rec is not None and rec.state == "failed" and reason in rec.reason.lower()
    assert world.crm.emails[aid].attempts == 1
    [item] = world.outbox(store).items()
    assert item.state is OutboxState.FAILED and item.reason == rec.reason


def test_a_claim_lost_to_another_machine_sends_nothing(world: World) -> None:
    aid = world.crm.queue_email(CUSTOMER, "Contended", "")
    outbox = world.outbox(world.store())
    [row] = world.crm.outbox(world.crm.context(), (EmailStatus.PENDING_SEND,))
    assert world.crm.claim(row, make_message_id(aid, "contoso.example", "other"))  # machine B first
    assert outbox.send_one(row) == "skipped"  # our If-Match names the old version: 412
    assert world.copies(aid) == 0 and world.server.transmitted == []


def test_two_machines_polling_send_each_email_once(world: World) -> None:
    ids = [world.crm.queue_email(CUSTOMER, f"Batch {i}", "") for i in range(5)]
    a, b = world.outbox(world.store("a")), world.outbox(world.store("b"))
    # B reads the queue before A claims anything: every claim of B's then meets a new ETag.
    rows = world.crm.outbox(world.crm.context(), (EmailStatus.PENDING_SEND,))
    assert a.poll().sent == 5
    assert [b.send_one(row) for row in rows] == ["skipped"] * 5
    assert b.poll().sent == 0
    assert [world.copies(aid) for aid in ids] == [1] * 5
    assert len(world.server.transmitted) == 5


class FailingMailbox(MemoryMailbox):
    def __init__(self, *args: object, error: Exception, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.error = error

    def send(self, message: OutgoingMessage) -> None:
        raise self.error


def test_an_unreachable_mailbox_stops_the_poll_and_recovery_sends_later(world: World) -> None:
    first = world.crm.queue_email(CUSTOMER, "One", "")
    second = world.crm.queue_email(CUSTOMER, "Two", "")
    store = world.store()
    outbox = world.outbox(store, FAST)
    outbox.mailbox = FailingMailbox(world.server, "alex@contoso.example", error=OfflineError("down"))
    with pytest.raises(OfflineError):
        outbox.poll()
    # EWS: whether it left is settled from the mailbox, so the claim and the journal stay.
    assert world.status(first) == EmailStatus.SENDING
    assert world.status(second) == EmailStatus.PENDING_SEND  # never claimed
    rec = store.outbox_get(first)
    assert rec is not None and rec.state == "sending"
    world.clock.advance(seconds=61)
    report = world.outbox(store, FAST).poll()
    assert (report.settled, report.sent) == (1, 1)
    assert world.copies(first) == 1 and world.copies(second) == 1


def test_smtp_a_send_refused_before_data_gives_the_claim_back(world: World) -> None:
    world.style = "smtp"
    first = world.crm.queue_email(CUSTOMER, "One", "")
    second = world.crm.queue_email(CUSTOMER, "Two", "")
    store = world.store()
    outbox = world.outbox(store)
    outbox.mailbox = FailingMailbox(
        world.server, "alex@contoso.example", style="smtp", error=MailboxError("refused")
    )
    report = outbox.poll()
    assert report.sent == 0 and report.failed == 0
    assert world.status(first) == EmailStatus.PENDING_SEND  # released: it did not leave
    assert world.status(second) == EmailStatus.PENDING_SEND  # the poll stopped at the first
    rec = store.outbox_get(first)
    assert rec is not None and rec.state == "released"
    assert world.outbox(store).poll().sent == 2


def test_smtp_unknown_outcome_is_never_sent_again_but_failed_for_the_user(world: World) -> None:
    world.style = "smtp"
    aid = world.crm.queue_email(CUSTOMER, "Maybe", "")
    store = world.store()
    outbox = world.outbox(store, FAST)
    outbox.mailbox = FailingMailbox(
        world.server, "alex@contoso.example", style="smtp", error=UnknownOutcomeError("lost")
    )
    assert outbox.poll().sent == 0
    rec = store.outbox_get(aid)
    assert rec is not None and rec.state == "sending"  # unknown: recovery decides
    assert world.status(aid) == EmailStatus.SENDING
    world.clock.advance(seconds=61)
    assert world.outbox(store, FAST).poll().settled == 1
    assert world.status(aid) == EmailStatus.FAILED and world.copies(aid) == 0
    rec = store.outbox_get(aid)
    assert rec is not None and rec.reason == UNKNOWN_SENT


# -- recovery of our own journal ------------------------------------------------------------


def _crash(world: World, label: str, settings: OutboxSettings = FAST) -> str:
    """Queue one e-mail, then kill the process at ``label``; returns its activity id."""
    aid = world.crm.queue_email(CUSTOMER, "Crash", "")
    store = world.store()
    with pytest.raises(Crash):
        world.outbox(store, settings, wire=Tripwire(at_label=label)).poll()
    store.close()
    return aid


def _restart(world: World, settings: OutboxSettings = FAST) -> tuple[int, str]:
    store = world.store()
    try:
        report = world.outbox(store, settings).poll()
        rec = store.outbox_get(next(iter(world.crm.emails)))
        return report.settled, rec.state if rec else ""
    finally:
        store.close()


def test_sent_before_the_crash_is_confirmed_from_sent_items(world: World) -> None:
    aid = _crash(world, "mailbox.send:after")
    assert world.copies(aid) == 1 and world.status(aid) == EmailStatus.SENDING
    assert _restart(world) == (1, "done")
    assert world.copies(aid) == 1 and world.status(aid) == EmailStatus.SENT
    assert RECOVERED in audit_details(world)


def test_crash_after_journal_sent_finishes_the_mark(world: World) -> None:
    aid = _crash(world, "crm.mark_sent:before")
    assert _restart(world)[1] == "done"
    assert world.copies(aid) == 1 and world.status(aid) == EmailStatus.SENT


def test_not_sent_before_the_crash_is_sent_again_after_the_grace_period(world: World) -> None:
    aid = _crash(world, "mailbox.send:before")
    assert _restart(world) == (0, "sending")  # within the grace period: the copy may be late
    world.clock.advance(seconds=61)
    assert _restart(world) == (1, "done")
    assert world.copies(aid) == 1 and world.status(aid) == EmailStatus.SENT
    assert RESENT in audit_details(world)


def test_a_claim_taken_over_meanwhile_is_left_to_its_owner(world: World) -> None:
    aid = _crash(world, "mailbox.send:before")
    current = world.crm.current(aid)
    assert current is not None and world.crm.release(current)  # another machine gave it back
    world.clock.advance(seconds=61)
    store = world.store()
    world.outbox(store, FAST).recover()
    rec = store.outbox_get(aid)
    assert rec is not None and rec.state == "released"
    assert world.copies(aid) == 0


def test_graph_a_saved_draft_is_sent_itself_never_a_new_message(world: World) -> None:
    world.style = "graph"
    aid = _crash(world, "mailbox.create_draft:after")
    world.clock.advance(seconds=61)
    assert _restart(world) == (1, "done")
    assert world.copies(aid) == 1 and len(world.server.transmitted) == 1
    assert DRAFT_SENT in audit_details(world)


def test_graph_a_submitted_send_without_copy_waits_then_fails_unknown(world: World) -> None:
    world.style = "graph"
    aid = _crash(world, "mailbox.send_draft:before")
    # The draft was never submitted: evidence DRAFT, sent on recovery.  Lose the draft too
    # (the server took it but the answer and the copy are lost): only "submitting" is left.
    box = world.server.box("alex@contoso.example")
    box.items.clear()
    world.clock.advance(seconds=61)
    assert _restart(world) == (0, "submitting")
    world.clock.advance(hours=2)
    assert _restart(world) == (1, "failed")
    assert world.status(aid) == EmailStatus.FAILED and world.copies(aid) == 0
    assert world.server.transmitted == []
    store = world.store()
    rec = store.outbox_get(aid)
    assert rec is not None and rec.reason == UNKNOWN


def test_held_in_outbox_is_waited_for_shown_waiting_then_stuck(world: World) -> None:
    world.server.hold = True
    aid = _crash(world, "mailbox.send:after")  # EWS filed it in Outbox; the answer was lost
    world.clock.advance(seconds=61)
    store = world.store()
    outbox = world.outbox(store, FAST)
    assert outbox.poll().settled == 0
    [item] = outbox.items()
    assert item.state is OutboxState.WAITING and item.reason == WAITING_REASON
    world.clock.advance(hours=4)
    assert outbox.poll().settled == 1
    assert world.status(aid) == EmailStatus.FAILED
    rec = store.outbox_get(aid)
    assert rec is not None and rec.reason == STUCK
    # The transport comes back: the one message leaves; nothing was sent twice.
    world.server.release_held()
    assert world.copies(aid) == 1 and len(world.server.transmitted) == 1


def test_graph_waits_for_a_late_copy_to_keep_the_message_id_the_server_kept(world: World) -> None:
    world.style = "graph"
    world.server.hold = True  # the copy reaches Sent Items late
    aid = world.crm.queue_email(CUSTOMER, "Late copy", "")
    store = world.store()
    assert world.outbox(store).poll().sent == 1
    rec = store.outbox_get(aid)
    assert rec is not None and rec.state == "sent"  # sent, the CRM not marked yet
    assert world.status(aid) == EmailStatus.SENDING
    [item] = world.outbox(store).items()
    assert item.state is OutboxState.SENDING
    world.server.release_held()
    assert world.outbox(store).poll().settled == 1
    [copy] = world.mailbox().sent_copies(aid)
    assert world.status(aid) == EmailStatus.SENT and world.crm.emails[aid].message_id == copy.message_id


def test_graph_a_copy_that_never_comes_is_marked_sent_after_copy_wait(world: World) -> None:
    world.style = "graph"
    world.server.hold = True
    aid = world.crm.queue_email(CUSTOMER, "No copy", "")
    store = world.store()
    world.outbox(store).poll()
    assert world.outbox(store).poll().settled == 0  # still within copy_wait
    world.clock.advance(minutes=6)
    assert world.outbox(store).poll().settled == 1
    rec = store.outbox_get(aid)
    assert world.status(aid) == EmailStatus.SENT and rec is not None and rec.state == "done"
    assert world.crm.emails[aid].message_id == rec.message_id


# -- stale claims without a journal entry of ours ------------------------------------------------


def _foreign_claim(world: World, machine: str = "other") -> str:
    aid = world.crm.queue_email(CUSTOMER, "Foreign", "")
    [row] = [
        r for r in world.crm.outbox(world.crm.context(), (EmailStatus.PENDING_SEND,)) if r.activity_id == aid
    ]
    assert world.crm.claim(row, make_message_id(aid, "contoso.example", machine))
    return aid


def test_a_stale_foreign_claim_already_sent_is_confirmed(world: World) -> None:
    aid = _foreign_claim(world)
    message_id = world.crm.emails[aid].message_id or ""
    world.mailbox().send(OutgoingMessage(message_id, "Foreign", (), stamp=aid))  # the other machine sent it
    store = world.store()
    assert world.outbox(store, FAST).poll().settled == 1
    assert world.status(aid) == EmailStatus.SENT and world.copies(aid) == 1
    assert CONFIRMED in audit_details(world)


def test_a_stale_claim_with_no_trace_is_released_on_ews_and_then_sent(world: World) -> None:
    aid = _foreign_claim(world)
    store = world.store()
    assert world.outbox(store, FAST).poll().settled == 0  # not stale yet
    world.clock.advance(minutes=11)
    assert world.outbox(store, FAST).poll().settled == 1
    assert world.status(aid) == EmailStatus.PENDING_SEND
    assert world.outbox(store, FAST).poll().sent == 1 and world.copies(aid) == 1


def test_our_own_claim_lost_before_the_journal_is_released(world: World) -> None:
    world.style = "graph"  # absence is no evidence here: only the journal's token proves it
    aid = _crash(world, "store.outbox_put:before")
    assert world.status(aid) == EmailStatus.SENDING
    world.clock.advance(minutes=11)
    store = world.store()
    assert world.outbox(store, FAST).poll().settled == 1
    assert world.status(aid) == EmailStatus.PENDING_SEND
    assert world.outbox(store, FAST).poll().sent == 1 and world.copies(aid) == 1


def test_a_stale_foreign_claim_on_graph_is_held_then_failed_never_resent(world: World) -> None:
    world.style = "graph"
    aid = _foreign_claim(world)
    store = world.store()
    world.clock.advance(minutes=11)
    assert world.outbox(store, FAST).poll().settled == 0
    world.clock.advance(hours=4)
    assert world.outbox(store, FAST).poll().settled == 1
    assert world.status(aid) == EmailStatus.FAILED and world.server.transmitted == []
    rec = store.outbox_get(aid)
    assert rec is not None and rec.reason == UNKNOWN


def test_a_stale_foreign_claim_on_smtp_is_failed_for_the_user(world: World) -> None:
    world.style = "smtp"
    aid = _foreign_claim(world)
    world.clock.advance(minutes=11)
    store = world.store()
    assert world.outbox(store, FAST).poll().settled == 1
    assert world.status(aid) == EmailStatus.FAILED and world.server.transmitted == []
    rec = store.outbox_get(aid)
    assert rec is not None and rec.reason == UNKNOWN_SENT


def test_a_stale_foreign_claim_with_a_saved_draft_sends_that_draft(world: World) -> None:
    world.style = "graph"
    aid = _foreign_claim(world)
    message_id = world.crm.emails[aid].message_id or ""
    world.mailbox().create_draft(OutgoingMessage(message_id, "Foreign", (), stamp=aid))
    world.clock.advance(minutes=11)
    store = world.store()
    assert world.outbox(store, FAST).poll().settled == 1
    assert world.status(aid) == EmailStatus.SENT and world.copies(aid) == 1
    assert DRAFT_SENT in audit_details(world)


def test_retry_queues_a_failed_email_again(world: World) -> None:
    aid = world.crm.queue_email("", "No recipient", "")
    store = world.store()
    outbox = world.outbox(store)
    outbox.poll()
    assert world.status(aid) == EmailStatus.FAILED
    outbox.retry(aid)
    assert world.status(aid) == EmailStatus.PENDING_SEND
    [item] = outbox.items()
    assert item.state is OutboxState.QUEUED and item.attempts == 1


def test_a_kill_between_failed_in_the_crm_and_the_journal_still_shows_the_reason(world: World) -> None:
    world.style = "smtp"
    aid = world.crm.queue_email(CUSTOMER, "Maybe", "")
    store = world.store()
    outbox = world.outbox(store, FAST)
    outbox.mailbox = FailingMailbox(
        world.server, "alex@contoso.example", style="smtp", error=UnknownOutcomeError("lost")
    )
    outbox.poll()
    store.close()
    world.clock.advance(seconds=61)
    _crash_poll(world, "crm.mark_failed:after")
    store = world.store()
    outbox = world.outbox(store, FAST)
    outbox.poll()
    assert world.status(aid) == EmailStatus.FAILED
    [item] = outbox.items()
    assert item.state is OutboxState.FAILED and item.reason == UNKNOWN_SENT


def _crash_poll(world: World, label: str) -> None:
    store = world.store()
    try:
        with pytest.raises(Crash):
            world.outbox(store, FAST, wire=Tripwire(at_label=label)).poll()
    finally:
        store.close()
