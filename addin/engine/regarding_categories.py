"""Regarding categories: track with a Regarding from any mail client.

The bridge keeps a few categories in the mailbox's master category list — the request
category ("Track in CRM") plus one per pinned or recently used Regarding record, named
``CRM ▸ <record name>`` — and maps each name to its record in the journal.  A message that
carries one is tracked with that Regarding (or, when already tracked, gets that Regarding),
and the tracker swaps the category for "Tracked in CRM".

Keeping the list current (:meth:`RegardingCategories.refresh`): records are renamed in the
CRM, unpinned, pushed out by newer ones past the user's limit, or deleted.  A category name
that is no longer wanted is removed from the master list but stays in the journal (state
``gone``) for a while, so a message that a phone or an offline client tagged with the old
name is still tracked with the right record.  A category's display name cannot be changed
(Graph documents it as immutable), so a rename is "add the new name, remove the old one".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from addin.bridge_types import TABLE_LABELS, RecordRef
from addin.crm import records as r
from addin.errors import ConfigError
from addin.mailbox.port import Mailbox
from addin.store import Store, parse_ts, utcnow

if TYPE_CHECKING:
    from addin.crm.port import CrmPort

log = logging.getLogger(__name__)

PREFIX = "CRM ▸ "
# Outlook limits a category name to 255 characters; a readable name is much shorter.
MAX_NAME = 80
# A name removed from the master list keeps resolving this long (offline clients, phones).
GONE_KEPT = timedelta(days=30)


class CategoryState(StrEnum):
    WANTED = "wanted"  # should be in the master list, not confirmed there yet
    LISTED = "listed"  # in the master list
    RETIRED = "retired"  # to be removed from the master list
    GONE = "gone"  # removed from the list; still resolves on messages that carry it


def _ref(spec: str, name: str = "", detail: str = "") -> RecordRef:
    table, _, rid = spec.partition(":")
    return RecordRef(table, rid, name, detail)


def category_names(refs: Sequence[RecordRef], prefix: str = PREFIX) -> dict[str, str]:
    """Readable, unique category names (spec -> name): ``CRM ▸ Fabrikam, Inc.``; a name two
    records share gets the table (``… (Account)``), then a short id."""

    def base(ref: RecordRef) -> str:
        name = " ".join((ref.name or f"{TABLE_LABELS.get(ref.table, ref.table)} {ref.id[:8]}").split())
        return (prefix + name)[:MAX_NAME].rstrip()

    names = {ref.to_spec(): base(ref) for ref in refs}
    # Two records with one name: add the table, then the record id's tail, then the whole id.
    for attempt in range(3):
        counts: dict[str, int] = {}
        for name in names.values():
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
        for ref in refs:
            spec = ref.to_spec()
            if counts[names[spec].lower()] > 1:
                label = TABLE_LABELS.get(ref.table, ref.table)
                suffix = (f" ({label})", f" [{ref.id[-8:]}]", f" [{ref.id}]")[attempt]
                names[spec] = base(ref)[: MAX_NAME - len(suffix)] + suffix
    return names


def keyword_of(name: str) -> str:
    """The ASCII keyword form of a category name, for mailboxes without a master list (IMAP
    keywords are atoms): lower case, every run of other characters one ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


