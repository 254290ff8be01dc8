"""Regarding categories without servers: names, the EWS category list XML, the journal mapping."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from lxml import etree  # type: ignore[import-untyped]

from addin.bridge_types import RecordRef
from addin.engine.regarding_categories import CategoryState, RegardingCategories, category_names
from addin.errors import MailboxError
from addin.mailbox import ews_categories
from addin.store import MIGRATIONS, Store

A = "00000000-0000-0000-0000-00000000000a"
B = "00000000-0000-0000-0000-00000000000b"
C = "00000000-0000-0000-0000-00000000000c"


def test_names_are_readable_and_unique() -> None:
    refs = [
        RecordRef("account", A, "Fabrikam, Inc."),
        RecordRef("contact", B, "Fabrikam, Inc."),
        RecordRef("account", C, "Fabrikam, Inc."),
    ]
    names = category_names(refs)
    assert names[f"contact:{B}"] == "CRM ▸ Fabrikam, Inc. (Contact)"
    assert len({n.lower() for n in names.values()}) == 3
    assert all(n.startswith("CRM ▸ Fabrikam, Inc.") for n in names.values())
    long = category_names([RecordRef("account", A, "  x \n" * 100)])[f"account:{A}"]
    assert len(long) <= 80 and "\n" not in long and "  " not in long


def test_edited_category_list_keeps_what_the_user_had() -> None:
    xml = (
        b'<?xml version="1.0"?><categories default="Red" lastSavedSession="3" xmlns="CategoryList.xsd">'
        b'<category name="Red" color="0" keyboardShortcut="1" guid="{1}" extra="kept"/>'
        b'<category name="CRM \xe2\x96\xb8 Old" color="7" keyboardShortcut="0" guid="{2}"/>'
        b"</categories>"
    )
    new = ews_categories.edited(xml, ["Track in CRM", "red"], ["crm ▸ old"])
    assert new is not None
    root = etree.fromstring(new)
    assert root.get("lastSavedSession") == "3" and root.nsmap[None] == "CategoryList.xsd"
    cats = [(c.get("name"), c.get("extra")) for c in root]
    assert cats == [("Red", "kept"), ("Track in CRM", None)]  # "red" exists (any case); Old removed
    assert ews_categories.names(new) == ["Red", "Track in CRM"]
    assert ews_categories.edited(new, ["Track in CRM"], ["Nothing"]) is None  # no change, no write
    assert ews_categories.names(None) == []


def test_a_category_list_with_a_dtd_is_refused() -> None:
    bomb = (
        b'<!DOCTYPE c [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<categories><category name="&b;"/></categories>'
    )
    with pytest.raises(MailboxError, match="document type"):
        ews_categories.names(bomb)
    with pytest.raises(MailboxError, match="not readable"):
        ews_categories.names(b"<categories><category")


def test_mapping_resolves_renamed_and_retired_names(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite3")
    cats = RegardingCategories(store)
    cats.pin(RecordRef("account", A, "Fabrikam"))
    cats.plan(cats.wanted_records(5))
    assert [(n, s) for n, _, s in cats.rows()] == [("CRM ▸ Fabrikam", CategoryState.WANTED)]
    cats.plan([RecordRef("account", A, "Fabrikam Group")])  # renamed in the CRM
    states = {n: s for n, _, s in cats.rows()}
    assert states == {"CRM ▸ Fabrikam": CategoryState.RETIRED, "CRM ▸ Fabrikam Group": CategoryState.WANTED}
    for name in ("crm ▸ fabrikam", "CRM ▸ Fabrikam Group"):
        ref = cats.resolve(["Important", name])
        assert ref is not None and ref.id == A
    assert cats.resolve(["Important", "Track in CRM"]) is None
    store.close()


def test_an_existing_journal_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO kv VALUES('recent_regarding', ?)", (f'[{{"table": "account", "id": "{A}"}}]',))
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert [r.id for r in RegardingCategories(store).wanted_records(3)] == [A]
    assert (tmp_path / "old.v1.bak").exists()
    store.close()
