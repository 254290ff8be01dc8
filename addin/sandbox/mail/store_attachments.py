"""Attachment rows of the sandbox store: files, and attached e-mails (``ItemAttachment``) with
the e-mails attached to them in turn, each with an id ``GetAttachment`` answers."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from addin.sandbox.mail.mime import parse_attached, parse_mime
from addin.sandbox.mail.store_records import ATTACHMENT_ID_PREFIX, Attachment, new_id

if TYPE_CHECKING:
    from addin.sandbox.mail.store_records import Item

# (name, content_type, content_id, is_inline, content); an attached e-mail is message/rfc822
# with the attached message's MIME as its content.
AttachmentRow = tuple[str, str, str | None, bool, bytes]

# The field dict key under which a client-built item carries the exact fields of the e-mails
# attached to it, so that what a MIME round trip would lose (categories, flags, culture, spacing)
# survives. Never stored on the item itself.
EMBEDDED_KEY = "_embedded_items"


def embedded_key(mime: bytes) -> str:
    """Which attached e-mail a MIME part is: its subject and body with white space dropped, so the
    key survives the re-folding a message/rfc822 part goes through inside its parent's MIME."""
    fields = parse_mime(mime)[0]
    text = "\0".join(str(fields.get(k) or "") for k in ("subject", "body"))
    return hashlib.sha1(re.sub(r"\s+", "", text).encode()).hexdigest()


_ACOLS = (
    "id, item_id, name, content_type, content_id, is_inline, modified, LENGTH(content), parent_id, item_data"
)


