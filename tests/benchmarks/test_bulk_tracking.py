"""Bulk tracking costs round trips, not messages (DESIGN §3).

Request counts are exact and asserted; wall times are measured in the same run and only
reported (shared machines are noisy), as the ratio to a one-message-at-a-time baseline.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_helpers_bench import deliver_many

from addin.bridge_types import TrackOutcome
from addin.demo import DemoEnvironment, start_demo

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
MESSAGES = 1000
BASELINE = 30  # the one-at-a-time baseline is measured on a sample and scaled
LATENCY_MS = 20


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def _crm_requests(env: DemoEnvironment) -> int:
    return int(env.crm.stats.snapshot()["requests"])


def test_bulk_tracking_uses_a_handful_of_crm_requests(env: DemoEnvironment) -> None:
    ids = deliver_many(env, MESSAGES + BASELINE)
    bulk_ids, sample_ids = ids[:MESSAGES], ids[MESSAGES:]
    env.bridge._crm.context()  # warm: who am I, mailbox, settings (once per 15 minutes)
    env.crm.faults.update({"latency_ms": LATENCY_MS})

    before, started = _crm_requests(env), time.perf_counter()
    results = env.bridge.track(bulk_ids)
    bulk_seconds, bulk_requests = time.perf_counter() - started, _crm_requests(env) - before
    assert all(r.outcome is TrackOutcome.TRACKED for r in results)

    before, started = _crm_requests(env), time.perf_counter()
    for item_id in sample_ids:
        [one] = env.bridge.track([item_id])
        assert one.outcome is TrackOutcome.TRACKED
    per_message_seconds = (time.perf_counter() - started) / BASELINE
    per_message_requests = (_crm_requests(env) - before) / BASELINE

    baseline_requests = per_message_requests * MESSAGES
    print(
        f"\n{MESSAGES} messages, {LATENCY_MS} ms CRM latency: bulk {bulk_requests} CRM requests in "
        f"{bulk_seconds:.2f} s; one at a time ~{baseline_requests:.0f} requests in "
        f"~{per_message_seconds * MESSAGES:.2f} s; request ratio {baseline_requests / bulk_requests:.0f}x, "
        f"time ratio {per_message_seconds * MESSAGES / bulk_seconds:.1f}x"
    )
    assert bulk_requests <= 10
    assert baseline_requests / bulk_requests >= 20
