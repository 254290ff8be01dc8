"""A track request waiting out a long back-off goes as soon as the CRM answers again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from addin.bridge_types import TrackOutcome
from addin.crm.retry import RetryPolicy
from addin.demo import DemoEnvironment, start_demo
from addin.mailbox.types import FolderKind
from addin.store import utcnow

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def test_back_off_is_reset_when_the_crm_answers_again(env: DemoEnvironment) -> None:
    bridge = env.bridge
    bridge._crm.context()
    assert bridge._crm.client is not None
    # The client's own retries still happen, with short waits, so the test stays fast.
    bridge._crm.client._policy = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
    inbox = bridge._mailbox.folder(FolderKind.INBOX)
    message = bridge.messages(inbox.id, limit=5).items[2]
    env.crm.faults.update({"fail_next": [{"status": 503}] * 30})
    [queued] = bridge.track([message.id])
    assert queued.outcome is TrackOutcome.QUEUED
    # A long outage: the request has failed many times and now waits half an hour.
    [request] = bridge._store.queued_tracks()
    for _ in range(8):
        bridge._store.defer_track(request.id, "Cannot reach the CRM", utcnow() + timedelta(minutes=30))
    assert bridge._store.due_tracks() == []

    # Still down: the probe fails, nothing is retried early.
    assert bridge._tracker.drain_queue() == []
    assert bridge._store.deferred_tracks() == 1

    env.crm.faults.clear()
    [result] = bridge._tracker.drain_queue()
    assert result.outcome is TrackOutcome.TRACKED
    assert bridge._store.queued_tracks() == []