class AttachmentRows:
    """Mixed into MailStore, whose connection, lock and transactions it uses."""

    _lock: threading.RLock
    _db: sqlite3.Connection
    tx: Callable[[], AbstractContextManager[sqlite3.Connection]]
    item: Callable[[str], Item | None]
    save_item: Callable[..., Item]

    def _migrate_attachments(self) -> None:
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(attachments)")}
        if "parent_id" not in columns:  # data folders written before attached e-mails nested
            self._db.execute("ALTER TABLE attachments ADD COLUMN parent_id TEXT")
        if "item_data" not in columns:
            self._db.execute("ALTER TABLE attachments ADD COLUMN item_data TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS attachments_parent ON attachments(parent_id, ord)")

    def _insert_attachment(
        self,
        db: sqlite3.Connection,
        item_id: str,
        ordinal: int,
        row: AttachmentRow,
        modified: str,
        embedded: dict[str, Any],
        parent_id: str | None = None,
    ) -> str:
        """One attachment; an attached e-mail also stores its fields and, nested, its attachments."""
        name, ctype, cid, inline, content = row
        att_id = new_id(ATTACHMENT_ID_PREFIX)
        item_data: dict[str, Any] | None = None
        nested: list[AttachmentRow] = []
        if ctype.lower() == "message/rfc822":
            parsed, nested = parse_attached(content)
            exact = embedded.get(embedded_key(content))
            item_data = dict(exact) if isinstance(exact, dict) else parsed
            inner_embedded = item_data.pop(EMBEDDED_KEY, None) or {}
            item_data["has_attachments"] = any(not r[3] for r in nested)
        db.execute(
            "INSERT INTO attachments(id, item_id, ord, name, content_type, content_id, is_inline, modified, "
            "content, parent_id, item_data) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
            (
                att_id,
                item_id,
                ordinal,
                name,
                ctype,
                cid,
                int(inline),
                modified,
                content,
                parent_id,
                json.dumps(item_data) if item_data is not None else None,
            ),
        )
        for n, inner in enumerate(nested):
            self._insert_attachment(db, item_id, n, inner, modified, inner_embedded, parent_id=att_id)
        return att_id

    def _insert_attachments(
        self, db: sqlite3.Connection, item_id: str, rows: list[AttachmentRow], data: dict[str, Any]
    ) -> list[str]:
        embedded = data.get(EMBEDDED_KEY) or {}
        modified = data.get("last_modified") or ""
        return [
            self._insert_attachment(db, item_id, n, row, modified, embedded) for n, row in enumerate(rows)
        ]

    def add_attachment(
        self,
        item_id: str,
        name: str,
        ctype: str,
        cid: str | None,
        inline: bool,
        content: bytes,
        embedded: dict[str, Any] | None = None,
    ) -> str:
        with self.tx() as db:
            item = self.item(item_id)
            if item is None:
                raise KeyError(item_id)
            att_id = self._insert_attachment(
                db,
                item_id,
                len(item.attachments),
                (name, ctype, cid, inline, content),
                item.data.get("last_modified") or "",
                embedded or {},
            )
            item.data["has_attachments"] = bool(item.data.get("has_attachments")) or not inline
            self.save_item(item, "update")
        return att_id

    @staticmethod
    def _attachment(r: Any, content: bytes | None = None) -> Attachment:
        return Attachment(
            r[0],
            r[1],
            r[2] or "",
            r[3] or "application/octet-stream",
            r[4],
            bool(r[5]),
            r[6] or "",
            int(r[7] or 0),
            content,
            r[8],
            json.loads(r[9]) if r[9] else None,
        )

    def attachments(self, item_id: str) -> list[Attachment]:
        """The attachments of a store item (not those inside its attached e-mails)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ACOLS} FROM attachments WHERE item_id=? AND parent_id IS NULL ORDER BY ord",
                (item_id,),
            ).fetchall()
        return [self._attachment(r) for r in rows]

    def nested_attachments(self, att_id: str) -> list[Attachment]:
        """The attachments of an attached e-mail."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ACOLS} FROM attachments WHERE parent_id=? ORDER BY ord", (att_id,)
            ).fetchall()
        return [self._attachment(r) for r in rows]

    def attachment(self, att_id: str) -> Attachment | None:
        with self._lock:
            r = self._db.execute(
                f"SELECT {_ACOLS}, content FROM attachments WHERE id=?", (att_id,)
            ).fetchone()
        return self._attachment(r, bytes(r[10])) if r is not None else None

    def attachment_contents(self, item_id: str) -> list[tuple[Attachment, bytes]]:
        out = []
        for att in self.attachments(item_id):
            full = self.attachment(att.id)
            if full is not None and full.content is not None:
                out.append((full, full.content))
        return out

    def attachment_rows(self, item_id: str) -> tuple[list[AttachmentRow], dict[str, Any]]:
        """An item's attachments as rows to store on a copy, with the exact fields of its
        attached e-mails (so a copy, forward or send keeps them)."""
        rows: list[AttachmentRow] = []
        embedded: dict[str, Any] = {}
        for att, content in self.attachment_contents(item_id):
            rows.append((att.name, att.content_type, att.content_id, att.is_inline, content))
            if att.is_item and att.item_data is not None:
                embedded[embedded_key(content)] = self.embedded_fields(att)
        return rows, embedded

    def embedded_fields(self, att: Attachment) -> dict[str, Any]:
        """The fields of an attached e-mail with those of the e-mails attached to it, recursively."""
        data = dict(att.item_data or {})
        inner: dict[str, Any] = {}
        for child in self.nested_attachments(att.id):
            full = self.attachment(child.id)
            if full is not None and full.is_item and full.content is not None:
                inner[embedded_key(full.content)] = self.embedded_fields(full)
        if inner:
            data[EMBEDDED_KEY] = inner
        return data

    def delete_attachment(self, att_id: str) -> str:
        with self.tx() as db:
            att = self.attachment(att_id)
            if att is None:
                raise KeyError(att_id)
            self._delete_attachment_tree(db, att_id)
            item = self.item(att.item_id)
            if item is not None:
                item.data["has_attachments"] = any(not a.is_inline for a in item.attachments)
                self.save_item(item, "update")
            return att.item_id

    def _delete_attachment_tree(self, db: sqlite3.Connection, att_id: str) -> None:
        for (child,) in db.execute("SELECT id FROM attachments WHERE parent_id=?", (att_id,)).fetchall():
            self._delete_attachment_tree(db, child)
        db.execute("DELETE FROM attachments WHERE id=?", (att_id,))
