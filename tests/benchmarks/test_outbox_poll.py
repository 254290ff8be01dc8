"""The outbox poll is cheap when there is nothing to send, and quick when there is (DESIGN §3)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.demo import DemoEnvironment, start_demo
from tests.benchmarks.bench_stats import PERCENTILE_DEFINITION, percentile

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def test_an_idle_poll_costs_one_crm_request_and_no_mailbox_request(env: DemoEnvironment) -> None:
    outbox = env.bridge._outbox_engine
    outbox.poll()  # warm: who am I, mailbox settings
    crm_before = env.crm.stats.snapshot()["requests"]
    mail_before = env.mail.stats.snapshot()["requests"]
    for _ in range(10):
        outbox.poll()
    assert env.crm.stats.snapshot()["requests"] - crm_before == 10
    assert env.mail.stats.snapshot()["requests"] - mail_before == 0


def test_time_from_pending_send_to_sent_items_copy(env: DemoEnvironment) -> None:
    """Reported, not asserted: the send latency once a poll picks the e-mail up."""
    outbox = env.bridge._outbox_engine
    outbox.poll()
    env.crm.faults.update({"latency_ms": 20})
    env.mail.faults.update({"latency_ms": 20})
    latencies = []
    queued = []
    for i in range(10):
        queued.append(env.crm.queue_email("someone@fabrikam.example", f"Latency {i}", "<p>x</p>"))
        started = time.perf_counter()
        outbox.poll()
        latencies.append(time.perf_counter() - started)
    print(
        f"\noutbox send, 20 ms latency on both servers, {len(latencies)} polls: "
        f"p50 {percentile(latencies, 50):.3f} s, p95 {percentile(latencies, 95):.3f} s "
        f"({PERCENTILE_DEFINITION}; plus up to one poll interval of waiting)"
    )
    # Each measured poll really sent its e-mail.
    assert [env.crm.db.get("emails", a)["statuscode"] for a in queued] == [3] * 10  # type: ignore[index]
