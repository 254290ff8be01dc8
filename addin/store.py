"""The local journal: one SQLite database per profile (WAL, synchronous=FULL).

It keeps what must survive a crash or a restart, apart from config (settings) and
secrets (keyring):

- ``links``: mailbox message <-> CRM activity (what is tracked);
- ``outbox``: the outbox journal (intent written *before* a send, result after);
- ``sync_state``: per-folder incremental sync states;
- ``track_queue``: durable track requests (offline spells, throttling, restarts);
- ``audit``: what the bridge did, for the user to read and undo;
- ``kv``: small bits of state (last sync time, remembered server hints).

This module holds what the bridge reads and writes in those tables.  The schema and its
forward migrations are in :mod:`addin.journal_schema`; the connection, the transactions
(:meth:`Store.batch`) and running the migrations are in :mod:`addin.journal_connection`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from addin.journal_connection import JournalConnection, StoreError, journal_files
from addin.journal_rows import (
    AUDIT_RETENTION,
    AuditNote,
    AuditRow,
    Link,
    OutboxRecord,
    QueuedTrack,
    audit_row,
    link_row,
    outbox_row,
    parse_ts,
    queued_row,
    ts,
    utcnow,
)
from addin.journal_schema import MIGRATIONS
from addin.states import JournalState

# The row types, time helpers, schema and error are part of this module's interface (callers
# import them from here).
__all__ = [
    "AUDIT_RETENTION",
    "MIGRATIONS",
    "AuditNote",
    "AuditRow",
    "Link",
    "OutboxRecord",
    "QueuedTrack",
    "Store",
    "StoreError",
    "journal_files",
    "parse_ts",
    "utcnow",
]


class Store(JournalConnection):
    """Thread-safe access to the journal; every write is its own durable transaction, unless
    grouped with :meth:`batch` (never the outbox journal, which must be durable before a send)."""

    # Every method that stamps a row stays in this module: it reads the clock through this
    # module's ``utcnow``, which the tests replace to drive the journal's time.

    # -- links ----------------------------------------------------------------------

    def add_link(
        self,
        message_key: str,
        activity_id: str,
        *,
        item_id: str | None,
        folder_id: str | None,
        subject: str,
        regarding: str | None = None,
        regarding_name: str | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO links VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(message_key) DO UPDATE SET "
                "activity_id=excluded.activity_id, item_id=COALESCE(excluded.item_id, links.item_id), "
                "folder_id=COALESCE(excluded.folder_id, links.folder_id), subject=excluded.subject, "
                "regarding=excluded.regarding, regarding_name=excluded.regarding_name",
                (
                    message_key,
                    activity_id,
                    item_id,
                    folder_id,
                    subject,
                    regarding,
                    regarding_name,
                    ts(utcnow()),
                ),
            )

    def set_link_regarding(self, message_key: str, regarding: str | None, name: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE links SET regarding=?, regarding_name=? WHERE message_key=?",
                (regarding, name, message_key),
            )

    def remove_link(self, message_key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM links WHERE message_key=?", (message_key,))

    def link_by_key(self, message_key: str) -> Link | None:
        rows = self._query("SELECT * FROM links WHERE message_key=?", (message_key,))
        return link_row(rows[0]) if rows else None

    def link_by_item(self, item_id: str) -> Link | None:
        rows = self._query("SELECT * FROM links WHERE item_id=?", (item_id,))
        return link_row(rows[0]) if rows else None

    def links_by_items(self, item_ids: list[str]) -> dict[str, Link]:
        found: dict[str, Link] = {}
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._query(f"SELECT * FROM links WHERE item_id IN ({marks})", tuple(chunk)):
                found[row["item_id"]] = link_row(row)
        return found

    def count_links(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM links")[0][0])

    # -- outbox journal -------------------------------------------------------------

    def outbox_put(
        self,
        activity_id: str,
        *,
        message_id: str,
        state: JournalState,
        subject: str = "",
        recipients: str = "",
        reason: str = "",
        attempts: int | None = None,
        audit: AuditNote | None = None,
    ) -> None:
        """Record an outbox state; ``audit`` is written in the same transaction, so a crash
        can never leave a sent e-mail without its audit row (or an audit row without the state)."""
        with self._tx(durable=True) as db:
            db.execute(
                "INSERT INTO outbox VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(activity_id) DO UPDATE SET "
                "message_id=excluded.message_id, state=excluded.state, reason=excluded.reason, "
                "subject=CASE WHEN excluded.subject='' THEN outbox.subject ELSE excluded.subject END, "
                "recipients=CASE WHEN excluded.recipients='' THEN outbox.recipients "
                "ELSE excluded.recipients END, "
                "attempts=COALESCE(?, outbox.attempts), updated_at=excluded.updated_at",
                (
                    activity_id,
                    message_id,
                    subject,
                    recipients,
                    state,
                    reason,
                    attempts or 0,
                    ts(utcnow()),
                    attempts,
                ),
            )
            row = self._insert_audit(db, audit) if audit is not None else None
        if row is not None:
            self._announced(row)

    def outbox_get(self, activity_id: str) -> OutboxRecord | None:
        rows = self._query("SELECT * FROM outbox WHERE activity_id=?", (activity_id,))
        return outbox_row(rows[0]) if rows else None

    def outbox_in_states(self, *states: JournalState) -> list[OutboxRecord]:
        marks = ",".join("?" * len(states))
        rows = self._query(
            f"SELECT * FROM outbox WHERE state IN ({marks}) ORDER BY updated_at", tuple(states)
        )
        return [outbox_row(r) for r in rows]

    def outbox_all(self, limit: int = 500) -> list[OutboxRecord]:
        rows = self._query("SELECT * FROM outbox ORDER BY updated_at DESC LIMIT ?", (limit,))
        return [outbox_row(r) for r in rows]

    # -- sync states ----------------------------------------------------------------

    def get_sync_state(self, folder_id: str) -> str | None:
        rows = self._query("SELECT state FROM sync_state WHERE folder_id=?", (folder_id,))
        return str(rows[0]["state"]) if rows else None

    def set_sync_state(self, folder_id: str, state: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO sync_state VALUES (?,?,?) ON CONFLICT(folder_id) DO UPDATE SET "
                "state=excluded.state, updated_at=excluded.updated_at",
                (folder_id, state, ts(utcnow())),
            )

    # -- durable track queue --------------------------------------------------------

    def enqueue_track(self, item_id: str, *, regarding: str | None, reason: str) -> None:
        now = ts(utcnow())
        with self._tx() as db:
            db.execute(
                "INSERT INTO track_queue(item_id, regarding, reason, not_before, created_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT(item_id) DO UPDATE SET "
                "regarding=COALESCE(excluded.regarding, track_queue.regarding)",
                (item_id, regarding, reason, now, now),
            )

    def due_tracks(self, limit: int = 100, now: datetime | None = None) -> list[QueuedTrack]:
        moment = ts(now or utcnow())
        rows = self._query(
            "SELECT * FROM track_queue WHERE not_before <= ? ORDER BY id LIMIT ?", (moment, limit)
        )
        return [queued_row(r) for r in rows]

    def queued_tracks(self) -> list[QueuedTrack]:
        return [queued_row(r) for r in self._query("SELECT * FROM track_queue ORDER BY id")]

    def defer_track(self, queue_id: int, error: str, not_before: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE track_queue SET attempts=attempts+1, last_error=?, not_before=? WHERE id=?",
                (error, ts(not_before), queue_id),
            )

    def deferred_tracks(self, now: datetime | None = None) -> int:
        """How many track requests wait for a later retry (back-off after a failure)."""
        rows = self._query("SELECT COUNT(*) FROM track_queue WHERE not_before > ?", (ts(now or utcnow()),))
        return int(rows[0][0])

    def reset_track_backoff(self, now: datetime | None = None) -> int:
        """Make every waiting track request due now, with a fresh back-off; returns how many."""
        moment = ts(now or utcnow())
        with self._tx() as db:
            return db.execute(
                "UPDATE track_queue SET not_before=?, attempts=0 WHERE not_before > ?", (moment, moment)
            ).rowcount

    def finish_track(self, queue_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM track_queue WHERE id=?", (queue_id,))

    # -- audit log ------------------------------------------------------------------

    def audit(
        self,
        action: str,
        *,
        ok: bool = True,
        subject: str = "",
        detail: str = "",
        activity_id: str | None = None,
        item_id: str | None = None,
        message_id: str | None = None,
    ) -> AuditRow:
        note = AuditNote(action, ok, subject, detail, activity_id, item_id, message_id)
        with self._tx() as db:
            row = self._insert_audit(db, note)
        self._announced(row)
        return row

    @staticmethod
    def _insert_audit(db: sqlite3.Connection, note: AuditNote) -> AuditRow:
        at = utcnow()
        cursor = db.execute(
            "INSERT INTO audit(at, action, ok, subject, detail, activity_id, item_id, message_id) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (
                ts(at),
                note.action,
                int(note.ok),
                note.subject,
                note.detail,
                note.activity_id,
                note.item_id,
                note.message_id,
            ),
        )
        return AuditRow(
            int(cursor.lastrowid or 0),
            at,
            note.action,
            note.ok,
            note.subject,
            note.detail,
            note.activity_id,
            note.item_id,
            note.message_id,
        )

    def recent_audit(self, limit: int = 200, text: str | None = None) -> list[AuditRow]:
        if text:
            like = f"%{text}%"
            rows = self._query(
                "SELECT * FROM audit WHERE subject LIKE ? OR detail LIKE ? OR action LIKE ? "
                "ORDER BY id DESC LIMIT ?",
                (like, like, like, limit),
            )
        else:
            rows = self._query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [audit_row(r) for r in rows]

    def prune_audit(self, now: datetime | None = None) -> int:
        cutoff = ts((now or utcnow()) - AUDIT_RETENTION)
        with self._tx() as db:
            return db.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount

    # -- small state ----------------------------------------------------------------

    def get(self, key: str) -> Any:
        rows = self._query("SELECT value FROM kv WHERE key=?", (key,))
        return json.loads(rows[0]["value"]) if rows else None

    def put(self, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO kv VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )
