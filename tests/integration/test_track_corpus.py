"""The real-world MIME corpus, tracked in one go: no crash, per-item results, nothing tracked twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_helpers import USER, crm_get

from addin.bridge_types import TrackOutcome
from addin.demo import DemoEnvironment, start_demo

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).resolve().parents[1] / "data" / "mime-corpus" / "cpython"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def test_the_whole_corpus_is_tracked_with_per_item_results(env: DemoEnvironment) -> None:
    files = sorted(CORPUS.glob("msg_*.txt"))
    assert len(files) >= 20
    ids = [env.mail.deliver(USER, f.read_bytes()) for f in files]
    ids.append(env.mail.deliver(USER, b"\x00\xff not mail at all \r\n\r\n\x01"))
    results = env.bridge.track(ids)
    assert sorted(r.item_id for r in results) == sorted(ids), "every item gets its own result"
    outcomes = Counter(r.outcome for r in results)
    assert outcomes[TrackOutcome.TRACKED] >= len(files) - 6, outcomes
    for r in results:
        if r.outcome is TrackOutcome.FAILED:
            assert r.message, "a failure says why"
        else:
            assert r.outcome in (TrackOutcome.TRACKED, TrackOutcome.ALREADY_TRACKED), r
    # The corpus repeats some Message-IDs: those messages share one activity, never two.
    rows = crm_get(env, "emails?$select=activityid,messageid")["value"]
    by_mid = Counter(r["messageid"] for r in rows if r.get("messageid"))
    assert all(n == 1 for n in by_mid.values())
    tracked_again = env.bridge.track(ids)
    assert not any(r.outcome is TrackOutcome.TRACKED for r in tracked_again)
