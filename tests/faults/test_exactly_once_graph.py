"""Exactly once with Graph's own ambiguity: a draft created but not sent, a send whose 202
was lost, a Sent Items copy that arrives late.  Against the sandbox Exchange's Graph endpoints."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from addin.demo import DEMO_PASSWORD, USER, DemoEnvironment, start_demo
from addin.engine.outbox import DRAFT_SENT, STUCK, UNKNOWN, OutboxSettings
from addin.mailbox.registry import open_mailbox
from addin.mailbox.types import FolderKind, MailboxSettings, SendState

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from flow_helpers import contact_addresses, crm_get, stamps

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(
        tmp_path, outbox_settings=OutboxSettings(grace=timedelta(seconds=0)), backend="graph"
    )
    yield environment
    environment.close()


def _status(env: DemoEnvironment, activity_id: str) -> int:
    return int(crm_get(env, f"emails({activity_id})?$select=statuscode")["statuscode"])


def _operations(env: DemoEnvironment) -> Counter[str]:
    return Counter(env.mail.stats.snapshot()["by_operation"])


def _recipient(env: DemoEnvironment, n: int) -> str:
    """A CRM contact whose mailbox lives on the sandbox Exchange, so deliveries can be counted."""
    address = contact_addresses(env)[n]
    env.mail.add_mailbox(address, "recipient-pw")
    return address


def _delivered(env: DemoEnvironment, recipient: str, subject: str) -> int:
    try:
        # The CRM appends its tracking token to the subject ("... CRM:0001001").
        return sum(1 for i in env.mail.items(recipient, "inbox") if str(i["subject"]).startswith(subject))
    except KeyError:
        return 0


def test_a_draft_whose_send_never_left_is_sent_itself_not_recomposed(env: DemoEnvironment) -> None:
    recipient = _recipient(env, 0)
    activity_id = env.crm.queue_email(recipient, "Draft left behind", "<p>x</p>")
    # The draft is saved; the connection drops before the send request reaches the server.
    env.mail.faults.update({"fail_next": [{"drop": "before"}], "match": "graph:SendDraft"})
    env.bridge._outbox_engine.poll()
    env.mail.faults.clear()
    assert _status(env, activity_id) != 3
    evidence = env.bridge._mailbox.send_evidence(activity_id)
    assert evidence.state is SendState.DRAFT, "the stamped, unsent draft is the evidence"
    drafts_made = _operations(env)["graph:CreateMessage"]

    env.bridge._outbox_engine.poll()  # recovery sends that very draft

    assert _operations(env)["graph:CreateMessage"] == drafts_made, "no second message was composed"
    assert Counter(stamps(env))[activity_id] == 1
    assert Counter(stamps(env, "drafts"))[activity_id] == 0
    assert _status(env, activity_id) == 3
    assert _delivered(env, recipient, "Draft left behind") == 1
    details = [e.detail for e in env.bridge._store.recent_audit(20) if e.activity_id == activity_id]
    assert DRAFT_SENT in details


def test_a_lost_202_is_settled_from_sent_items_without_a_second_send(env: DemoEnvironment) -> None:
    recipient = _recipient(env, 1)
    activity_id = env.crm.queue_email(recipient, "Answer lost", "<p>x</p>")
    env.mail.faults.update({"fail_next": [{"drop": "after"}], "match": "graph:SendDraft"})
    env.bridge._outbox_engine.poll()  # sent, but the 202 never arrives
    env.mail.faults.clear()
    env.bridge._outbox_engine.poll()
    assert _operations(env)["graph:SendDraft"] == 1
    assert Counter(stamps(env))[activity_id] == 1
    assert _status(env, activity_id) == 3
    assert _delivered(env, recipient, "Answer lost") == 1


def test_a_late_sent_copy_is_waited_for_never_resent(env: DemoEnvironment) -> None:
    recipient = _recipient(env, 2)
    # The sandbox's late-copy knob: after the 202 the message waits in Outbox for 3 s, then
    # reaches Sent Items and the recipient.
    env.mail.faults.update({"sent_copy_delay_seconds": 3.0})
    activity_id = env.crm.queue_email(recipient, "Copy arrives late", "<p>x</p>")
    env.mail.faults.update({"fail_next": [{"drop": "after"}], "match": "graph:SendDraft"})
    env.bridge._outbox_engine.poll()  # accepted; the answer is lost and no copy exists yet
    assert env.bridge._mailbox.send_evidence(activity_id).state is SendState.SUBMITTED
    for _ in range(5):  # recovery polls while the copy is on its way: it must only wait
        env.bridge._outbox_engine.poll()
        assert env.bridge._mailbox.send_evidence(activity_id).state in (
            SendState.SUBMITTED,
            SendState.NONE,
            SendState.SENT,
        )
    assert _operations(env)["graph:SendDraft"] == 1
    assert _operations(env)["graph:CreateMessage"] == 1
    deadline = time.monotonic() + 30
    while _status(env, activity_id) != 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        env.bridge._outbox_engine.poll()
    assert _status(env, activity_id) == 3
    assert Counter(stamps(env))[activity_id] == 1
    assert _delivered(env, recipient, "Copy arrives late") == 1
    assert _operations(env)["graph:SendDraft"] == 1


def test_a_send_that_never_shows_a_copy_fails_as_unknown_after_the_limit(tmp_path: Path) -> None:
    env = start_demo(
        tmp_path,
        outbox_settings=OutboxSettings(
            grace=timedelta(seconds=0), unknown_limit=timedelta(seconds=0), stuck_limit=timedelta(seconds=0)
        ),
        backend="graph",
    )
    try:
        env.mail.faults.update({"sent_copy_delay_seconds": 3600.0})  # the server holds it (an outage)
        activity_id = env.crm.queue_email(contact_addresses(env)[0], "Never copied", "<p>x</p>")
        env.mail.faults.update({"fail_next": [{"drop": "after"}], "match": "graph:SendDraft"})
        env.bridge._outbox_engine.poll()
        env.bridge._outbox_engine.poll()
        assert _operations(env)["graph:SendDraft"] == 1, "never a second send"
        assert _status(env, activity_id) != 3
        record = env.bridge._store.outbox_get(activity_id)
        assert record is not None and record.state == "failed"
        assert record.reason == STUCK, "the stamped item waits in Outbox: the reason says so"
        assert Counter(stamps(env))[activity_id] == 0
    finally:
        env.close()


def test_a_send_with_no_trace_after_submitting_fails_as_unknown(tmp_path: Path) -> None:
    """Submitted (journal), yet no stamped item anywhere: never a second send, Failed past the limit."""
    env = start_demo(
        tmp_path,
        outbox_settings=OutboxSettings(
            grace=timedelta(seconds=0), unknown_limit=timedelta(seconds=0), stuck_limit=timedelta(seconds=0)
        ),
        backend="graph",
    )
    try:
        activity_id = env.crm.queue_email(contact_addresses(env)[0], "Vanished", "<p>x</p>")
        env.mail.faults.update({"sent_copy_delay_seconds": 3600.0})
        env.mail.faults.update({"fail_next": [{"drop": "after"}], "match": "graph:SendDraft"})
        env.bridge._outbox_engine.poll()
        # The item the server holds disappears from every folder the bridge can see.
        held = env.mail.items(USER, "outbox")
        assert len(held) == 1
        graph = env.bridge._mailbox
        graph_client = graph._client  # type: ignore[attr-defined]
        graph_client.request("DELETE", f"/me/messages/{held[0]['id']}")
        env.bridge._outbox_engine.poll()
        assert _operations(env)["graph:SendDraft"] == 1 and _operations(env)["graph:CreateMessage"] == 1
        record = env.bridge._store.outbox_get(activity_id)
        assert record is not None and record.state == "failed" and record.reason == UNKNOWN
    finally:
        env.close()


def test_sent_through_graph_is_found_through_ews(env: DemoEnvironment) -> None:
    activity_id = env.crm.queue_email(contact_addresses(env)[0], "Both ways", "<p>x</p>")
    env.bridge._outbox_engine.poll()
    assert _status(env, activity_id) == 3
    outlook = open_mailbox(
        MailboxSettings(backend="ews", email=USER, server=env.mail.ews_url, timeout=10.0),
        lambda: DEMO_PASSWORD,
    )
    try:
        [copy] = outlook.find_by_stamp(outlook.folder(FolderKind.SENT).id, activity_id)
        stored = crm_get(env, f"emails({activity_id})?$select=messageid")["messageid"]
        assert copy.message_id == stored and copy.stamp == activity_id
    finally:
        outlook.close()


def test_two_machines_with_late_copies_send_each_email_once(env: DemoEnvironment, tmp_path: Path) -> None:
    """Both machines poll while every Sent copy is 1.5 s late (longer than the grace period)."""
    from addin.bridge import Bridge
    from addin.demo import demo_profile, demo_secrets

    env.mail.faults.update({"sent_copy_delay_seconds": 1.5})
    recipients = [_recipient(env, n) for n in range(3)]
    queued = [env.crm.queue_email(recipients[i % 3], f"Late twice {i}", "<p>x</p>") for i in range(6)]
    laptop = Bridge(
        demo_profile(env.crm, env.mail, backend="graph"),
        secrets=demo_secrets("graph"),
        data_dir=tmp_path / "laptop",
        outbox_settings=OutboxSettings(grace=timedelta(seconds=0)),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_status(env, a) != 3 for a in queued):
            env.bridge._outbox_engine.poll()
            laptop._outbox_engine.poll()
            time.sleep(0.2)
    finally:
        laptop.stop()
    assert [_status(env, a) for a in queued] == [3] * 6
    copies = Counter(stamps(env))
    assert all(copies[a] == 1 for a in queued), copies
    assert _operations(env)["graph:SendDraft"] == 6 and _operations(env)["graph:CreateMessage"] == 6
    for i in range(6):
        assert _delivered(env, recipients[i % 3], f"Late twice {i}") == 1
