"""Track in CRM and the CRM outbox, end to end against both sandboxes over real HTTP."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flow_helpers import (
    USER,
    contact_addresses,
    crm_get,
    crm_patch,
    emails,
    first_record,
    mime,
    stamps,
)

from addin.bridge_types import OutboxState, RecordRef, TrackOutcome
from addin.demo import DemoEnvironment, start_demo
from addin.engine.outbox import OutboxSettings
from addin.mailbox.types import FolderKind
from addin.store import utcnow

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path, outbox_settings=OutboxSettings(grace=timedelta(seconds=0)))
    yield environment
    environment.close()


def _inbox_from_contacts(env: DemoEnvironment) -> list:  # type: ignore[type-arg]
    contacts = set(contact_addresses(env))
    inbox = env.bridge._mailbox.folder(FolderKind.INBOX)
    items = env.bridge.messages(inbox.id, limit=100).items
    return [m for m in items if not m.private and m.sender.rpartition("<")[2].rstrip(">").lower() in contacts]


def test_track_with_regarding_creates_one_activity_and_marks_the_message(env: DemoEnvironment) -> None:
    bridge = env.bridge
    opp_id, opp_name = first_record(env, "opportunities", "opportunityid", "name")
    regarding = RecordRef("opportunity", opp_id, opp_name)
    messages = _inbox_from_contacts(env)
    assert messages, "the demo inbox has mail from CRM contacts"
    target = next((m for m in messages if m.has_attachments), messages[0])

    [result] = bridge.track([target.id], regarding)
    assert result.outcome is TrackOutcome.TRACKED, result.message
    row = crm_get(
        env,
        f"emails({result.activity_id})?$select=statuscode,directioncode,messageid,_regardingobjectid_value"
        "&$expand=email_activity_parties($select=participationtypemask,addressused,_partyid_value)",
    )
    assert row["statuscode"] == 4 and row["directioncode"] is False  # Received
    assert row["_regardingobjectid_value"] == opp_id
    sender = [p for p in row["email_activity_parties"] if p["participationtypemask"] == 1]
    assert sender and sender[0]["_partyid_value"], "the customer sender is resolved to a CRM record"
    assert any(p["participationtypemask"] == 2 for p in row["email_activity_parties"])
    if target.has_attachments:
        atts = crm_get(env, f"activitymimeattachments?$filter=_objectid_value eq {result.activity_id}")[
            "value"
        ]
        assert atts, "attachments are tracked with the e-mail"

    item = next(i for i in env.mail.items(USER, "inbox") if i["id"] == target.id)
    assert "Tracked in CRM" in item["categories"]
    assert item["extended_properties"]["CrmBridgeActivityId"] == result.activity_id

    # Tracking again (a second click, a retry) finds the same activity.
    [again] = bridge.track([target.id], regarding)
    assert again.outcome is TrackOutcome.ALREADY_TRACKED and again.activity_id == result.activity_id
    assert len(emails(env, f"messageid eq '{row['messageid']}'")) == 1
    assert any(e.action == "tracked" for e in bridge.recent_activity())


def test_mail_from_sent_items_is_tracked_as_sent(env: DemoEnvironment) -> None:
    sent = env.bridge._mailbox.folder(FolderKind.SENT)
    items = env.bridge.messages(sent.id, limit=20).items
    assert items
    [result] = env.bridge.track([items[0].id])
    assert result.outcome is TrackOutcome.TRACKED, result.message
    row = crm_get(env, f"emails({result.activity_id})?$select=statuscode,directioncode")
    assert (row["statuscode"], row["directioncode"]) == (3, True)


def test_category_folder_and_autotrack_rules(env: DemoEnvironment) -> None:
    bridge = env.bridge
    autotrack = bridge._autotrack
    before = len(emails(env))
    assert autotrack.run_once() == []  # the first sync tracks nothing retroactively
    assert len(emails(env)) == before

    # The "Track in CRM" category, put on an old message from any mail client.
    old = _inbox_from_contacts(env)[-1]
    bridge._mailbox.set_categories(old.id, ["Track in CRM"])
    results = autotrack.run_once()
    assert [r.item_id for r in results if r.outcome is TrackOutcome.TRACKED] == [old.id]
    item = next(i for i in env.mail.items(USER, "inbox") if i["id"] == old.id)
    assert item["categories"] == ["Tracked in CRM"]

    contact = contact_addresses(env)[0]
    env.mail.deliver(USER, mime(contact, "Renewal question"))
    env.mail.deliver(USER, mime(contact, "Dinner?", Sensitivity="Private"))
    env.mail.deliver(USER, mime("maria@contoso.example", "Team lunch"))  # internal
    env.mail.deliver(USER, mime("stranger@unknown.example", "Cold pitch"))  # not in the CRM
    results = autotrack.run_once()
    tracked = [r.subject for r in results if r.outcome is TrackOutcome.TRACKED]
    assert tracked == ["Renewal question"]
    subjects = {e["subject"] for e in emails(env)}
    assert "Dinner?" not in subjects and "Team lunch" not in subjects and "Cold pitch" not in subjects


def test_outbox_sends_each_email_once_with_a_sent_items_copy(env: DemoEnvironment) -> None:
    contacts = contact_addresses(env)
    queued = [env.crm.queue_email(contacts[i], f"Quote {i}", f"<p>Quote number {i}</p>") for i in range(3)]
    outbox = env.bridge._outbox_engine
    outbox.poll()
    outbox.poll()  # a second poll sends nothing more
    copies = Counter(stamps(env))
    for activity_id in queued:
        row = crm_get(env, f"emails({activity_id})?$select=statuscode,messageid")
        assert row["statuscode"] == 3
        assert copies[activity_id] == 1
        copy = next(
            i
            for i in env.mail.items(USER, "sentitems")
            if i["extended_properties"].get("CrmBridgeActivityId") == activity_id
        )
        assert copy["message_id"] == row["messageid"], "the CRM holds the Message-ID of the real copy"
    assert env.bridge.outbox() == []


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("ok@fabrikam.example", "Quote\r\nBcc: thief@evil.example"),
        ("victim@fabrikam.example\r\nBcc: thief@evil.example", "Quote"),
        ("two@fabrikam.example, three@fabrikam.example", "Quote"),
    ],
)
def test_outbox_refuses_header_injection_per_item(env: DemoEnvironment, to: str, subject: str) -> None:
    good = env.crm.queue_email(contact_addresses(env)[0], "Fine", "<p>ok</p>")
    bad = env.crm.queue_email(to, subject, "<p>bad</p>")
    env.bridge._outbox_engine.poll()
    assert crm_get(env, f"emails({good})?$select=statuscode")["statuscode"] == 3
    assert crm_get(env, f"emails({bad})?$select=statuscode")["statuscode"] == 8
    assert bad not in stamps(env)
    failed = [i for i in env.bridge.outbox() if i.activity_id == bad]
    assert failed and failed[0].state is OutboxState.FAILED and failed[0].reason
    issue = next(i for i in env.bridge.issues() if i.target == bad)
    assert issue.action == "retry_outbox"


def test_outbox_honours_send_later_and_server_side_sync(env: DemoEnvironment) -> None:
    later = env.crm.queue_email(contact_addresses(env)[0], "Later", "<p>later</p>")
    # "Send later" is chosen in the CRM before the e-mail is queued; set it as the CRM would.
    env.crm.db.update("emails", later, {"delayedemailsendtime": (utcnow() + timedelta(hours=2)).isoformat()})
    env.bridge._outbox_engine.poll()
    assert crm_get(env, f"emails({later})?$select=statuscode")["statuscode"] == 6
    assert [i.state for i in env.bridge.outbox()] == [OutboxState.SCHEDULED]

    now = env.crm.queue_email(contact_addresses(env)[0], "Now", "<p>now</p>")
    ctx = env.bridge._crm.context()
    assert ctx.mailbox_id
    crm_patch(env, f"mailboxes({ctx.mailbox_id})", {"outgoingemaildeliverymethod": 2})
    env.bridge._crm.context(refresh=True)
    env.bridge._outbox_engine.poll()
    assert crm_get(env, f"emails({now})?$select=statuscode")["statuscode"] == 6  # never sent by us
    assert now not in stamps(env)


def test_a_reply_inherits_the_regarding_of_the_sent_email(env: DemoEnvironment) -> None:
    autotrack = env.bridge._autotrack
    autotrack.run_once()
    account_id, _ = first_record(env, "accounts", "accountid", "name")
    contact = contact_addresses(env)[1]
    sent_id = env.crm.queue_email(
        contact, "Pricing", "<p>Our pricing</p>", regarding=("accounts", account_id)
    )
    env.bridge._outbox_engine.poll()
    message_id = crm_get(env, f"emails({sent_id})?$select=messageid")["messageid"]
    env.mail.deliver(
        USER, mime(contact, "Re: Pricing", "Thanks", In_Reply_To=message_id, References=message_id)
    )
    results = autotrack.run_once()
    reply = next(r for r in results if r.outcome is TrackOutcome.TRACKED)
    row = crm_get(env, f"emails({reply.activity_id})?$select=_regardingobjectid_value")
    assert row["_regardingobjectid_value"] == account_id


def test_set_regarding_and_untrack(env: DemoEnvironment) -> None:
    bridge = env.bridge
    message = _inbox_from_contacts(env)[0]
    [tracked] = bridge.track([message.id])
    account_id, account_name = first_record(env, "accounts", "accountid", "name")
    bridge.set_regarding([message.id], RecordRef("account", account_id, account_name))
    row = crm_get(env, f"emails({tracked.activity_id})?$select=_regardingobjectid_value")
    assert row["_regardingobjectid_value"] == account_id
    assert bridge.recent_regarding()[0].id == account_id
    bridge.untrack([message.id], delete_activity=True)
    assert emails(env, f"activityid eq {tracked.activity_id}") == []
    item = next(i for i in env.mail.items(USER, "inbox") if i["id"] == message.id)
    assert "Tracked in CRM" not in item["categories"]
    assert not item["extended_properties"].get("CrmBridgeActivityId")


def test_dropped_eml_file_is_tracked_once(env: DemoEnvironment) -> None:
    contact = contact_addresses(env)[2]
    data = mime(contact, "Dropped from Thunderbird", "Body text")
    first = env.bridge.track_file(data, "message.eml")
    second = env.bridge.track_file(data, "message.eml")
    assert first.outcome is TrackOutcome.TRACKED
    assert second.outcome is TrackOutcome.ALREADY_TRACKED and second.activity_id == first.activity_id


def test_a_reply_without_headers_correlates_by_tracking_token(env: DemoEnvironment) -> None:
    """A reply from a client that drops In-Reply-To still carries the token in the subject."""
    autotrack = env.bridge._autotrack
    autotrack.run_once()
    opp_id, _ = first_record(env, "opportunities", "opportunityid", "name")
    contact = contact_addresses(env)[3]
    sent_id = env.crm.queue_email(
        contact, "Contract draft", "<p>Draft</p>", regarding=("opportunities", opp_id)
    )
    env.bridge._outbox_engine.poll()
    sent = crm_get(env, f"emails({sent_id})?$select=subject,trackingtoken")
    assert sent["trackingtoken"] and sent["trackingtoken"] in sent["subject"]
    env.mail.deliver(USER, mime(contact, f"AW: {sent['subject']}", "Signed, see attached"))
    results = autotrack.run_once()
    reply = next(r for r in results if r.outcome is TrackOutcome.TRACKED)
    row = crm_get(env, f"emails({reply.activity_id})?$select=_regardingobjectid_value")
    assert row["_regardingobjectid_value"] == opp_id


def test_changed_settings_reach_the_running_engine(env: DemoEnvironment) -> None:
    bridge = env.bridge
    mail_job = next(j for j in bridge._scheduler.jobs if j.name == "mailbox")
    mail_job.run()  # first sync: "now"
    contact = contact_addresses(env)[4]
    bridge.update_settings(
        {"tracking.never_track": ["@" + contact.rpartition("@")[2]], "tracking.poll_seconds": 120}
    )
    assert mail_job.interval == timedelta(seconds=120)
    env.mail.deliver(USER, mime(contact, "Never track this sender"))
    mail_job.run()
    assert "Never track this sender" not in {e["subject"] for e in emails(env)}
    bridge.update_settings({"tracking.never_track": []})
    env.mail.deliver(USER, mime(contact, "Track this one"))
    mail_job.run()
    assert "Track this one" in {e["subject"] for e in emails(env)}


def test_scheduled_mail_never_crowds_out_mail_that_is_due(env: DemoEnvironment) -> None:
    """More Send-later e-mails than fit in one poll's page must not hold back one that is due."""
    contact = contact_addresses(env)[0]
    outbox = env.bridge._outbox_engine
    later = utcnow() + timedelta(days=1)
    for i in range(outbox.settings.page_size + 5):
        scheduled = env.crm.queue_email(contact, f"Scheduled {i}", "<p>later</p>")
        env.crm.db.update("emails", scheduled, {"delayedemailsendtime": later.isoformat()})
    due = env.crm.queue_email(contact, "Due now", "<p>now</p>")
    outbox.poll()
    assert crm_get(env, f"emails({due})?$select=statuscode")["statuscode"] == 3
    assert len(stamps(env)) == 1