class RegardingCategories:
    """The journal's Regarding categories and pins, and their upkeep in the master list."""

    def __init__(self, store: Store, *, prefix: str = PREFIX) -> None:
        self.store = store
        self.prefix = prefix

    # -- pins -------------------------------------------------------------------------------

    def pin(self, ref: RecordRef) -> None:
        if ref.table not in r.REGARDING_TABLES:
            raise ConfigError(f"A {ref.table!r} record cannot be a Regarding.", title="Cannot pin")
        now = utcnow().isoformat()
        with self.store._tx() as db:
            db.execute(
                "INSERT INTO regarding_pins(regarding, record_name, detail, pinned_at) VALUES(?,?,?,?) "
                "ON CONFLICT(regarding) DO UPDATE SET record_name=excluded.record_name, "
                "detail=excluded.detail",
                (ref.to_spec(), ref.name, ref.detail, now),
            )

    def unpin(self, ref: RecordRef) -> bool:
        with self.store._tx() as db:
            return db.execute("DELETE FROM regarding_pins WHERE regarding=?", (ref.to_spec(),)).rowcount > 0

    def pins(self) -> list[RecordRef]:
        rows = self.store._query(
            "SELECT regarding, record_name, detail FROM regarding_pins ORDER BY pinned_at, regarding"
        )
        return [_ref(row["regarding"], row["record_name"], row["detail"]) for row in rows]

    def recent(self) -> list[RecordRef]:
        """Records recently chosen as Regarding (the facade keeps this list in the journal)."""
        stored = self.store.get("recent_regarding") or []
        return [
            RecordRef(
                str(e.get("table")), str(e.get("id")), str(e.get("name") or ""), str(e.get("detail") or "")
            )
            for e in stored
            if isinstance(e, dict) and e.get("table") in r.REGARDING_TABLES and e.get("id")
        ]

    def wanted_records(self, limit: int) -> list[RecordRef]:
        """Pinned records first (oldest pin first), then recent ones, at most ``limit``."""
        chosen: dict[str, RecordRef] = {}
        for ref in [*self.pins(), *self.recent()]:
            chosen.setdefault(ref.to_spec(), ref)
        return list(chosen.values())[: max(limit, 0)]

    # -- the mapping ------------------------------------------------------------------------

    def rows(self, *states: CategoryState) -> list[tuple[str, RecordRef, CategoryState]]:
        wanted = states or tuple(CategoryState)
        marks = ",".join("?" * len(wanted))
        rows = self.store._query(
            "SELECT category, regarding, record_name, state FROM regarding_categories "
            f"WHERE state IN ({marks}) ORDER BY rowid",
            tuple(s.value for s in wanted),
        )
        return [
            (row["category"], _ref(row["regarding"], row["record_name"]), CategoryState(row["state"]))
            for row in rows
        ]

    def resolve(self, categories: Sequence[str]) -> RecordRef | None:
        """The Regarding a message's categories ask for (the first mapped one), or None.

        A name matches as written (any case) or in its keyword form (:func:`keyword_of`), which
        is how IMAP carries it: ``crm_fabrikam_inc`` stands for ``CRM ▸ Fabrikam, Inc.``."""
        candidates = [c for c in categories if c]
        if not candidates:
            return None
        rows = self.store._query("SELECT category, regarding, record_name FROM regarding_categories")
        by_name: dict[str, RecordRef] = {}
        for row in rows:
            ref = _ref(row["regarding"], row["record_name"])
            by_name.setdefault(row["category"].lower(), ref)
            by_name.setdefault(keyword_of(row["category"]), ref)
        for name in candidates:
            hit = by_name.get(name.lower()) or by_name.get(keyword_of(name))
            if hit is not None:
                return hit
        return None

    def is_regarding_category(self, name: str) -> bool:
        return self.resolve([name]) is not None

    # -- upkeep ----------------------------------------------------------------------------

    def plan(self, refs: Sequence[RecordRef]) -> None:
        """Record in the journal which names should be listed for these records (fresh names)."""
        names = category_names(refs, self.prefix)
        by_spec = {ref.to_spec(): ref for ref in refs}
        now = utcnow().isoformat()
        with self.store._tx() as db:
            current = {
                row["category"].lower(): (row["category"], row["regarding"], row["state"])
                for row in db.execute("SELECT category, regarding, state FROM regarding_categories")
            }
            wanted_lower = {n.lower() for n in names.values()}
            for name_lower, (name, _spec, state) in current.items():
                if name_lower not in wanted_lower and state in (CategoryState.WANTED, CategoryState.LISTED):
                    db.execute(
                        "UPDATE regarding_categories SET state=?, updated_at=? WHERE category=?",
                        (CategoryState.RETIRED.value, now, name),
                    )
            for spec, name in names.items():
                old = current.get(name.lower())
                state = (
                    CategoryState.LISTED.value
                    if old and old[1] == spec and old[2] == CategoryState.LISTED
                    else CategoryState.WANTED.value
                )
                db.execute(
                    "INSERT INTO regarding_categories(category, regarding, record_name, state, updated_at) "
                    "VALUES(?,?,?,?,?) ON CONFLICT(category) DO UPDATE SET regarding=excluded.regarding, "
                    "record_name=excluded.record_name, state=excluded.state, updated_at=excluded.updated_at",
                    (name, spec, by_spec[spec].name, state, now),
                )
            cutoff = utcnow() - GONE_KEPT
            for name_lower, (name, _spec, state) in current.items():
                if state == CategoryState.GONE and name_lower not in wanted_lower:
                    row = db.execute(
                        "SELECT updated_at FROM regarding_categories WHERE category=?", (name,)
                    ).fetchone()
                    if row is not None and parse_ts(row[0]) < cutoff:
                        db.execute("DELETE FROM regarding_categories WHERE category=?", (name,))

    def sync_master_list(self, mailbox: Mailbox, request_category: str) -> tuple[list[str], list[str]]:
        """Bring the master list in step with the journal; returns (added, removed) names.

        One read of the list, and one write only when something differs, so a refresh that
        finds everything in place costs one request."""
        keep = [
            request_category,
            *(name for name, _, _ in self.rows(CategoryState.WANTED, CategoryState.LISTED)),
        ]
        retired = [name for name, _, _ in self.rows(CategoryState.RETIRED)]
        present = {n.lower() for n in mailbox.master_categories()}
        add = [n for n in dict.fromkeys(keep) if n and n.lower() not in present]
        remove = [n for n in retired if n.lower() in present and n.lower() not in {k.lower() for k in keep}]
        if add or remove:
            mailbox.update_master_categories(add, remove)
        now = utcnow().isoformat()
        with self.store._tx() as db:
            db.execute(
                "UPDATE regarding_categories SET state=?, updated_at=? WHERE state=?",
                (CategoryState.LISTED.value, now, CategoryState.WANTED.value),
            )
            db.execute(
                "UPDATE regarding_categories SET state=?, updated_at=? WHERE state=?",
                (CategoryState.GONE.value, now, CategoryState.RETIRED.value),
            )
        return add, remove

    def refresh(
        self, mailbox: Mailbox, crm: CrmPort, *, limit: int, request_category: str
    ) -> tuple[list[str], list[str]]:
        """Fresh record names from the CRM, the journal's plan, then the master list."""
        refs = self.wanted_records(limit)
        if refs:
            names = crm.current_names(refs)
            missing = [ref for ref in refs if ref.to_spec() not in names]
            for ref in missing:
                log.info("Regarding %s no longer exists in the CRM; its category is removed", ref.to_spec())
            refs = [
                RecordRef(ref.table, ref.id, names[ref.to_spec()] or ref.name, ref.detail)
                for ref in refs
                if ref.to_spec() in names
            ]
        self.plan(refs)
        try:
            return self.sync_master_list(mailbox, request_category)
        except NotImplementedError:
            # IMAP: no master list; the mapping alone serves keywords set by any client.
            log.info("%s has no master category list; Regarding keywords only", mailbox.backend_name)
            return [], []
