"""Regarding categories end to end, on EWS and on Graph, against both sandboxes over real HTTP.

The bridge writes "Track in CRM" and one "CRM ▸ <record>" category per pinned or recent
record into the mailbox's master list (EWS: the CategoryList user configuration item; Graph:
/me/outlook/masterCategories — the sandbox serves one list to both faces, as Exchange does).
Another mail client (here: an EWS connection of the same user, whichever backend the bridge
uses) puts such a category on a message; the bridge's next mailbox round tracks it once with
that Regarding and swaps the category for "Tracked in CRM".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_helpers import USER, crm_get, crm_patch, emails, first_record

from addin.bridge_types import RecordRef, TrackOutcome
from addin.demo import DemoEnvironment, demo_profile, start_demo
from addin.engine.regarding_categories import CategoryState
from addin.mailbox.ews import EwsMailbox
from addin.mailbox.types import FolderKind

pytestmark = pytest.mark.integration

TRACKED = "Tracked in CRM"


@pytest.fixture(params=["ews", "graph"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path, backend=request.param)
    yield environment
    environment.close()


def _other_client(env: DemoEnvironment) -> EwsMailbox:
    """A second mail client of the same user, over EWS (as Outlook would be)."""
    return EwsMailbox.from_settings(
        demo_profile(env.crm, env.mail, backend="ews").mailbox_settings(), lambda: "demo"
    )


def _master_list(env: DemoEnvironment) -> list[str]:
    """What every client sees: the sandbox's one master list (also checked over both wires below)."""
    return [name for _, name, _ in env.mail.store.categories(USER)]


def _inbox_item(env: DemoEnvironment, item_id: str) -> dict:  # type: ignore[type-arg]
    return next(i for i in env.mail.items(USER, "inbox") if i["id"] == item_id)


def test_a_regarding_category_from_another_client_tracks_once_with_that_regarding(
    env: DemoEnvironment,
) -> None:
    bridge = env.bridge
    account_id, account_name = first_record(env, "accounts", "accountid", "name")
    pinned = bridge.pin_regarding(RecordRef("account", account_id))
    assert pinned.name == account_name  # the name comes from the CRM
    added, removed = bridge.refresh_regarding_categories()
    category = f"CRM ▸ {account_name}"
    assert added == ["Track in CRM", category] and removed == []
    assert _master_list(env) == ["Track in CRM", category]
    other = _other_client(env)
    try:
        # Both wires read the same list: the EWS CategoryList item and the bridge's own backend.
        assert other.master_categories() == ["Track in CRM", category]
        assert bridge._mailbox.master_categories() == ["Track in CRM", category]
        # A second refresh finds everything in place and writes nothing.
        assert bridge.refresh_regarding_categories() == ([], [])

        autotrack = bridge._autotrack
        assert autotrack.run_once() == []  # the first round only establishes "now"
        inbox = bridge._mailbox.folder(FolderKind.INBOX)
        old = bridge.messages(inbox.id, limit=50).items[-1]
        before = len(emails(env))
        other.set_categories(old.id, ["Important", category])

        results = autotrack.run_once()
        assert [(r.item_id, r.outcome) for r in results] == [(old.id, TrackOutcome.TRACKED)]
        rows = emails(env, f"activityid eq {results[0].activity_id}")
        assert len(rows) == 1 and rows[0]["_regardingobjectid_value"] == account_id
        assert len(emails(env)) == before + 1
        # The request is swapped for "Tracked in CRM"; the user's own category stays.
        assert _inbox_item(env, old.id)["categories"] == ["Important", TRACKED]
        assert autotrack.run_once() == []  # nothing more to do, nothing tracked twice
        assert len(emails(env)) == before + 1

        # The same message, now tagged with another pinned record: one e-mail, new Regarding.
        contact_id, contact_name = first_record(env, "contacts", "contactid", "fullname")
        bridge.pin_regarding(RecordRef("contact", contact_id))
        bridge.refresh_regarding_categories()
        other.set_categories(old.id, [TRACKED, f"CRM ▸ {contact_name}"])
        results = autotrack.run_once()
        assert [(r.item_id, r.outcome) for r in results] == [(old.id, TrackOutcome.ALREADY_TRACKED)]
        rows = emails(env, f"activityid eq {results[0].activity_id}")
        assert rows[0]["_regardingobjectid_value"] == contact_id
        assert len(emails(env)) == before + 1
        assert _inbox_item(env, old.id)["categories"] == [TRACKED]
    finally:
        other.close()


def test_the_master_list_follows_renames_unpins_and_the_limit(env: DemoEnvironment) -> None:
    bridge = env.bridge
    accounts = crm_get(env, "accounts?$select=accountid,name&$orderby=name&$top=3")["value"]
    refs = [RecordRef("account", a["accountid"]) for a in accounts]
    for ref in refs:
        bridge.pin_regarding(ref)
    bridge.update_settings({"tracking.regarding_categories": 2})
    bridge.refresh_regarding_categories()
    names = [f"CRM ▸ {a['name']}" for a in accounts]
    assert _master_list(env) == ["Track in CRM", *names[:2]]  # the limit: oldest pins first

    # A record renamed in the CRM: the new name is added, the old one removed, yet a message
    # a phone tagged with the old name still resolves to the record.
    crm_patch(env, f"accounts({accounts[0]['accountid']})", {"name": "Renamed Holdings"})
    added, removed = bridge.refresh_regarding_categories()
    assert added == ["CRM ▸ Renamed Holdings"] and removed == [names[0]]
    assert _master_list(env) == ["Track in CRM", names[1], "CRM ▸ Renamed Holdings"]
    resolved = bridge.regarding_categories.resolve([names[0]])
    assert resolved is not None and resolved.id == accounts[0]["accountid"]

    # Unpinned: removed from the list; the third pin moves up into the limit.
    bridge.unpin_regarding(refs[1])
    added, removed = bridge.refresh_regarding_categories()
    assert added == [names[2]] and removed == [names[1]]
    listed = {c.category: c for c in bridge.regarding_category_list()}
    assert set(listed) == {"CRM ▸ Renamed Holdings", names[2]}
    assert all(c.state is CategoryState.LISTED and c.pinned for c in listed.values())

    # A user's own categories are never touched.
    other = _other_client(env)
    try:
        other.update_master_categories(["Customer call"], [])
        bridge.update_settings({"tracking.regarding_categories": 0})
        bridge.refresh_regarding_categories()
        assert _master_list(env) == ["Track in CRM", "Customer call"]
    finally:
        other.close()
