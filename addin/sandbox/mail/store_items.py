"""Item rows of the sandbox store: the parsed fields and MIME of each message, in its folder."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from addin.sandbox.mail.store_attachments import EMBEDDED_KEY, AttachmentRow, AttachmentRows
from addin.sandbox.mail.store_records import ITEM_ID_PREFIX, Item, new_id


class ItemRows(AttachmentRows):
    """Mixed into MailStore, whose connection, lock, transactions and change log it uses."""

    _lock: threading.RLock
    _db: sqlite3.Connection
    tx: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _log: Callable[[sqlite3.Connection, str, str, str], None]

    _ICOLS = "id, mailbox, folder_id, version, data"

    def _item(self, row: Any, with_attachments: bool = True) -> Item:
        item = Item(row[0], row[1], row[2], row[3], json.loads(row[4]))
        if with_attachments:
            item.attachments = self.attachments(item.id)
        return item

    def item(self, item_id: str) -> Item | None:
        with self._lock:
            row = self._db.execute(f"SELECT {self._ICOLS} FROM items WHERE id=?", (item_id,)).fetchone()
            return self._item(row) if row else None

    def mime(self, item_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT mime FROM items WHERE id=?", (item_id,)).fetchone()
            return bytes(row[0]) if row and row[0] is not None else None

    def folder_items(self, folder_id: str, with_attachments: bool = False) -> list[Item]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._ICOLS} FROM items WHERE folder_id=? ORDER BY received DESC, rowid DESC",
                (folder_id,),
            ).fetchall()
            return [self._item(r, with_attachments) for r in rows]

    def items_with_message_id(self, folder_id: str, message_id: str) -> list[Item]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._ICOLS} FROM items WHERE folder_id=? AND message_id=? COLLATE NOCASE",
                (folder_id, message_id),
            ).fetchall()
            return [self._item(r, with_attachments=False) for r in rows]

    def page_ids(self, folder_id: str, offset: int, limit: int, descending: bool) -> list[str]:
        order = "DESC" if descending else "ASC"
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM items WHERE folder_id=? ORDER BY received {order}, rowid {order} "
                "LIMIT ? OFFSET ?",
                (folder_id, limit, offset),
            ).fetchall()
            return [r[0] for r in rows]

    def insert_item(
        self,
        mailbox: str,
        folder_id: str,
        data: dict[str, Any],
        mime: bytes | None,
        attachments: list[AttachmentRow],
        item_id: str | None = None,
    ) -> Item:
        """Store a new item; ``attachments`` are (name, content_type, content_id, is_inline, bytes).
        ``item_id`` keeps a given id (a sent draft's immutable id on its Sent Items copy)."""
        item_id = item_id or new_id(ITEM_ID_PREFIX)
        data = dict(data)
        embedded = data.pop(EMBEDDED_KEY, None)
        data["has_attachments"] = any(not inline for _, _, _, inline, _ in attachments)
        with self.tx() as db:
            db.execute(
                "INSERT INTO items(id, mailbox, folder_id, version, received, message_id, is_read, data, "
                "mime) VALUES(?,?,?,?,?,?,?,?,?)",
                (
                    item_id,
                    mailbox,
                    folder_id,
                    1,
                    data.get("datetime_received") or "",
                    data.get("message_id"),
                    int(bool(data.get("is_read"))),
                    json.dumps(data),
                    mime,
                ),
            )
            self._insert_attachments(db, item_id, attachments, {**data, EMBEDDED_KEY: embedded})
            self._log(db, folder_id, item_id, "create")
        item = self.item(item_id)
        assert item is not None
        return item

    def save_item(self, item: Item, kind: str = "update", mime: bytes | None = None) -> Item:
        """Write back changed fields; ``kind`` is "update" or "read" (only the read flag changed)."""
        with self.tx() as db:
            item.version += 1
            db.execute(
                "UPDATE items SET version=?, data=?, is_read=?, message_id=?, received=? WHERE id=?",
                (
                    item.version,
                    json.dumps(item.data),
                    int(bool(item.data.get("is_read"))),
                    item.data.get("message_id"),
                    item.data.get("datetime_received") or "",
                    item.id,
                ),
            )
            if mime is not None:
                db.execute("UPDATE items SET mime=? WHERE id=?", (mime, item.id))
            self._log(db, item.folder_id, item.id, kind)
        return item

    def move_item(self, item: Item, folder_id: str, new_identity: bool = False) -> Item:
        """Move an item to another folder. ``new_identity``: the moved item gets a new id, as an EWS
        move does on Exchange (the old id then names nothing)."""
        with self.tx() as db:
            old_folder, old_id = item.folder_id, item.id
            item.version += 1
            if new_identity:
                item.id = new_id(ITEM_ID_PREFIX)
                db.execute("UPDATE attachments SET item_id=? WHERE item_id=?", (item.id, old_id))
            db.execute(
                "UPDATE items SET id=?, folder_id=?, version=? WHERE id=?",
                (item.id, folder_id, item.version, old_id),
            )
            self._log(db, old_folder, old_id, "delete")
            self._log(db, folder_id, item.id, "create")
            item.folder_id = folder_id
        return item

    def amend_item_data(self, item_id: str, updates: dict[str, Any]) -> None:
        """Set fields of an item just stored, in the same transaction (no new version or change)."""
        with self.tx() as db:
            row = db.execute("SELECT data FROM items WHERE id=?", (item_id,)).fetchone()
            if row is not None:
                data = json.loads(row[0])
                data.update(updates)
                db.execute("UPDATE items SET data=? WHERE id=?", (json.dumps(data), item_id))

    def replace_item(
        self, item: Item, data: dict[str, Any], mime: bytes | None, attachments: list[AttachmentRow]
    ) -> Item:
        """Give a stored item new content under its id (UploadItems with CreateAction Update)."""
        data = dict(data)
        embedded = data.pop(EMBEDDED_KEY, None)
        data["has_attachments"] = any(not inline for _, _, _, inline, _ in attachments)
        with self.tx() as db:
            db.execute("DELETE FROM attachments WHERE item_id=?", (item.id,))
            self._insert_attachments(db, item.id, attachments, {**data, EMBEDDED_KEY: embedded})
            db.execute("UPDATE items SET mime=? WHERE id=?", (mime, item.id))
            item.data = data
            self.save_item(item, "update")
        replaced = self.item(item.id)
        assert replaced is not None
        return replaced

    def delete_item(self, item: Item) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM items WHERE id=?", (item.id,))
            db.execute("DELETE FROM attachments WHERE item_id=?", (item.id,))
            self._log(db, item.folder_id, item.id, "delete")

    def count_items(self, folder_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM items WHERE folder_id=?", (folder_id,)).fetchone()
            return int(row[0])

    def items_by_ids(self, ids: list[str]) -> list[Item]:
        out = []
        for item_id in ids:
            item = self.item(item_id)
            if item is not None:
                out.append(item)
        return out

    def item_folder(self, item_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT folder_id FROM items WHERE id=?", (item_id,)).fetchone()
            return str(row[0]) if row else None
