"""A mailbox or CRM outage in the middle of a queue of 20 puts at most one e-mail through recovery.

The bridge claims only the e-mail it is about to send and stops the poll at the first
"cannot reach": the rest of the queue stays Pending Send, untouched, until the server
answers again.  The outage is real: the bridge talks to the sandbox through a cable
(a loopback forwarder) that the test unplugs, so its unmodified clients see connection
refused and reset connections.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from addin.bridge import Bridge, MemorySecrets
from addin.crm.retry import RetryPolicy
from addin.demo import DEMO_PASSWORD, SANDBOX_TOKEN, DemoEnvironment, demo_profile, start_demo
from addin.engine.outbox import RECOVERED, RESENT, OutboxSettings
from addin.errors import OfflineError

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from cable import Cable
from flow_helpers import contact_addresses, crm_get, stamps

pytestmark = pytest.mark.integration

PENDING_SEND, SENDING, SENT = 6, 7, 3
QUEUE = 20
SENT_BEFORE_OUTAGE = 3


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path / "sandboxes")
    yield environment
    environment.close()


def _bridge(env: DemoEnvironment, tmp_path: Path, **changes: Any) -> Bridge:
    profile = demo_profile(env.crm, env.mail)
    profile.update(changes)
    bridge = Bridge(
        profile,
        secrets=MemorySecrets({"mailbox": DEMO_PASSWORD, "crm": SANDBOX_TOKEN}),
        data_dir=tmp_path / "bridge",
        # No grace: an e-mail left in recovery is settled on the first poll after the outage.
        outbox_settings=OutboxSettings(grace=timedelta(0)),
    )
    # The CRM client's retries still happen, with short waits, so the test stays fast.
    bridge._crm.context()
    assert bridge._crm.client is not None
    bridge._crm.client._policy = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
    return bridge


def _queue(env: DemoEnvironment) -> list[str]:
    contacts = contact_addresses(env)
    return [env.crm.queue_email(contacts[i % len(contacts)], f"Outage {i}", "<p>x</p>") for i in range(QUEUE)]


def _unplug_at(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, count: int, unplug: Callable[[], None], *, after: bool
) -> None:
    """The outage starts right after the ``count``-th e-mail has left the mailbox (``after``),
    or as the next one is about to leave."""
    mailbox = bridge._mailbox
    original = mailbox.send
    sent = 0
    unplugged = False

    def send(message: Any) -> None:
        nonlocal sent, unplugged
        if sent == count and not after and not unplugged:
            unplugged = True
            unplug()
        original(message)
        sent += 1
        if sent == count and after and not unplugged:
            unplugged = True
            unplug()

    monkeypatch.setattr(mailbox, "send", send)


def _states(env: DemoEnvironment, queued: list[str]) -> Counter[int]:
    return Counter(crm_get(env, f"emails({a})?$select=statuscode")["statuscode"] for a in queued)


def _settle(bridge: Bridge, env: DemoEnvironment, queued: list[str]) -> None:
    for _ in range(10):
        bridge._outbox_engine.poll()
        if _states(env, queued)[SENT] == QUEUE:
            return
    raise AssertionError(f"the queue did not settle: {_states(env, queued)}")


def _assert_each_sent_once_with_one_audit_row(bridge: Bridge, env: DemoEnvironment, queued: list[str]) -> int:
    copies = Counter(stamps(env))
    assert {a: copies[a] for a in queued} == dict.fromkeys(queued, 1)
    audit = bridge._store.recent_audit(1000)
    sent_rows = Counter(e.activity_id for e in audit if e.action == "sent")
    assert {a: sent_rows[a] for a in queued} == dict.fromkeys(queued, 1)
    return sum(1 for e in audit if e.detail in (RECOVERED, RESENT))


def test_mailbox_outage_claims_nothing_after_the_first_unreachable_send(
    env: DemoEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cable = Cable(env.mail.server.port)
    bridge = _bridge(env, tmp_path, **{"mailbox.server": cable.url(env.mail.ews_url, env.mail.server.port)})
    try:
        queued = _queue(env)
        _unplug_at(bridge, monkeypatch, SENT_BEFORE_OUTAGE, cable.unplug, after=False)

        with pytest.raises(OfflineError, match="Cannot reach the mail server"):
            bridge._outbox_engine.poll()
        # Three sent, the one being sent when the line went dead is claimed, the rest untouched.
        assert _states(env, queued) == Counter(
            {SENT: SENT_BEFORE_OUTAGE, SENDING: 1, PENDING_SEND: QUEUE - SENT_BEFORE_OUTAGE - 1}
        )
        assert len(bridge._store.outbox_in_states("sending", "sent")) == 1

        # Still down: the next poll stops before claiming anything.
        with pytest.raises(OfflineError):
            bridge._outbox_engine.poll()
        assert _states(env, queued)[PENDING_SEND] == QUEUE - SENT_BEFORE_OUTAGE - 1

        cable.plug()
        _settle(bridge, env, queued)
        assert _assert_each_sent_once_with_one_audit_row(bridge, env, queued) <= 1
    finally:
        bridge.stop()
        cable.unplug()


def test_crm_outage_after_a_send_leaves_one_email_for_recovery(
    env: DemoEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cable = Cable(env.crm.server.port)
    bridge = _bridge(env, tmp_path, **{"crm.url": cable.url(env.crm.origin, env.crm.server.port)})
    try:
        queued = _queue(env)
        _unplug_at(bridge, monkeypatch, SENT_BEFORE_OUTAGE, cable.unplug, after=True)

        with pytest.raises(OfflineError, match="Cannot reach the CRM"):
            bridge._outbox_engine.poll()
        # The third e-mail left but could not be marked Sent; nothing else was claimed.
        assert _states(env, queued) == Counter(
            {SENT: SENT_BEFORE_OUTAGE - 1, SENDING: 1, PENDING_SEND: QUEUE - SENT_BEFORE_OUTAGE}
        )
        assert [r.state for r in bridge._store.outbox_in_states("sending", "sent")] == ["sent"]

        with pytest.raises(OfflineError):
            bridge._outbox_engine.poll()
        assert _states(env, queued)[PENDING_SEND] == QUEUE - SENT_BEFORE_OUTAGE

        cable.plug()
        _settle(bridge, env, queued)
        assert _assert_each_sent_once_with_one_audit_row(bridge, env, queued) == 1
    finally:
        bridge.stop()
        cable.unplug()
