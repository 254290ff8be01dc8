"""A tracked group costs one journal transaction, not two per message.

The journal runs at synchronous=FULL, so every COMMIT waits for the disk; the statements the
journal's connection runs are counted through sqlite3's trace callback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_helpers import USER, mime

from addin.bridge_types import TrackOutcome
from addin.demo import DemoEnvironment, start_demo

pytestmark = pytest.mark.integration

MESSAGES = 40


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def test_a_tracked_group_is_one_journal_transaction(env: DemoEnvironment) -> None:
    ids = [env.mail.deliver(USER, mime("customer@fabrikam.example", f"Order {i}")) for i in range(MESSAGES)]
    env.bridge._crm.context()  # the user context is fetched and cached outside the count
    statements: list[str] = []
    env.bridge._store._db.set_trace_callback(statements.append)
    results = env.bridge.track(ids)
    env.bridge._store._db.set_trace_callback(None)

    assert [r.outcome for r in results] == [TrackOutcome.TRACKED] * MESSAGES
    assert env.bridge._store.count_links() == MESSAGES
    assert sum(1 for a in env.bridge._store.recent_audit() if a.action == "tracked") == MESSAGES
    # One for the group's links and audit rows; before, each of the 80 rows was a transaction.
    assert statements.count("COMMIT") == 1, statements.count("COMMIT")

    # Tracking the same messages again: all already tracked, their links rewritten in one go.
    statements.clear()
    env.bridge._store._db.set_trace_callback(statements.append)
    again = env.bridge.track(ids)
    env.bridge._store._db.set_trace_callback(None)
    assert {r.outcome for r in again} == {TrackOutcome.ALREADY_TRACKED}
    assert statements.count("COMMIT") == 1, statements.count("COMMIT")
