"""The local journal: one SQLite database per profile (WAL, synchronous=FULL).

It keeps what must survive a crash or a restart, apart from config (settings) and
secrets (keyring):

- ``links``: mailbox message <-> CRM activity (what is tracked);
- ``outbox``: the outbox journal (intent written *before* a send, result after);
- ``sync_state``: per-folder incremental sync states;
- ``track_queue``: durable track requests (offline spells, throttling, restarts);
- ``audit``: what the bridge did, for the user to read and undo;
- ``kv``: small bits of state (last sync time, remembered server hints).

Schema changes are forward migrations numbered in ``MIGRATIONS``; the database is
copied aside before a migration runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from addin import paths
from addin.errors import BridgeError
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
from addin.states import JournalState

# The row types and time helpers are part of this module's interface (callers import them from here).
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

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE links (
        message_key TEXT PRIMARY KEY,      -- Message-ID, or a synthetic key from headers
        activity_id TEXT NOT NULL,
        item_id TEXT,                      -- mailbox item id when known
        folder_id TEXT,
        subject TEXT NOT NULL DEFAULT '',
        regarding TEXT,                    -- "table:id" or NULL
        regarding_name TEXT,
        tracked_at TEXT NOT NULL
    );
    CREATE INDEX links_item ON links(item_id);
    CREATE INDEX links_activity ON links(activity_id);
    CREATE TABLE outbox (
        activity_id TEXT PRIMARY KEY,
        message_id TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        recipients TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,               -- JournalState: sending, submitting, sent, done, failed, released
        reason TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE sync_state (
        folder_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE track_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id TEXT NOT NULL,
        regarding TEXT,
        reason TEXT NOT NULL,              -- manual, category, folder, auto
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        not_before TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE(item_id)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        ok INTEGER NOT NULL DEFAULT 1,
        subject TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        activity_id TEXT,
        item_id TEXT,
        message_id TEXT
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: Regarding categories (category name in the mailbox's master list -> CRM record) and
    # the records the user pinned; see addin/engine/regarding_categories.py
    """
    CREATE TABLE regarding_categories (
        category TEXT PRIMARY KEY COLLATE NOCASE,  -- e.g. "CRM ▸ Fabrikam, Inc."
        regarding TEXT NOT NULL,                   -- "table:id"
        record_name TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,                       -- wanted, listed, retired, gone
        updated_at TEXT NOT NULL
    );
    CREATE INDEX regarding_categories_record ON regarding_categories(regarding);
    CREATE TABLE regarding_pins (
        regarding TEXT PRIMARY KEY,                -- "table:id"
        record_name TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        pinned_at TEXT NOT NULL
    );
    """,
)


class StoreError(BridgeError):
    title = "Local journal problem"


class Store:
    """Thread-safe access to the journal; every write is its own durable transaction, unless
    grouped with :meth:`batch` (never the outbox journal, which must be durable before a send)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        paths.ensure_private_dir(path.parent)
        # The journal and its WAL side files hold subjects and addresses: private to the user.
        # Side files left read-only or readable by others (a restore, a read-only moment)
        # are repaired here, or named in the error; the database is created 0600 so SQLite
        # gives its -wal and -shm the same mode.
        for side in journal_files(path):
            paths.fix_mode(side, paths.PRIVATE_FILE)
        paths.private_file(path)
        self._lock = threading.RLock()
        # Called with each new audit row (the facade turns it into an event for the UI).
        self.on_audit: Callable[[AuditRow], None] | None = None
        # An open batch (see batch()): its depth, and the audit rows to announce after COMMIT.
        self._batch_depth = 0
        self._announce: list[AuditRow] | None = None
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a write the bridge relied on (the outbox intent) survives a power cut.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the local journal at {path}: {exc}{self._hint(exc)}") from None

    # -- plumbing -------------------------------------------------------------------

    @contextmanager
    def _tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One atomic write; inside :meth:`batch` a savepoint of the batch's transaction.
        ``durable``: must be on disk before the caller acts (the outbox intent before a send)."""
        with self._lock:
            if self._batch_depth and durable:
                raise StoreError("An outbox state is committed on its own, never inside a batch.")
            begin, commit, undo = (
                ("SAVEPOINT w", "RELEASE w", ("ROLLBACK TO w", "RELEASE w"))
                if self._batch_depth
                else ("BEGIN IMMEDIATE", "COMMIT", ("ROLLBACK",))
            )
            try:
                self._db.execute(begin)
                try:
                    yield self._db
                except BaseException:
                    for statement in undo:
                        self._db.execute(statement)
                    raise
                self._db.execute(commit)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"The local journal {self.path} refused a write: {exc}{self._hint(exc)}"
                ) from None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside as one transaction: one COMMIT (one fsync at synchronous=FULL) for a
        tracked group instead of one per link and audit row.  An exception rolls all of it back;
        audit rows are announced after the COMMIT; nested batches join.  No network call inside:
        other threads wait for the journal until the batch ends."""
        with self._lock:
            if self._batch_depth:
                self._batch_depth += 1
                try:
                    yield
                finally:
                    self._batch_depth -= 1
                return
            announced: list[AuditRow] = []
            with self._tx():
                self._batch_depth, self._announce = 1, announced
                try:
                    yield
                finally:
                    self._batch_depth, self._announce = 0, None
        for row in announced:
            self._announced(row)

    def _announced(self, row: AuditRow) -> None:
        """Tell the listener about a committed audit row (held until an open batch commits)."""
        if self._announce is not None:
            self._announce.append(row)
        elif self.on_audit is not None:
            self.on_audit(row)

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args))
            except sqlite3.Error as exc:
                raise StoreError(
                    f"The local journal {self.path} could not be read: {exc}{self._hint(exc)}"
                ) from None

    def _hint(self, exc: sqlite3.Error) -> str:
        """For a read-only journal: which of its files is not writable, and the fix."""
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) != sqlite3.SQLITE_READONLY:  # primary code
            return ""
        stuck = [str(p) for p in journal_files(self.path) if p.exists() and not os.access(p, os.W_OK)]
        named = ", ".join(stuck) if stuck else f"{self.path} and its -wal/-shm files"
        return f". Not writable: {named}. Fix: chmod 600 them (they must belong to your user account)"

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"The journal at {self.path} was written by a newer CRM Bridge "
                f"(schema {current}); update the app."
            )
        if current == len(MIGRATIONS):
            return
        if current > 0:
            # Keep a copy so a failed migration loses nothing.
            shutil.copy2(self.path, self.path.with_suffix(f".v{current}.bak"))
        for version in range(current, len(MIGRATIONS)):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={version + 1}")
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

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


def journal_files(path: Path) -> list[Path]:
    """The database and its WAL side files."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
