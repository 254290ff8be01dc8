"""The facade: a selection is answered message by message, and its engine is built once.

Untrack and Set Regarding never stop a selection at the first failure (DESIGN §2): each
message gets its own result, and the mailbox is marked for the whole selection in one
batched call.  The mailbox and the CRM here are small fakes that record what they are asked
(the sandboxes cover the real clients in tests/integration).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from addin.bridge import Bridge
from addin.bridge_types import RecordRef, TrackOutcome, TrackResult
from addin.config import Config, Profile
from addin.errors import ConfigError, CrmError
from addin.mailbox.types import Address, FetchFailure, Folder, FolderKind, Mark, Message, MessageSummary
from addin.secrets import KeyringSecrets, MemorySecrets

TRACKED = "Tracked in CRM"


class FakeMailbox:
    def __init__(self, messages: Sequence[Message], refuse_marks: Sequence[str] = ()) -> None:
        self.messages = {m.id: m for m in messages}
        self.refuse_marks = set(refuse_marks)
        self.mark_calls: list[list[Mark]] = []

    def fetch(self, ids: Sequence[str], *, with_attachments: bool = True) -> list[Message | FetchFailure]:
        return [self.messages.get(i) or FetchFailure(i, "No such message in the mailbox") for i in ids]

    def mark_many(self, marks: Sequence[Mark]) -> list[str | None]:
        self.mark_calls.append(list(marks))
        return ["The server refused the change" if m.id in self.refuse_marks else None for m in marks]

    def set_categories(self, item_id: str, categories: Sequence[str]) -> None:
        raise AssertionError("marks go in one batched call, not one call per message")

    def set_stamp(self, item_id: str, stamp: str | None) -> None:
        raise AssertionError("marks go in one batched call, not one call per message")

    def close(self) -> None:
        pass

    folder_calls = 0

    def folder(self, kind: FolderKind) -> Folder:
        self.folder_calls += 1
        return Folder(f"{kind.value}-id", kind.value, kind)

    def find_by_stamp(self, folder_id: str, stamp: str) -> list[MessageSummary]:
        return []


class FakeCrm:
    def __init__(self, refuse: Sequence[str] = ()) -> None:
        self.refuse = set(refuse)
        self.deleted: list[str] = []
        self.regarding: dict[str, RecordRef | None] = {}

    def delete_email(self, activity_id: str) -> None:
        if activity_id in self.refuse:
            raise CrmError("The CRM refused the change: you do not own this e-mail.", status=403)
        self.deleted.append(activity_id)

    def set_regarding(self, activity_id: str, regarding: RecordRef | None) -> None:
        if activity_id in self.refuse:
            raise CrmError("The CRM refused the change: you do not own this e-mail.", status=403)
        self.regarding[activity_id] = regarding


def _message(n: int, *, tracked: bool = True) -> Message:
    return Message(
        id=f"item-{n}",
        folder_id="inbox",
        message_id=f"<m{n}@fabrikam.example>",
        subject=f"Subject {n}",
        sender=Address("jane@fabrikam.example"),
        categories=(TRACKED, "Blue") if tracked else ("Blue",),
        stamp=f"act-{n}" if tracked else None,
    )


@pytest.fixture
def bridge(tmp_path: Path) -> Any:
    profile = Profile("work")
    profile.update({"mailbox.email": "alex@contoso.example", "crm.url": "https://contoso.crm.dynamics.com"})
    b = Bridge(profile, secrets=MemorySecrets(), data_dir=tmp_path / "journal")
    yield b
    b._store.close()


def _wire(bridge: Any, mailbox: FakeMailbox, crm: FakeCrm) -> None:
    bridge._engine._mailbox = mailbox
    bridge._engine._crm = crm
    for m in mailbox.messages.values():
        if m.stamp:
            bridge._store.add_link(m.message_id, m.stamp, item_id=m.id, folder_id="inbox", subject=m.subject)


def test_untrack_goes_on_past_a_failure_and_marks_the_mailbox_once(bridge: Any) -> None:
    mailbox = FakeMailbox([_message(1), _message(2), _message(3), _message(4, tracked=False)])
    crm = FakeCrm(refuse=["act-2"])
    _wire(bridge, mailbox, crm)

    results = bridge.untrack(["item-1", "item-2", "item-3", "item-4", "item-9"], delete_activity=True)

    assert [(r.item_id, r.outcome) for r in results] == [
        ("item-1", TrackOutcome.SKIPPED),
        ("item-2", TrackOutcome.FAILED),
        ("item-3", TrackOutcome.SKIPPED),
        ("item-4", TrackOutcome.SKIPPED),
        ("item-9", TrackOutcome.FAILED),
    ]
    assert [r.message for r in results] == [
        "Untracked",
        "The CRM refused the change: you do not own this e-mail.",
        "Untracked",
        "Not tracked; nothing to undo",
        "No such message in the mailbox",
    ]
    assert crm.deleted == ["act-1", "act-3"]
    # One call for the whole selection: the tracked category and the stamp go, other categories stay.
    assert mailbox.mark_calls == [[Mark("item-1", ("Blue",), None), Mark("item-3", ("Blue",), None)]]
    # The failed one is still tracked (its link kept), so untracking it again can finish the job.
    assert bridge._store.link_by_item("item-2") is not None
    assert bridge._store.link_by_item("item-1") is None and bridge._store.link_by_item("item-3") is None
    assert [e.action for e in bridge.recent_activity()] == ["untracked", "untracked"]


def test_a_message_that_cannot_be_unmarked_fails_alone_and_stays_linked(bridge: Any) -> None:
    mailbox = FakeMailbox([_message(1), _message(2)], refuse_marks=["item-1"])
    crm = FakeCrm()
    _wire(bridge, mailbox, crm)

    first, second = bridge.untrack(["item-1", "item-2"], delete_activity=False)

    assert first.outcome is TrackOutcome.FAILED and "could not be unmarked" in first.message
    assert "The server refused the change" in first.message
    assert second.outcome is TrackOutcome.SKIPPED and second.message == "Untracked"
    assert crm.deleted == []  # kept in the CRM, as asked
    assert bridge._store.link_by_item("item-1") is not None
    assert bridge._store.link_by_item("item-2") is None


def test_set_regarding_goes_on_past_a_failure_and_tracks_the_untracked_in_one_go(
    bridge: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox = FakeMailbox([_message(1), _message(2), _message(3, tracked=False), _message(4, tracked=False)])
    crm = FakeCrm(refuse=["act-2"])
    _wire(bridge, mailbox, crm)
    tracked_calls: list[list[str]] = []

    def track(item_ids: Sequence[str], regarding: RecordRef | None = None) -> list[TrackResult]:
        tracked_calls.append(list(item_ids))
        return [TrackResult(i, TrackOutcome.TRACKED, f"new-{i}", message="Tracked") for i in item_ids]

    monkeypatch.setattr(bridge, "track", track)
    account = RecordRef("account", "acc-1", "Fabrikam, Inc.")

    results = bridge.set_regarding(["item-3", "item-1", "item-2", "item-4"], account)

    assert [(r.item_id, r.outcome) for r in results] == [
        ("item-3", TrackOutcome.TRACKED),
        ("item-1", TrackOutcome.TRACKED),
        ("item-2", TrackOutcome.FAILED),
        ("item-4", TrackOutcome.TRACKED),
    ]
    assert results[2].message == "The CRM refused the change: you do not own this e-mail."
    assert tracked_calls == [["item-3", "item-4"]]  # one track (one batched mark) for both
    assert crm.regarding == {"act-1": account}
    assert bridge._store.link_by_item("item-1").regarding == "account:acc-1"
    assert bridge._store.link_by_item("item-2").regarding is None
    assert bridge.recent_regarding()[0] == account


def test_removing_regarding_from_untracked_mail_says_so_per_message(bridge: Any) -> None:
    _wire(bridge, FakeMailbox([_message(1), _message(2, tracked=False)]), FakeCrm())
    first, second = bridge.set_regarding(["item-1", "item-2"], None)
    assert first.outcome is TrackOutcome.TRACKED and first.message == "Regarding set"
    assert second.outcome is TrackOutcome.FAILED
    assert second.message == "Not tracked; there is no Regarding to remove"


def test_engine_objects_are_built_once_per_connect(bridge: Any) -> None:
    _wire(bridge, FakeMailbox([_message(1)]), FakeCrm())
    tracker, outbox, autotrack = bridge._tracker, bridge._outbox_engine, bridge._autotrack
    assert bridge._tracker is tracker and bridge._outbox_engine is outbox and bridge._autotrack is autotrack
    assert autotrack.tracker is tracker  # AutoTrack tracks through the same Tracker

    bridge.update_settings({"tracking.never_track": ["boss@contoso.example"]})

    # A changed rule is read again: new engine objects, the same connections.
    assert bridge._tracker is not tracker and bridge._autotrack is not autotrack
    assert bridge._autotrack.settings.never_track == ("boss@contoso.example",)
    assert bridge._outbox_engine.mailbox is bridge._engine.mailbox


def test_the_outbox_keeps_its_sent_items_folder_across_polls(bridge: Any) -> None:
    mailbox = FakeMailbox([])
    _wire(bridge, mailbox, FakeCrm())
    for activity_id in ("a1", "a2", "a3"):  # each poll asks Sent Items for the stamped copy
        assert bridge._outbox_engine._copy_message_id(activity_id) is None
    assert mailbox.folder_calls == 1


def test_dropped_files_are_tracked_without_opening_the_mailbox(bridge: Any) -> None:
    bridge._engine._crm = FakeCrm()  # no mailbox: opening one would need settings and a secret
    tracker = bridge._engine.file_tracker
    assert tracker.mailbox is None and bridge._engine._mailbox is None


def test_an_unconfigured_profile_opens_only_for_the_wizard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_BRIDGE_HOME", str(tmp_path))
    cfg = Config()
    cfg.profiles["new"] = Profile("new")
    cfg.save()

    with pytest.raises(ConfigError, match="not set up yet"):
        Bridge.open("new")
    bridge = Bridge.open("new", allow_unconfigured=True)
    try:
        assert bridge.profile.name == "new" and bridge.profile.missing()
        assert isinstance(bridge.secrets, KeyringSecrets)  # the wizard saves secrets to the keyring
    finally:
        bridge.stop()


def test_stopping_twice_is_harmless(tmp_path: Path) -> None:
    profile = Profile("twice")
    bridge = Bridge(profile, secrets=MemorySecrets(), data_dir=tmp_path / "journal")
    bridge.start()  # holds the engine lock and publishes its state in the journal
    bridge.stop()
    bridge.stop()  # e.g. the tray's quit and the interpreter's exit handler both stop it
