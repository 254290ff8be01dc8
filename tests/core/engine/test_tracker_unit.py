"""Track in CRM on in-memory ports: exactly once, parties, Regarding, correlation, the durable queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from addin.bridge_types import RecordRef, TrackOutcome
from addin.crm.codes import EmailStatus, PartyRole
from addin.crm.memory import MemoryCrm
from addin.crm.port import Resolved, Tracked
from addin.engine.tracker import Tracker, TrackSettings
from addin.errors import OfflineError
from addin.mailbox.memory import MemoryMailbox
from addin.mailbox.types import Address, Attachment, Message, Sensitivity
from addin.mime import EMPTY_REASON
from addin.store import Store
from tests.core.engine.engine_kit import CUSTOMER, USER, World


def incoming(subject: str = "Question", **kw: object) -> Message:
    values: dict[str, object] = {
        "id": "",
        "folder_id": "inbox",
        "message_id": f"<{abs(hash(subject))}.{subject.replace(' ', '')}@fabrikam.example>",
        "subject": subject,
        "sender": Address(CUSTOMER, "Carol Customer"),
        "to": (Address(USER),),
        "text_body": "Hello",
        "received": datetime(2026, 2, 3, 10, 0, tzinfo=UTC),
        "sensitivity": Sensitivity.NORMAL,
    }
    values.update(kw)
    return Message(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(world: World) -> Store:
    return world.store()


@pytest.fixture
def mailbox(world: World) -> MemoryMailbox:
    return world.mailbox()


def tracker(world: World, mailbox: MemoryMailbox | None, store: Store) -> Tracker:
    return Tracker(mailbox, world.crm, store, TrackSettings(user_email=USER))


def test_a_message_becomes_one_received_email_with_resolved_parties_and_marks(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    item = mailbox.deliver(incoming(attachments=(Attachment("q.pdf", "application/pdf", b"%PDF"),)))
    [result] = tracker(world, mailbox, store).track_items([item])
    assert result.outcome is TrackOutcome.TRACKED and result.activity_id
    email = world.crm.emails[result.activity_id]
    assert world.crm.status(result.activity_id)[1] == EmailStatus.RECEIVED and not email.outgoing
    sender = next(p for p in email.parties if p.mask == PartyRole.SENDER)
    assert sender.record is not None and sender.record.table == "contact"
    to = next(p for p in email.parties if p.mask == PartyRole.TO)
    assert to.record is not None and to.record.table == "systemuser"
    assert [a.name for a in email.attachments] == ["q.pdf"]
    [marked] = mailbox.fetch([item])
    assert isinstance(marked, Message)
    assert marked.stamp == result.activity_id and "Tracked in CRM" in marked.categories
    link = store.link_by_item(item)
    assert link is not None and link.activity_id == result.activity_id


def test_tracking_again_anywhere_finds_the_same_record(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    item = mailbox.deliver(incoming())
    [first] = tracker(world, mailbox, store).track_items([item])
    # The same message from another machine's journal (a copy in another folder, same Message-ID).
    other = world.store("b")
    copy = mailbox.deliver(incoming())
    [again] = tracker(world, mailbox, other).track_items([copy])
    assert again.outcome is TrackOutcome.ALREADY_TRACKED and again.activity_id == first.activity_id
    assert len(world.crm.emails) == 1


def test_a_record_created_meanwhile_is_already_tracked_not_a_failure(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    class RacingCrm(MemoryCrm):
        """Another machine creates the record between our look-up and our create."""

        raced = False

        def lookup(self, *args: object, **kwargs: object) -> tuple[Tracked, Resolved]:
            answer = super().lookup(*args, **kwargs)  # type: ignore[arg-type]
            if not self.raced:
                self.raced = True
                race = Tracker(None, self, world.store("b"), TrackSettings(user_email=USER))
                race.track_messages([incoming()])
            return answer

    crm = RacingCrm()
    item = mailbox.deliver(incoming())
    [result] = Tracker(mailbox, crm, store, TrackSettings(user_email=USER)).track_items([item])
    assert result.outcome is TrackOutcome.ALREADY_TRACKED
    assert len(crm.emails) == 1


def test_regarding_is_set_and_changed_on_an_already_tracked_message(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    deal = world.crm.add_record("opportunity", "Big deal")
    other = world.crm.add_record("account", "Fabrikam")
    item = mailbox.deliver(incoming())
    [first] = tracker(world, mailbox, store).track_items([item], deal)
    assert world.crm.emails[first.activity_id or ""].regarding == deal
    [again] = tracker(world, mailbox, store).track_items([item], other)
    assert again.outcome is TrackOutcome.ALREADY_TRACKED
    assert world.crm.emails[first.activity_id or ""].regarding == other
    assert world.crm.status(first.activity_id or "")[1] == EmailStatus.RECEIVED


def test_a_reply_inherits_regarding_from_the_thread_and_the_token(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    deal = world.crm.add_record("opportunity", "Renewal")
    first = incoming("Renewal")
    [tracked] = tracker(world, mailbox, store).track_items([mailbox.deliver(first)], deal)
    reply = incoming("Re: Renewal", in_reply_to=first.message_id)
    [by_thread] = tracker(world, mailbox, store).track_items([mailbox.deliver(reply)])
    assert world.crm.emails[by_thread.activity_id or ""].regarding == deal
    # A CRM e-mail's tracking token in the subject correlates too.
    queued = world.crm.queue_email(CUSTOMER, "Offer", regarding=deal)
    token = world.crm.emails[queued].tracking_token
    answer = incoming(f"Re: Offer {token}")
    [by_token] = tracker(world, mailbox, store).track_items([mailbox.deliver(answer)])
    assert world.crm.emails[by_token.activity_id or ""].regarding == deal
    assert tracked.activity_id != by_thread.activity_id != by_token.activity_id


def test_blocked_and_oversized_attachments_are_left_out_with_a_warning(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    big = b"x" * (world.crm.user.max_upload_bytes + 1)
    files = (
        Attachment("run.exe", "application/octet-stream", b"MZ"),
        Attachment("big.bin", "application/octet-stream", big),
        Attachment("ok.txt", "text/plain", b"ok"),
    )
    [result] = tracker(world, mailbox, store).track_items([mailbox.deliver(incoming(attachments=files))])
    assert result.outcome is TrackOutcome.TRACKED
    assert [a.name for a in world.crm.emails[result.activity_id or ""].attachments] == ["ok.txt"]
    assert any("run.exe" in w for w in result.warnings) and any("big.bin" in w for w in result.warnings)


def test_a_crm_outage_queues_durably_and_the_queue_drains_when_it_answers(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    item = mailbox.deliver(incoming())
    world.crm.outage = OfflineError("The CRM cannot be reached.")
    [queued] = tracker(world, mailbox, store).track_items([item])
    assert queued.outcome is TrackOutcome.QUEUED and world.crm.emails == {}
    # Still down: the request stays queued (with a back-off), nothing is created.
    assert [r.outcome for r in tracker(world, mailbox, store).drain_queue()] == [TrackOutcome.QUEUED]
    assert world.crm.emails == {}
    world.crm.outage = None
    world.clock.advance(minutes=1)
    [done] = tracker(world, mailbox, store).drain_queue()
    assert done.outcome is TrackOutcome.TRACKED and len(world.crm.emails) == 1
    assert tracker(world, mailbox, store).drain_queue() == []


def test_unreadable_and_empty_messages_fail_one_by_one(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    good = mailbox.deliver(incoming())
    empty = mailbox.deliver(
        Message("", "inbox", None, "", None, text_body="", received=datetime(2026, 1, 1, tzinfo=UTC))
    )
    results = tracker(world, mailbox, store).track_items([good, "gone-id", empty])
    assert [r.outcome for r in results] == [TrackOutcome.FAILED, TrackOutcome.TRACKED, TrackOutcome.FAILED]
    assert results[2].message == EMPTY_REASON
    assert len(world.crm.emails) == 1


def test_an_outgoing_message_is_sent_and_an_unknown_address_stays_unresolved(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    mine = incoming(
        "Proposal",
        sender=Address(USER),
        to=(Address("nobody@unknown.example"),),
        sent=datetime(2026, 2, 1, tzinfo=UTC),
    )
    [result] = tracker(world, mailbox, store).track_items([mailbox.deliver(mine, "sentitems")])
    assert world.crm.status(result.activity_id or "")[1] == EmailStatus.SENT
    to = next(p for p in world.crm.emails[result.activity_id or ""].parties if p.mask == PartyRole.TO)
    assert to.record is None and to.address == "nobody@unknown.example"
    assert any("matches no CRM record" in w for w in result.warnings)


def test_dropped_files_track_without_a_mailbox(world: World, store: Store) -> None:
    [result] = Tracker(None, world.crm, store, TrackSettings(user_email=USER)).track_messages(
        [incoming("Dropped")], RecordRef("account", world.crm.add_record("account", "Dropco").id)
    )
    assert result.outcome is TrackOutcome.TRACKED
    assert world.crm.emails[result.activity_id or ""].regarding is not None
