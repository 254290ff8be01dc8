"""Bulk tracking costs round trips, not messages (DESIGN §3).

Request counts only (never times; the machine is noisy): 1,000 messages of the benchmark's mix
(30% with an attachment, replies, unknown senders) tracked in at most 10 CRM requests, and a real
one-at-a-time add-in's requests on a sample of the same mix, where each message costs exactly its
own steps (look-up, one query per party, create, one upload per attachment, close). The wall-time
comparison on the full 1,000 really tracked one at a time is ``python -m tests.benchmarks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.bridge_types import TrackOutcome
from addin.demo import USER, DemoEnvironment, crm_rows, start_demo
from addin.mailbox.types import FetchFailure
from tests.benchmarks.bench_bulk import OneAtATimeAddin, compose

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
MESSAGES = 1000
SAMPLE = 30
LATENCY_MS = 20


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def _crm_requests(env: DemoEnvironment) -> int:
    return int(env.crm.stats.snapshot()["requests"])


def test_bulk_tracking_uses_a_handful_of_crm_requests(env: DemoEnvironment) -> None:
    senders = [r["emailaddress1"] for r in crm_rows(env.crm, "contacts?$select=emailaddress1")]
    senders = [s for s in senders if s]
    bulk_ids = env.mail.deliver_many(USER, compose(MESSAGES, senders, "b", seed=15))
    sample_ids = env.mail.deliver_many(USER, compose(SAMPLE, senders, "o", seed=16))
    ctx = env.bridge._crm.context()  # warm: who am I, mailbox, settings (once per 15 minutes)
    env.crm.faults.update({"latency_ms": LATENCY_MS})

    before = _crm_requests(env)
    results = env.bridge.track(bulk_ids)
    bulk_requests = _crm_requests(env) - before
    assert [r.outcome for r in results] == [TrackOutcome.TRACKED] * MESSAGES
    assert bulk_requests <= 10

    # The one-at-a-time add-in: every step of every message is a request of its own.
    expected = 0
    for message in env.bridge._mailbox.fetch(sample_ids, with_attachments=True):
        assert not isinstance(message, FetchFailure)
        parties = (1 if message.sender else 0) + len(message.to) + len(message.cc)
        expected += 1 + parties + 1 + len(message.attachments) + 1
    addin = OneAtATimeAddin(env.bridge._mailbox, env.bridge._crm.client, ctx.user_id)
    before = _crm_requests(env)
    assert all(addin.track(item_id) for item_id in sample_ids)
    sample_requests = _crm_requests(env) - before
    assert sample_requests == expected
    per_message = sample_requests / SAMPLE
    print(
        f"\n{MESSAGES} messages: {bulk_requests} CRM requests tracked in bulk; one at a time "
        f"{per_message:.2f} CRM requests per message ({per_message * MESSAGES / bulk_requests:.0f}x as many)"
    )
    assert per_message * MESSAGES / bulk_requests >= 100
