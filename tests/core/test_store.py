"""The journal keeps what must survive a crash, migrates forward, and refuses a newer schema."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from addin.store import MIGRATIONS, Store, StoreError, utcnow


def test_links_round_trip_and_lookup_by_item(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite3")
    store.add_link("<a@x>", "act-1", item_id="item-1", folder_id="f", subject="Hello", regarding="account:1")
    store.add_link("<b@x>", "act-2", item_id="item-2", folder_id="f", subject="Other")
    assert store.link_by_key("<a@x>").activity_id == "act-1"  # type: ignore[union-attr]
    assert store.link_by_item("item-2").subject == "Other"  # type: ignore[union-attr]
    assert set(store.links_by_items(["item-1", "item-2", "nope"])) == {"item-1", "item-2"}
    store.set_link_regarding("<b@x>", "contact:2", "Jane")
    assert store.link_by_key("<b@x>").regarding == "contact:2"  # type: ignore[union-attr]
    store.remove_link("<a@x>")
    assert store.link_by_key("<a@x>") is None
    assert store.count_links() == 1


def test_outbox_journal_keeps_subject_when_state_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite3")
    store.outbox_put("A", message_id="<m@x>", state="sending", subject="Quote", recipients="bob@x.example")
    store.outbox_put("A", message_id="<m@x>", state="sent")
    rec = store.outbox_get("A")
    assert rec is not None
    assert (rec.state, rec.subject, rec.recipients) == ("sent", "Quote", "bob@x.example")
    assert [r.activity_id for r in store.outbox_in_states("sent")] == ["A"]
    assert store.outbox_in_states("sending") == []


def test_track_queue_is_durable_and_deduplicated(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    store = Store(path)
    store.enqueue_track("item-1", regarding=None, reason="manual")
    store.enqueue_track("item-1", regarding="account:1", reason="manual")  # same item: one request
    store.enqueue_track("item-2", regarding=None, reason="category")
    store.close()
    reopened = Store(path)
    due = reopened.due_tracks()
    assert [q.item_id for q in due] == ["item-1", "item-2"]
    assert due[0].regarding == "account:1"
    reopened.defer_track(due[0].id, "CRM busy", utcnow() + timedelta(minutes=5))
    assert [q.item_id for q in reopened.due_tracks()] == ["item-2"]
    reopened.finish_track(due[1].id)
    assert [q.item_id for q in reopened.queued_tracks()] == ["item-1"]


def test_audit_is_filterable_pruned_and_announced(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite3")
    seen = []
    store.on_audit = seen.append
    store.audit("tracked", subject="Quote for Fabrikam", detail="regarding Fabrikam")
    store.audit("sent", subject="Hello", ok=True)
    assert [e.action for e in store.recent_audit()] == ["sent", "tracked"]
    assert [e.action for e in store.recent_audit(text="fabrikam")] == ["tracked"]
    assert [e.action for e in seen] == ["tracked", "sent"]
    assert store.prune_audit(now=utcnow() + timedelta(days=91)) == 2


def test_schema_version_and_backup_before_migration(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_committed_writes_survive_a_killed_process(tmp_path: Path) -> None:
    """A write that returned is on disk even if the process dies at once (kill -9)."""
    path = tmp_path / "j.sqlite3"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from addin.store import Store\n"
        f"s = Store(Path({str(path)!r}))\n"
        "s.outbox_put('A', message_id='<m@x>', state='sending', subject='S')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9
    rec = Store(path).outbox_get("A")
    assert rec is not None and rec.state == "sending"


def _count_commits(store: Store) -> list[str]:
    """Every statement the journal's connection runs; commits are the fsyncs that cost."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    return statements


def test_a_batch_writes_a_group_in_one_commit(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite3")
    announced: list[str] = []
    store.on_audit = lambda row: announced.append(row.subject)
    statements = _count_commits(store)
    with store.batch():
        for i in range(100):
            store.add_link(f"<m{i}@x>", f"act-{i}", item_id=f"item-{i}", folder_id="f", subject=f"S{i}")
            store.audit("tracked", subject=f"S{i}", item_id=f"item-{i}")
            with store.batch():  # a nested batch joins the outer one
                store.enqueue_track(f"q-{i}", regarding=None, reason="manual")
        # Nothing is announced before the rows are committed.
        assert announced == []
    assert statements.count("COMMIT") == 1
    assert len(announced) == 100 and store.count_links() == 100 and len(store.queued_tracks()) == 100
    statements.clear()
    store.add_link("<single@x>", "act-s", item_id=None, folder_id=None, subject="one")
    assert statements.count("COMMIT") == 1  # outside a batch every write is its own transaction


def test_a_failed_batch_leaves_nothing_and_a_failed_write_only_itself(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite3")
    announced: list[str] = []
    store.on_audit = lambda row: announced.append(row.subject)
    with pytest.raises(RuntimeError), store.batch():
        store.add_link("<a@x>", "act-1", item_id="i1", folder_id="f", subject="A")
        store.audit("tracked", subject="A")
        raise RuntimeError("crash in the middle of a group")
    assert store.count_links() == 0 and store.recent_audit() == [] and announced == []

    with store.batch():
        store.add_link("<b@x>", "act-2", item_id="i2", folder_id="f", subject="B")
        with pytest.raises(StoreError, match="UNIQUE"), store._tx() as db:
            db.execute("INSERT INTO kv VALUES ('k', '1')")
            db.execute("INSERT INTO kv VALUES ('k', '2')")  # the write fails as a whole...
        store.audit("tracked", subject="B")
    assert store.get("k") is None  # ...its first half is undone with it,
    assert store.count_links() == 1 and announced == ["B"]  # the rest of the batch stays


def test_the_outbox_intent_is_never_held_in_a_batch(tmp_path: Path) -> None:
    """``sending`` must be on disk before the send: a batch that could still roll back would
    let a crash forget a send that happened."""
    store = Store(tmp_path / "j.sqlite3")
    with pytest.raises(StoreError, match="on its own"), store.batch():
        store.outbox_put("A", message_id="<m@x>", state="sending")
    assert store.outbox_get("A") is None
    statements = _count_commits(store)
    store.outbox_put("A", message_id="<m@x>", state="sending")
    assert statements[-1] == "COMMIT" and store.outbox_get("A") is not None
