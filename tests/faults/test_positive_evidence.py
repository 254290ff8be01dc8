"""Positive evidence before any resend: a message the mail server holds in Outbox is waited for,
and a stale claim with no trace is released only when its journal or the backend proves that it
never reached the mailbox (docs/ARCHITECTURE.md, "Positive evidence before any resend").

Against the sandboxes, with the sandbox Exchange's transport outage holding sent mail in Outbox."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from addin.bridge import Bridge
from addin.bridge_types import OutboxState
from addin.crm import records as r
from addin.demo import DemoEnvironment, demo_profile, demo_secrets, start_demo
from addin.engine.outbox import STUCK, UNKNOWN, WAITING_REASON, OutboxSettings, make_message_id

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from flow_helpers import contact_addresses, crm_get, stamps

pytestmark = pytest.mark.integration

BACKENDS = ("ews", "graph")
SEND_OPERATION = {"ews": "CreateItem", "graph": "graph:SendDraft"}
# Claims are stale at once, so one poll settles them; the long limit stays at its default.
SETTINGS = OutboxSettings(grace=timedelta(seconds=0), stale_claim=timedelta(seconds=0))


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path, outbox_settings=SETTINGS, backend=request.param)
    yield environment
    environment.close()


def _machine(env: DemoEnvironment, tmp_path: Path, name: str, settings: OutboxSettings = SETTINGS) -> Bridge:
    """Another machine of the same user: same mailbox and CRM, its own journal."""
    return Bridge(
        demo_profile(env.crm, env.mail, backend=env.backend),
        secrets=demo_secrets(env.backend),
        data_dir=tmp_path / name,
        outbox_settings=settings,
    )


def _recipient(env: DemoEnvironment) -> str:
    address = contact_addresses(env)[0]
    env.mail.add_mailbox(address, "recipient-pw")
    return address


def _status(env: DemoEnvironment, activity_id: str) -> int:
    return int(crm_get(env, f"emails({activity_id})?$select=statuscode")["statuscode"])


def _delivered(env: DemoEnvironment, recipient: str, subject: str) -> int:
    return sum(1 for i in env.mail.items(recipient, "inbox") if str(i["subject"]).startswith(subject))


def _sends(env: DemoEnvironment) -> int:
    return int(Counter(env.mail.stats.snapshot()["by_operation"])[SEND_OPERATION[env.backend]])


def _claim(env: DemoEnvironment, activity_id: str, machine: str) -> None:
    """Claim an e-mail as the machine whose journal token is ``machine`` would, then stop."""
    outbox = env.bridge._outbox_engine
    ctx = outbox.crm.context()
    [item] = [
        i for i in outbox.crm.outbox(ctx, (r.STATUS_PENDING_SEND,), top=50) if i.activity_id == activity_id
    ]
    assert outbox.crm.claim(item, make_message_id(activity_id, "crm-bridge.local", machine))


def _wait_until_drained(env: DemoEnvironment) -> None:
    deadline = time.monotonic() + 30  # only against a hang; nothing about speed is asserted
    while env.mail.app.transport.waiting():
        assert time.monotonic() < deadline, "the sandbox transport never drained"
        time.sleep(0.05)


def test_another_machines_claim_whose_message_waits_in_outbox_is_waited_for_then_settled(
    env: DemoEnvironment, tmp_path: Path
) -> None:
    recipient = _recipient(env)
    activity_id = env.crm.queue_email(recipient, "Held by the server", "<p>x</p>")
    laptop = _machine(env, tmp_path, "laptop")
    # The laptop sends while the transport is down, and its answer is lost: the message waits
    # in Outbox, the laptop's claim stays in Sending and the laptop goes away.
    env.mail.faults.update(
        {"transport_outage": True, "fail_next": [{"drop": "after"}], "match": SEND_OPERATION[env.backend]}
    )
    laptop._outbox_engine.poll()
    laptop.stop()
    assert _status(env, activity_id) == r.STATUS_SENDING
    sends = _sends(env)

    # This machine sees a stale claim of another machine, its message in Outbox: it waits.
    for _ in range(3):
        env.bridge._outbox_engine.poll()
    assert _status(env, activity_id) == r.STATUS_SENDING, "not released while the server holds it"
    assert _sends(env) == sends, "never a second send"
    [shown] = [i for i in env.bridge.outbox() if i.activity_id == activity_id]
    assert shown.state is OutboxState.WAITING and shown.reason == WAITING_REASON

    # The outage ends: the one copy is delivered and settles the claim.
    env.mail.faults.update({"transport_outage": False})
    _wait_until_drained(env)
    env.bridge._outbox_engine.poll()
    assert _status(env, activity_id) == r.STATUS_SENT
    assert _delivered(env, recipient, "Held by the server") == 1
    assert Counter(stamps(env))[activity_id] == 1
    assert all(i.activity_id != activity_id for i in env.bridge.outbox())


def test_a_stale_claim_with_no_trace_is_released_only_on_positive_evidence(
    env: DemoEnvironment, tmp_path: Path
) -> None:
    recipient = _recipient(env)
    activity_id = env.crm.queue_email(recipient, "No trace", "<p>x</p>")
    _claim(env, activity_id, "0ther0ne")  # another machine's claim; nothing ever reached the mailbox
    env.bridge._outbox_engine.poll()
    if env.backend == "ews":
        # Exchange keeps a submitted message in Outbox until its copy is in Sent Items, and the
        # bridge reads Outbox first: nothing in either proves it never reached the server.
        assert env.bridge._mailbox.absence_is_evidence
        env.bridge._outbox_engine.poll()  # released, then sent by this machine
        assert _status(env, activity_id) == r.STATUS_SENT
        assert _delivered(env, recipient, "No trace") == 1
        return
    # Graph does not vouch that "nowhere" means "never submitted": the claim is left alone ...
    assert not env.bridge._mailbox.absence_is_evidence
    env.bridge._outbox_engine.poll()
    assert _status(env, activity_id) == r.STATUS_SENDING
    assert _delivered(env, recipient, "No trace") == 0
    # ... and past the long limit it becomes Failed for the user to decide, never sent twice.
    strict = _machine(
        env, tmp_path, "desktop-later", OutboxSettings(stale_claim=timedelta(0), stuck_limit=timedelta(0))
    )
    try:
        strict._outbox_engine.poll()
        assert _status(env, activity_id) == r.STATUS_FAILED
        record = strict._store.outbox_get(activity_id)
        assert record is not None and record.reason == UNKNOWN
    finally:
        strict.stop()
    assert _delivered(env, recipient, "No trace") == 0


def test_our_own_claim_without_a_journal_entry_is_released_on_every_backend(env: DemoEnvironment) -> None:
    """A crash between the claim and the journal: the claim's Message-ID carries this journal's
    token and the journal never recorded a send, so nothing left."""
    recipient = _recipient(env)
    activity_id = env.crm.queue_email(recipient, "Crashed before the journal", "<p>x</p>")
    _claim(env, activity_id, env.bridge._outbox_engine._evidence.machine())
    env.bridge._outbox_engine.poll()  # released
    env.bridge._outbox_engine.poll()  # sent
    assert _status(env, activity_id) == r.STATUS_SENT
    assert _delivered(env, recipient, "Crashed before the journal") == 1


def test_our_send_held_in_outbox_past_the_long_limit_fails_and_is_never_sent_again(tmp_path: Path) -> None:
    env = start_demo(
        tmp_path,
        outbox_settings=OutboxSettings(
            grace=timedelta(0), stale_claim=timedelta(0), stuck_limit=timedelta(0)
        ),
    )
    try:
        recipient = _recipient(env)
        activity_id = env.crm.queue_email(recipient, "Stuck in Outbox", "<p>x</p>")
        env.mail.faults.update(
            {"transport_outage": True, "fail_next": [{"drop": "after"}], "match": "CreateItem"}
        )
        env.bridge._outbox_engine.poll()  # held in Outbox, answer lost: journal "sending"
        env.bridge._outbox_engine.poll()  # evidence: in Outbox, past the limit
        assert _sends(env) == 1
        assert _status(env, activity_id) == r.STATUS_FAILED
        record = env.bridge._store.outbox_get(activity_id)
        assert record is not None and record.state == "failed" and record.reason == STUCK
        # The server sends it in the end; the user sees it Failed and decides (no second copy).
        env.mail.faults.update({"transport_outage": False})
        _wait_until_drained(env)
        env.bridge._outbox_engine.poll()
        assert _sends(env) == 1 and _delivered(env, recipient, "Stuck in Outbox") == 1
    finally:
        env.close()
