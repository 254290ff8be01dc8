"""Record storage: an in-memory table of dicts, written through to SQLite.

Reads are served from memory (fast enough for 1,000-message bulk tracking); every write
goes to SQLite inside the current transaction. A transaction keeps an undo log so a
failed ``$batch`` change set rolls back both the memory and the database.

Records are plain dicts keyed by logical column name. A lookup is stored as
``_<attr>_value`` (the id) plus ``_<attr>_value@type`` (the target's logical name).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from addin.sandbox.crm.schema import BY_SET
from addin.sandbox.crm.schema_types import Table

Record = dict[str, Any]
TYPE_SUFFIX = "@type"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lookup_key(attr: str) -> str:
    return f"_{attr}_value"


class Store:
    """Thread-safe record store; use ``transaction()`` around multi-step writes."""

    def __init__(self, path: Path) -> None:
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS records (entity_set TEXT NOT NULL, id TEXT NOT NULL, "
            "seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (entity_set, id))"
        )
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._data: dict[str, dict[str, Record]] = {name: {} for name in BY_SET}
        self._seq: dict[tuple[str, str], int] = {}
        self._depth = 0
        # Group-by indexes (entity set, column) -> value -> records, kept up to date on writes
        # and dropped on rollback (rebuilt on the next read).
        self._groups: dict[tuple[str, str], dict[Any, list[Record]]] = {}
        self._undo: list[tuple[str, str, Record | None, int | None]] = []
        row = self._conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        self._version = int(row[0]) if row else 1000
        self._next_seq = 0
        for entity_set, rid, seq, data in self._conn.execute(
            "SELECT entity_set, id, seq, data FROM records ORDER BY seq"
        ):
            if entity_set in self._data:
                self._data[entity_set][rid] = json.loads(data)
                self._seq[(entity_set, rid)] = seq
                self._next_seq = max(self._next_seq, seq + 1)

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (nested calls join the outer one)."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN")
                self._undo = []
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._rollback()
                raise
            self._depth -= 1
            if outer:
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", (str(self._version),)
                )
                self._conn.execute("COMMIT")
                self._undo = []

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Roll back only the writes made inside this block when it raises."""
        with self.lock, self.transaction():
            mark = len(self._undo)
            name = f"sp{mark}_{self._depth}"
            self._conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                self._restore(mark)
                raise
            self._conn.execute(f"RELEASE {name}")

    def _rollback(self) -> None:
        self._conn.execute("ROLLBACK")
        self._restore(0)

    def _restore(self, mark: int) -> None:
        while len(self._undo) > mark:
            entity_set, rid, previous, seq = self._undo.pop()
            self._drop_indexes(entity_set)
            if previous is None:
                self._data[entity_set].pop(rid, None)
                self._seq.pop((entity_set, rid), None)
            else:
                self._data[entity_set][rid] = previous
                if seq is not None:
                    self._seq[(entity_set, rid)] = seq

    def next_version(self) -> int:
        with self.lock:
            self._version += 1
            return self._version

    # -- reads ----------------------------------------------------------------------------

    def get(self, entity_set: str, record_id: str) -> Record | None:
        """A copy of one record, or None."""
        with self.lock:
            rec = self._data[entity_set].get(str(record_id).lower())
            return dict(rec) if rec is not None else None

    def peek(self, entity_set: str, record_id: str) -> Record | None:
        """The stored record itself (no copy): callers must not mutate it."""
        return self._data[entity_set].get(str(record_id).lower())

    def all(self, entity_set: str) -> list[Record]:
        """The stored records in creation order (no copies)."""
        with self.lock:
            return list(self._data[entity_set].values())

    def query(self, entity_set: str, predicate: Callable[[Record], bool] | None = None) -> list[Record]:
        """Copies of the records matching ``predicate`` (all when None), in creation order."""
        with self.lock:
            return [dict(r) for r in self._data[entity_set].values() if predicate is None or predicate(r)]

    def children(self, entity_set: str, key: str, value: Any) -> list[Record]:
        """Stored records whose column ``key`` equals ``value`` (no copies), via a cached index."""
        with self.lock:
            groups = self._groups.get((entity_set, key))
            if groups is None:
                groups = {}
                for rec in self._data[entity_set].values():
                    if rec.get(key) is not None:
                        groups.setdefault(rec[key], []).append(rec)
                self._groups[(entity_set, key)] = groups
            return list(groups.get(value, ()))

    def _reindex(self, entity_set: str, old: Record | None, new: Record | None) -> None:
        for (name, key), groups in self._groups.items():
            if name != entity_set:
                continue
            if old is not None and old.get(key) is not None:
                bucket = groups.get(old[key], [])
                groups[old[key]] = [r for r in bucket if r is not old]
            if new is not None and new.get(key) is not None:
                groups.setdefault(new[key], []).append(new)

    def _drop_indexes(self, entity_set: str) -> None:
        for name_key in [k for k in self._groups if k[0] == entity_set]:
            del self._groups[name_key]

    def count(self, entity_set: str) -> int:
        with self.lock:
            return len(self._data[entity_set])

    # -- writes ---------------------------------------------------------------------------

    def insert(self, entity_set: str, record: Record, table: Table | None = None) -> str:
        """Store a new record (stamping key, version and dates); return its id."""
        table = table or BY_SET[entity_set]
        with self.transaction():
            rid = str(record.get(table.key) or uuid.uuid4()).lower()
            if rid in self._data[entity_set]:
                raise KeyError(rid)
            rec = dict(record)
            rec[table.key] = rid
            stamp = now_iso()
            rec.setdefault("createdon", stamp)
            rec["modifiedon"] = stamp
            rec["versionnumber"] = self.next_version()
            self._write(entity_set, rid, rec, None)
            return rid

    def update(self, entity_set: str, record_id: str, changes: Record) -> Record:
        """Apply ``changes`` to an existing record; return the new record (a copy)."""
        rid = str(record_id).lower()
        with self.transaction():
            previous = self._data[entity_set][rid]
            rec = {**previous, **changes}
            rec["modifiedon"] = now_iso()
            rec["versionnumber"] = self.next_version()
            self._write(entity_set, rid, rec, previous)
            return dict(rec)

    def delete(self, entity_set: str, record_id: str) -> None:
        rid = str(record_id).lower()
        with self.transaction():
            previous = self._data[entity_set].pop(rid)
            self._reindex(entity_set, previous, None)
            seq = self._seq.pop((entity_set, rid), None)
            self._undo.append((entity_set, rid, previous, seq))
            self._conn.execute("DELETE FROM records WHERE entity_set=? AND id=?", (entity_set, rid))

    def _write(self, entity_set: str, rid: str, rec: Record, previous: Record | None) -> None:
        seq = self._seq.get((entity_set, rid))
        if seq is None:
            seq = self._next_seq
            self._next_seq += 1
            self._seq[(entity_set, rid)] = seq
        self._undo.append((entity_set, rid, previous, seq))
        self._data[entity_set][rid] = rec
        self._reindex(entity_set, previous, rec)
        self._conn.execute(
            "INSERT OR REPLACE INTO records (entity_set, id, seq, data) VALUES (?, ?, ?, ?)",
            (entity_set, rid, seq, json.dumps(rec)),
        )
