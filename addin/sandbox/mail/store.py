"""SQLite storage of the sandbox Exchange: mailboxes, folders, items (parsed fields, MIME),
attachments and the per-folder change log that SyncFolderItems reads."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from addin.sandbox.mail.store_folders import FolderRows, ensure_well_known_folders
from addin.sandbox.mail.store_graph import GraphQueries
from addin.sandbox.mail.store_items import ItemRows
from addin.sandbox.mail.store_records import Attachment, Folder, Item, changekey, new_id

# The records live in store_records; importing them from here stays supported.
__all__ = ["Attachment", "Folder", "Item", "MailStore", "changekey", "hierarchy_key", "new_id"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS mailboxes(
    address TEXT PRIMARY KEY, salt TEXT NOT NULL, pwhash TEXT NOT NULL, display_name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders(
    id TEXT PRIMARY KEY, mailbox TEXT NOT NULL, parent_id TEXT, distinguished TEXT,
    name TEXT NOT NULL, folder_class TEXT, version INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS folders_mailbox ON folders(mailbox, distinguished);
CREATE TABLE IF NOT EXISTS items(
    id TEXT PRIMARY KEY, mailbox TEXT NOT NULL, folder_id TEXT NOT NULL, version INTEGER NOT NULL,
    received TEXT NOT NULL, message_id TEXT, is_read INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL, mime BLOB);
CREATE INDEX IF NOT EXISTS items_folder ON items(folder_id, received);
CREATE INDEX IF NOT EXISTS items_msgid ON items(mailbox, message_id);
CREATE INDEX IF NOT EXISTS items_folder_msgid ON items(folder_id, message_id COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS attachments(
    id TEXT PRIMARY KEY, item_id TEXT NOT NULL, ord INTEGER NOT NULL, name TEXT, content_type TEXT,
    content_id TEXT, is_inline INTEGER NOT NULL DEFAULT 0, modified TEXT, content BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS attachments_item ON attachments(item_id, ord);
CREATE TABLE IF NOT EXISTS changes(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, folder_id TEXT NOT NULL, item_id TEXT NOT NULL,
    kind TEXT NOT NULL, at TEXT);
CREATE INDEX IF NOT EXISTS changes_folder ON changes(folder_id, seq);
CREATE INDEX IF NOT EXISTS changes_item ON changes(item_id, seq);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS master_categories(
    id TEXT PRIMARY KEY, mailbox TEXT NOT NULL, name TEXT NOT NULL, color TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS master_categories_name ON master_categories(mailbox, name COLLATE NOCASE);
"""


def hierarchy_key(mailbox: str) -> str:
    """The change-log key of a mailbox's folder hierarchy (SyncFolderHierarchy)."""
    return f"hierarchy:{mailbox}"


