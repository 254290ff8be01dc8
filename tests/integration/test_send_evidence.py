"""``Mailbox.send_evidence``: where a stamped outgoing message is, on every backend.

Recovery of the outbox resends only on this evidence (docs/ARCHITECTURE.md, the outbox)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.mailbox.port import Mailbox
from addin.mailbox.types import Address, OutgoingMessage, SendState

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
from mailbox_harness import BACKENDS, Harness

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    with BACKENDS[request.param]() as h:
        yield h


@pytest.fixture
def mailbox(harness: Harness) -> Mailbox:
    return harness.open()


def test_nothing_stamped_is_no_evidence(mailbox: Mailbox) -> None:
    assert mailbox.send_evidence(str(uuid.uuid4())).state is SendState.NONE


def test_a_stamped_item_in_outbox_means_submitted_and_in_sent_items_means_sent(
    harness: Harness, mailbox: Mailbox
) -> None:
    stamp = str(uuid.uuid4())
    # IMAP has no Outbox folder: a submitted message is the SMTP server's until it is filed, and
    # that backend's rule (a missing copy proves nothing) is tested in test_imap_exactly_once.
    if harness.backend != "imap":
        waiting = harness.deliver(harness.address, b"Subject: waiting\r\n\r\nin the outbox\r\n", "outbox")
        mailbox.set_stamp(waiting, stamp)
        evidence = mailbox.send_evidence(stamp)
        assert evidence.state is SendState.SUBMITTED and evidence.item_id == waiting

    sent = harness.deliver(harness.address, b"Subject: sent\r\n\r\nin sent items\r\n", "sentitems")
    mailbox.set_stamp(sent, stamp)
    assert mailbox.send_evidence(stamp).state is SendState.SENT  # the most conclusive place wins


def test_a_stamped_draft_is_evidence_only_where_the_backend_sends_drafts(
    harness: Harness, mailbox: Mailbox
) -> None:
    stamp = str(uuid.uuid4())
    message = OutgoingMessage(
        message_id=f"<{uuid.uuid4().hex}@crm.contoso.example>",
        subject="Draft",
        to=(Address(harness.peer),),
        text_body="x",
        stamp=stamp,
    )
    if not mailbox.sends_drafts:
        with pytest.raises(NotImplementedError):
            mailbox.create_draft(message)
        return
    draft_id = mailbox.create_draft(message)
    evidence = mailbox.send_evidence(stamp)
    assert evidence.state is SendState.DRAFT and evidence.item_id == draft_id
    mailbox.send_draft(draft_id)
    mailbox.send_draft(draft_id)  # a second send of the same draft is a no-op, never a second message
    after = mailbox.send_evidence(stamp)
    assert after.state is SendState.SENT and after.count == 1
    assert after.message_id == message.message_id
