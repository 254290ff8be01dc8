"""The local journal's connection and transactions, apart from what the tables hold.

One SQLite connection per profile, shared by every thread under one lock (WAL,
synchronous=FULL).  Every write is an atomic transaction of its own; :meth:`batch`
groups the writes of a tracked group into one COMMIT.  The tables themselves and
what the bridge reads and writes in them are :class:`addin.store.Store`'s job.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from addin import paths
from addin.errors import BridgeError
from addin.journal_rows import AuditRow
from addin.journal_schema import MIGRATIONS


class StoreError(BridgeError):
    title = "Local journal problem"


class JournalConnection:
    """The open journal: its lock, its transactions and its migrations."""

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


def journal_files(path: Path) -> list[Path]:
    """The database and its WAL side files."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
