"""The local journal's schema, as numbered forward migrations.

``Store`` runs the ones a journal has not seen yet, in order, each in its own transaction,
after copying the database aside; ``PRAGMA user_version`` records how many ran.  A migration
is never edited once released: a change is a new entry at the end.
"""

from __future__ import annotations

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