def test_a_category_set_elsewhere_is_tracked_without_waiting_for_the_poll(env: DemoEnvironment) -> None:
    """EWS streaming tells the running bridge of the change; the hour-long poll is not what tracks it."""
    bridge = env.bridge
    bridge.update_settings({"tracking.poll_seconds": 3600, "sending.poll_seconds": 3600})
    old = _inbox_from_contacts(env)[-1]
    bridge.start()
    try:
        deadline = time.monotonic() + 30
        while bridge._scheduler.last_synced is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bridge._scheduler.last_synced is not None, "the first sync ran"
        time.sleep(1.0)  # the watcher subscribes after the first sync's folders are known
        # Another mail client (here: a second connection of the same user) sets the category.
        other = env.bridge._mailbox.__class__.from_settings(bridge.profile.mailbox_settings(), lambda: "demo")
        other.set_categories(old.id, ["Track in CRM"])
        other.close()
        subjects: set[str] = set()
        while time.monotonic() < deadline and old.subject not in subjects:
            time.sleep(0.25)
            subjects = {e["subject"] for e in emails(env)}
        assert old.subject in subjects
    finally:
        bridge._scheduler.stop()


def test_an_untracked_message_is_not_tracked_again_by_the_rules(env: DemoEnvironment) -> None:
    autotrack = env.bridge._autotrack
    autotrack.run_once()
    contact = contact_addresses(env)[5]
    env.mail.deliver(USER, mime(contact, "Auto then untracked"))
    [tracked] = [r for r in autotrack.run_once() if r.outcome is TrackOutcome.TRACKED]
    env.bridge.untrack([tracked.item_id], delete_activity=True)
    autotrack.run_once()  # sees the untrack's own changes to the message
    env.bridge._mailbox.set_categories(tracked.item_id, ["Customer"])  # the user files it later
    autotrack.run_once()
    assert "Auto then untracked" not in {e["subject"] for e in emails(env)}