def _hash(salt: str, password: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()


class MailStore(ItemRows, GraphQueries, FolderRows):
    """All state of the sandbox Exchange. Thread-safe: one connection behind a lock."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(changes)")}
        if "at" not in columns:  # data folders written before change timestamps existed
            self._db.execute("ALTER TABLE changes ADD COLUMN at TEXT")
        self._migrate_attachments()
        self.changed = threading.Condition()
        self._auth_cache: dict[tuple[str, str], bool] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; nested calls join the outer transaction."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- mailboxes --------------------------------------------------------------------------------

    def add_mailbox(self, address: str, password: str, display_name: str = "") -> None:
        address = address.strip().lower()
        salt = secrets.token_hex(8)
        with self.tx() as db:
            db.execute(
                "INSERT INTO mailboxes(address, salt, pwhash, display_name) VALUES(?,?,?,?) "
                "ON CONFLICT(address) DO UPDATE SET salt=excluded.salt, pwhash=excluded.pwhash, "
                "display_name=excluded.display_name",
                (address, salt, _hash(salt, password), display_name or address),
            )
            ensure_well_known_folders(db, address)
        self._auth_cache.clear()

    def mailboxes(self) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT address, display_name FROM mailboxes").fetchall()
            return [(str(r[0]), str(r[1])) for r in rows]

    def has_mailbox(self, address: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM mailboxes WHERE address=?", (address.strip().lower(),)
            ).fetchone()
            return row is not None

    def display_name(self, address: str) -> str:
        with self._lock:
            row = self._db.execute(
                "SELECT display_name FROM mailboxes WHERE address=?", (address.strip().lower(),)
            ).fetchone()
            return str(row[0]) if row else address

    def check_password(self, address: str, password: str) -> bool:
        key = (address.strip().lower(), hashlib.sha256(password.encode()).hexdigest())
        cached = self._auth_cache.get(key)
        if cached is not None:
            return cached
        with self._lock:
            row = self._db.execute("SELECT salt, pwhash FROM mailboxes WHERE address=?", (key[0],)).fetchone()
        ok = row is not None and hmac.compare_digest(_hash(row[0], password), row[1])
        self._auth_cache[key] = ok
        return ok

    # -- folders ----------------------------------------------------------------------------------

    def _folder(self, row: Any) -> Folder:
        return Folder(*row)

    _FCOLS = "id, mailbox, parent_id, distinguished, name, folder_class, version"

    def folder(self, folder_id: str) -> Folder | None:
        with self._lock:
            row = self._db.execute(f"SELECT {self._FCOLS} FROM folders WHERE id=?", (folder_id,)).fetchone()
            return self._folder(row) if row else None

    def distinguished(self, mailbox: str, dist: str) -> Folder | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._FCOLS} FROM folders WHERE mailbox=? AND distinguished=?",
                (mailbox.lower(), dist.lower()),
            ).fetchone()
            return self._folder(row) if row else None

    def children(self, folder_id: str) -> list[Folder]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._FCOLS} FROM folders WHERE parent_id=? ORDER BY rowid", (folder_id,)
            ).fetchall()
            return [self._folder(r) for r in rows]

    def create_folder(self, parent: Folder, name: str, folder_class: str | None) -> Folder:
        with self.tx() as db:
            for sibling in self.children(parent.id):
                if sibling.name.lower() == name.lower():
                    raise FileExistsError(name)
            fid = new_id("AQMkAD")
            db.execute(
                "INSERT INTO folders(id, mailbox, parent_id, distinguished, name, folder_class) "
                "VALUES(?,?,?,?,?,?)",
                (fid, parent.mailbox, parent.id, None, name, folder_class),
            )
            self._log(db, hierarchy_key(parent.mailbox), fid, "create")
        folder = self.folder(fid)
        assert folder is not None
        return folder

    def rename_folder(self, folder: Folder, name: str) -> Folder:
        with self.tx() as db:
            for sibling in self.children(folder.parent_id or ""):
                if sibling.id != folder.id and sibling.name.lower() == name.lower():
                    raise FileExistsError(name)
            db.execute("UPDATE folders SET name=?, version=version+1 WHERE id=?", (name, folder.id))
            self._log(db, hierarchy_key(folder.mailbox), folder.id, "update")
        renamed = self.folder(folder.id)
        assert renamed is not None
        return renamed

    def delete_folder(self, folder: Folder) -> None:
        """Delete a folder, its sub-folders and their items (items logged as deleted)."""
        with self.tx() as db:
            for child in self.children(folder.id):
                self.delete_folder(child)
            for item in self.folder_items(folder.id):
                self.delete_item(item)
            db.execute("DELETE FROM folders WHERE id=?", (folder.id,))
            self._log(db, hierarchy_key(folder.mailbox), folder.id, "delete")

    def folder_counts(self, folder_id: str) -> tuple[int, int]:
        """(total, unread) items of a folder."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(1 - is_read), 0) FROM items WHERE folder_id=?", (folder_id,)
            ).fetchone()
            return int(row[0]), int(row[1])

    # -- change log -------------------------------------------------------------------------------

    def _log(self, db: sqlite3.Connection, folder_id: str, item_id: str, kind: str) -> None:
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        db.execute(
            "INSERT INTO changes(folder_id, item_id, kind, at) VALUES(?,?,?,?)",
            (folder_id, item_id, kind, at),
        )
        with self.changed:
            self.changed.notify_all()

    def mailbox_changes_since(
        self, mailbox: str, seq: int, limit: int
    ) -> list[tuple[int, str, str, str, str]]:
        """(seq, folder_id, item_id, kind, at) of every folder of a mailbox after ``seq``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.seq, c.folder_id, c.item_id, c.kind, COALESCE(c.at, '') FROM changes c "
                "JOIN folders f ON f.id = c.folder_id WHERE f.mailbox=? AND c.seq>? ORDER BY c.seq LIMIT ?",
                (mailbox, seq, limit),
            ).fetchall()
            return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]

    def changes_since(self, folder_id: str, seq: int, limit: int = -1) -> list[tuple[int, str, str]]:
        """Change log rows of a folder after ``seq``, oldest first (at most ``limit``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, item_id, kind FROM changes WHERE folder_id=? AND seq>? ORDER BY seq LIMIT ?",
                (folder_id, seq, limit),
            ).fetchall()
            return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def item_change_kinds(self, folder_id: str, item_id: str, seq: int) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT kind FROM changes WHERE item_id=? AND seq>? AND folder_id=?",
                (item_id, seq, folder_id),
            ).fetchall()
            return {str(r[0]) for r in rows}

    def folder_last_seq(self, folder_id: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE folder_id=?", (folder_id,)
            ).fetchone()
            return int(row[0])

    def last_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
            return int(row[0])
