"""Auto-track on in-memory ports: the category, tracked folders, the user's CRM rule, privacy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from addin.bridge_types import TrackOutcome
from addin.crm.mail_methods import DeliveryMethod, FilteringMethod
from addin.engine.autotrack import AutoTrack, AutoTrackSettings
from addin.engine.tracker import Tracker, TrackSettings
from addin.mailbox.memory import MemoryMailbox
from addin.mailbox.types import Address, Message, Sensitivity
from addin.store import Store
from tests.core.engine.engine_kit import CUSTOMER, USER, World
from tests.core.engine.test_tracker_unit import incoming


@pytest.fixture
def store(world: World) -> Store:
    return world.store()


@pytest.fixture
def mailbox(world: World) -> MemoryMailbox:
    return world.mailbox()


def autotrack(world: World, mailbox: MemoryMailbox, store: Store, **settings: object) -> AutoTrack:
    tracker = Tracker(mailbox, world.crm, store, TrackSettings(user_email=USER))
    return AutoTrack(mailbox, tracker, world.crm, store, AutoTrackSettings(user_email=USER, **settings))  # type: ignore[arg-type]


def tracked_subjects(world: World) -> set[str]:
    return {e.subject for e in world.crm.emails.values()}


def test_the_first_run_starts_from_now_and_old_mail_is_never_tracked(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    mailbox.deliver(incoming("Old", categories=("Track in CRM",)))
    assert autotrack(world, mailbox, store).run_once() == []
    assert world.crm.emails == {}
    mailbox.deliver(incoming("New"))
    [result] = autotrack(world, mailbox, store).run_once()
    assert result.outcome is TrackOutcome.TRACKED and tracked_subjects(world) == {"New"}


def test_the_track_category_is_honoured_even_when_the_crm_rule_says_no(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    world.crm.user = replace(
        world.crm.user,
        incoming_method=DeliveryMethod.SERVER_SIDE_SYNC,
        filtering_method=FilteringMethod.NO_MAIL,
    )
    autotrack(world, mailbox, store).run_once()
    item = mailbox.deliver(incoming("Plain"))
    assert autotrack(world, mailbox, store).run_once() == []
    mailbox.set_categories(item, ["Track in CRM"])  # the user asks in any mail client
    [result] = autotrack(world, mailbox, store).run_once()
    assert result.outcome is TrackOutcome.TRACKED
    [marked] = mailbox.fetch([item])
    assert isinstance(marked, Message) and "Track in CRM" not in marked.categories
    assert "Tracked in CRM" in marked.categories
    # Its own change (the marks) does not track it a second time.
    assert autotrack(world, mailbox, store).run_once() == [] and len(world.crm.emails) == 1


def test_the_crm_rule_tracks_mail_from_contacts_only(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    world.crm.user = replace(world.crm.user, filtering_method=FilteringMethod.FROM_CONTACTS)
    autotrack(world, mailbox, store).run_once()
    mailbox.deliver(incoming("From a contact"))
    mailbox.deliver(incoming("From a stranger", sender=Address("someone@unknown.example")))
    results = autotrack(world, mailbox, store).run_once()
    assert sorted(r.outcome for r in results) == [TrackOutcome.SKIPPED, TrackOutcome.TRACKED]
    assert tracked_subjects(world) == {"From a contact"}


@pytest.mark.parametrize("sensitivity", [Sensitivity.PRIVATE, Sensitivity.PERSONAL, Sensitivity.CONFIDENTIAL])
def test_private_mail_is_never_tracked_automatically(
    world: World, mailbox: MemoryMailbox, store: Store, sensitivity: Sensitivity
) -> None:
    world.crm.user = replace(world.crm.user, filtering_method=FilteringMethod.ALL_MAIL)
    autotrack(world, mailbox, store).run_once()
    mailbox.deliver(incoming("Private", sensitivity=sensitivity))
    autotrack(world, mailbox, store).run_once()
    assert world.crm.emails == {}


def test_internal_mail_and_the_never_track_list_are_skipped(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    world.crm.user = replace(world.crm.user, filtering_method=FilteringMethod.ALL_MAIL)
    auto = autotrack(world, mailbox, store, never_track=("fabrikam.example",))
    auto.run_once()
    mailbox.deliver(incoming("Colleague", sender=Address("sam@contoso.example")))
    mailbox.deliver(incoming("Blocked domain", sender=Address(CUSTOMER)))
    mailbox.deliver(incoming("Customer", sender=Address("dan@northwind.example")))
    autotrack(world, mailbox, store, never_track=("fabrikam.example",)).run_once()
    assert tracked_subjects(world) == {"Customer"}


def test_no_automatic_tracking_when_server_side_sync_owns_incoming_mail(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    world.crm.user = replace(
        world.crm.user,
        incoming_method=DeliveryMethod.SERVER_SIDE_SYNC,
        filtering_method=FilteringMethod.ALL_MAIL,
    )
    autotrack(world, mailbox, store).run_once()
    mailbox.deliver(incoming("Anything"))
    assert autotrack(world, mailbox, store).run_once() == [] and world.crm.emails == {}


def test_a_tracked_folder_tracks_arrivals_regarding_its_record(
    world: World, mailbox: MemoryMailbox, store: Store
) -> None:
    world.crm.user = replace(world.crm.user, filtering_method=FilteringMethod.NO_MAIL)
    deal = world.crm.add_record("opportunity", "Fabrikam deal")
    folder = mailbox.add_folder("Fabrikam")
    settings = {"tracked_folders": {"Inbox/Fabrikam": deal}}
    autotrack(world, mailbox, store, **settings).run_once()
    mailbox.deliver(incoming("Filed"), folder.id)
    [result] = autotrack(world, mailbox, store, **settings).run_once()
    assert result.outcome is TrackOutcome.TRACKED
    assert world.crm.emails[result.activity_id or ""].regarding == deal
