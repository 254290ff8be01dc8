"""The look-ups the Graph endpoints add to the sandbox store: mailbox-wide listings, the stable
paging of a first delta round, the master category list and small persistent settings."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from addin.sandbox.mail.store import Item


class GraphQueries:
    """Mixed into MailStore, whose connection, lock and transactions it uses."""

    _lock: threading.RLock
    _db: sqlite3.Connection
    _ICOLS: str
    tx: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _item: Callable[..., Item]

    def mailbox_items(self, mailbox: str) -> list[Item]:
        """Every item of a mailbox, newest first (Graph's ``/me/messages``)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._ICOLS} FROM items WHERE mailbox=? ORDER BY received DESC, rowid DESC",
                (mailbox,),
            ).fetchall()
            return [self._item(r, with_attachments=False) for r in rows]

    def mailbox_items_with_message_id(self, mailbox: str, message_id: str) -> list[Item]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._ICOLS} FROM items WHERE mailbox=? AND message_id=? COLLATE NOCASE",
                (mailbox, message_id),
            ).fetchall()
            return [self._item(r, with_attachments=False) for r in rows]

    def page_after(self, folder_id: str, cursor: tuple[str, str] | None, limit: int) -> list[Item]:
        """Items newest first after ``cursor`` (received, id) of the previous page: a stable
        listing while items come and go between pages (Graph's first delta round)."""
        with self._lock:
            if cursor is None:
                rows = self._db.execute(
                    f"SELECT {self._ICOLS}, received FROM items WHERE folder_id=? "
                    "ORDER BY received DESC, id DESC LIMIT ?",
                    (folder_id, limit),
                ).fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT {self._ICOLS}, received FROM items WHERE folder_id=? AND "
                    "(received < ? OR (received = ? AND id < ?)) ORDER BY received DESC, id DESC LIMIT ?",
                    (folder_id, cursor[0], cursor[0], cursor[1], limit),
                ).fetchall()
            return [self._item(r[:5], with_attachments=False) for r in rows]

    def received_key(self, item_id: str) -> str:
        """The sort key ``page_after`` uses for an item (its stored received time)."""
        with self._lock:
            row = self._db.execute("SELECT received FROM items WHERE id=?", (item_id,)).fetchone()
            return str(row[0]) if row else ""

    def meta(self, key: str, default: str = "") -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES(?,?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    # -- master category list (Graph /me/outlook/masterCategories; EWS clients keep theirs
    # in a folder-associated item the sandbox does not model) ---------------------------------

    def categories(self, mailbox: str) -> list[tuple[str, str, str]]:
        """(id, display name, color) of a mailbox's master list, in creation order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, color FROM master_categories WHERE mailbox=? ORDER BY rowid", (mailbox,)
            ).fetchall()
            return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def add_category(self, mailbox: str, name: str, color: str) -> str:
        """Add a category; raises FileExistsError when the name (any case) is taken."""
        cat_id = str(uuid.uuid4())
        with self.tx() as db:
            try:
                db.execute(
                    "INSERT INTO master_categories(id, mailbox, name, color) VALUES(?,?,?,?)",
                    (cat_id, mailbox, name, color),
                )
            except sqlite3.IntegrityError:
                raise FileExistsError(name) from None
        return cat_id

    def delete_category(self, mailbox: str, cat_id: str) -> bool:
        with self.tx() as db:
            cur = db.execute("DELETE FROM master_categories WHERE mailbox=? AND id=?", (mailbox, cat_id))
            return cur.rowcount > 0

    def items_containing(self, folder_id: str | None, mailbox: str, text: str) -> list[Item]:
        """Items (of a folder, or the whole mailbox) whose stored fields contain ``text``
        (ASCII, any case): a pre-selection for filters on a property's value."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where, arg = ("folder_id=?", folder_id) if folder_id is not None else ("mailbox=?", mailbox)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._ICOLS} FROM items WHERE {where} AND data LIKE ? ESCAPE '\\' "
                "ORDER BY received DESC, rowid DESC",
                (arg, pattern),
            ).fetchall()
            return [self._item(r, with_attachments=False) for r in rows]
