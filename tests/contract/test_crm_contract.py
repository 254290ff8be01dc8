"""What every CRM behind the port must do, checked through the port only.

Run over the in-memory CRM and over the Dataverse adapter talking to the sandbox CRM on
loopback: the engine's unit tests trust the in-memory CRM because it gives these answers.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from crm_harness import CrmHarness

from addin.bridge_types import RecordRef
from addin.crm.codes import EmailState, EmailStatus, PartyRole
from addin.crm.port import EmailDraft, Party, PendingEmail
from addin.errors import ConflictError, CrmError
from addin.mailbox.types import Attachment

BINARY = bytes(range(256)) * 2 + b"\x00\xff"


def tag() -> str:
    return uuid.uuid4().hex[:10]


def draft(
    *, outgoing: bool = False, to: str = "alex@contoso.example", sender: str = "", **kw: object
) -> EmailDraft:
    t = tag()
    values: dict[str, object] = {
        "activity_id": str(uuid.uuid4()),
        "subject": f"Contract {t}",
        "description": "<p>Hello</p>",
        "outgoing": outgoing,
        "message_id": f"<{t}@fabrikam.example>",
        "parties": [
            Party(PartyRole.SENDER, sender or f"carol-{t}@fabrikam.example"),
            Party(PartyRole.TO, to),
        ],
        "when": datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    }
    values.update(kw)
    return EmailDraft(**values)  # type: ignore[arg-type]


def pending(h: CrmHarness, activity_id: str, *codes: int) -> PendingEmail:
    rows = h.crm.outbox(h.crm.context(), codes or (EmailStatus.PENDING_SEND,), top=500)
    [row] = [p for p in rows if p.activity_id == activity_id]
    return row


def test_context_names_the_user_and_what_the_crm_allows(crm_harness: CrmHarness) -> None:
    ctx = crm_harness.crm.context()
    assert ctx.email == "alex@contoso.example"
    assert ctx.user_id and ctx.mailbox_id
    assert ctx.outgoing_method == 1 and ctx.incoming_method == 1
    assert ctx.max_upload_bytes > 0 and "exe" in ctx.blocked_extensions
    assert "CRM" in ctx.tracking_prefixes
    assert crm_harness.crm.context(refresh=True) == ctx
    crm_harness.crm.ping()


def test_created_emails_are_closed_and_found_by_message_id_and_activity_id(crm_harness: CrmHarness) -> None:
    crm = crm_harness.crm
    incoming, outgoing = draft(), draft(outgoing=True)
    assert crm.create_emails([incoming, outgoing]) == [None, None]
    assert crm_harness.status(incoming.activity_id) == (EmailState.COMPLETED, EmailStatus.RECEIVED)
    assert crm_harness.status(outgoing.activity_id) == (EmailState.COMPLETED, EmailStatus.SENT)
    bare = incoming.message_id.strip("<>")
    tracked, _ = crm.lookup([bare], [], [outgoing.activity_id])
    assert tracked[incoming.message_id].activity_id == incoming.activity_id
    assert tracked[incoming.activity_id].statuscode == EmailStatus.RECEIVED
    assert tracked[outgoing.activity_id].message_id == outgoing.message_id
    assert crm.lookup([f"<{tag()}@nowhere.example>"], [])[0] == {}


def test_a_second_create_of_the_same_activity_is_a_duplicate_key(crm_harness: CrmHarness) -> None:
    first = draft()
    assert crm_harness.crm.create_emails([first]) == [None]
    again, fresh = draft(activity_id=first.activity_id), draft()
    outcomes = crm_harness.crm.create_emails([again, fresh])
    assert isinstance(outcomes[0], ConflictError)
    assert outcomes[1] is None  # each message is all-or-nothing on its own
    tracked, _ = crm_harness.crm.lookup([], [], [first.activity_id])
    assert tracked[first.activity_id].message_id == first.message_id  # the first one stands


def test_addresses_resolve_to_records_case_insensitively(crm_harness: CrmHarness) -> None:
    t = tag()
    contact = crm_harness.add_record("contact", f"Carol {t}", f"carol.{t}@fabrikam.example")
    account = crm_harness.add_record("account", f"Fabrikam {t}", f"info.{t}@fabrikam.example")
    _, resolved = crm_harness.crm.lookup(
        [], [f"Carol.{t}@Fabrikam.example".lower(), f"info.{t}@fabrikam.example", f"x.{t}@nowhere.example"]
    )
    assert [ref.id for ref in resolved[f"carol.{t}@fabrikam.example"]] == [contact.id]
    assert resolved[f"carol.{t}@fabrikam.example"][0].table == "contact"
    assert [ref.id for ref in resolved[f"info.{t}@fabrikam.example"]] == [account.id]
    assert f"x.{t}@nowhere.example" not in resolved
    # A resolved party binds to its record.
    d = draft(parties=[Party(PartyRole.SENDER, f"carol.{t}@fabrikam.example", contact)])
    assert crm_harness.crm.create_emails([d]) == [None]


def test_attachments_round_trip_byte_exact(crm_harness: CrmHarness) -> None:
    files = [
        Attachment("data.bin", "application/octet-stream", BINARY),
        Attachment("a.txt", "text/plain", b"hi"),
    ]
    d = draft(attachments=files)
    assert crm_harness.crm.create_emails([d]) == [None]
    got = sorted(crm_harness.crm.attachments(d.activity_id), key=lambda a: a.name)
    assert [(a.name, a.content_type, a.content) for a in got] == [
        ("a.txt", "text/plain", b"hi"),
        ("data.bin", "application/octet-stream", BINARY),
    ]


def test_regarding_is_set_changed_and_removed_on_a_completed_email(crm_harness: CrmHarness) -> None:
    crm = crm_harness.crm
    t = tag()
    first = crm_harness.add_record("account", f"Northwind {t}", "")
    second = crm_harness.add_record("opportunity", f"Deal {t}", "")
    d = draft(regarding=first)
    assert crm.create_emails([d]) == [None]
    regarding = crm.lookup([], [], [d.activity_id])[0][d.activity_id].regarding
    assert regarding is not None and (regarding.table, regarding.id) == ("account", first.id)
    crm.set_regarding(d.activity_id, second)
    regarding = crm.lookup([], [], [d.activity_id])[0][d.activity_id].regarding
    assert regarding is not None and (regarding.table, regarding.id) == ("opportunity", second.id)
    assert crm_harness.status(d.activity_id) == (EmailState.COMPLETED, EmailStatus.RECEIVED)
    crm.set_regarding(d.activity_id, None)
    crm.set_regarding(d.activity_id, None)  # nothing to remove: not an error
    assert crm.lookup([], [], [d.activity_id])[0][d.activity_id].regarding is None
    assert crm_harness.status(d.activity_id) == (EmailState.COMPLETED, EmailStatus.RECEIVED)


def test_regarding_a_record_that_does_not_exist_is_refused(crm_harness: CrmHarness) -> None:
    d = draft()
    assert crm_harness.crm.create_emails([d]) == [None]
    with pytest.raises(CrmError):
        crm_harness.crm.set_regarding(d.activity_id, RecordRef("account", str(uuid.uuid4())))


def test_pending_send_mail_is_in_the_outbox_with_its_recipients_and_token(crm_harness: CrmHarness) -> None:
    t = tag()
    regarding = crm_harness.add_record("account", f"Contoso {t}", "")
    aid = crm_harness.queue_email(f"dana.{t}@fabrikam.example", f"Quote {t}", "<p>Price</p>", regarding)
    row = pending(crm_harness, aid)
    assert row.statuscode == EmailStatus.PENDING_SEND
    assert row.to == (f"dana.{t}@fabrikam.example",) and row.cc == () and row.bcc == ()
    assert row.subject.startswith(f"Quote {t}") and row.description == "<p>Price</p>"
    assert row.etag and row.attempts == 0 and row.message_id is None
    assert row.regarding is not None and row.regarding.id == regarding.id
    # SendEmail appended the tracking token: a reply carrying it correlates.
    [token] = re.findall(r"CRM:\d{3,}", row.subject)
    tracked, _ = crm_harness.crm.lookup([], [], tokens=[token])
    assert tracked["token:" + token.lower()].activity_id == aid


def test_a_claim_wins_once_and_a_stale_etag_loses(crm_harness: CrmHarness) -> None:
    aid = crm_harness.queue_email(f"erin.{tag()}@fabrikam.example", "Claim me", "", None)
    row = pending(crm_harness, aid)
    mine, theirs = f"<{tag()}@contoso.example>", f"<{tag()}@contoso.example>"
    assert crm_harness.crm.claim(row, mine) is True
    assert crm_harness.other.claim(row, theirs) is False  # read before the first claim: 412
    assert crm_harness.status(aid) == (EmailState.COMPLETED, EmailStatus.SENDING)
    now = crm_harness.crm.current(aid)
    assert now is not None and now.statuscode == EmailStatus.SENDING and now.message_id == mine
    assert now.etag != row.etag
    assert aid in [
        p.activity_id for p in crm_harness.crm.outbox(crm_harness.crm.context(), (EmailStatus.SENDING,))
    ]


def test_mark_sent_records_the_message_id_and_a_second_mark_is_a_no_op(crm_harness: CrmHarness) -> None:
    aid = crm_harness.queue_email(f"finn.{tag()}@fabrikam.example", "Send me", "", None)
    mid = f"<{tag()}@contoso.example>"
    assert crm_harness.crm.claim(pending(crm_harness, aid), mid)
    crm_harness.crm.mark_sent(aid, mid)
    crm_harness.other.mark_sent(aid, mid)  # another machine settling the same claim
    assert crm_harness.status(aid) == (EmailState.COMPLETED, EmailStatus.SENT)
    now = crm_harness.crm.current(aid)
    assert now is not None and now.message_id == mid
    assert aid not in [p.activity_id for p in crm_harness.crm.outbox(crm_harness.crm.context(), (6, 7, 8))]


def test_failed_under_if_match_then_retry_queues_it_again(crm_harness: CrmHarness) -> None:
    aid = crm_harness.queue_email(f"gus.{tag()}@fabrikam.example", "Fail me", "", None)
    row = pending(crm_harness, aid)
    assert crm_harness.crm.claim(row, f"<{tag()}@contoso.example>")
    assert crm_harness.crm.mark_failed(aid, 1, row.etag) is False  # the e-mail moved on since
    assert crm_harness.status(aid) == (EmailState.COMPLETED, EmailStatus.SENDING)
    assert crm_harness.crm.mark_failed(aid, 1) is True
    assert crm_harness.status(aid) == (EmailState.OPEN, EmailStatus.FAILED)
    failed = pending(crm_harness, aid, EmailStatus.FAILED)
    assert failed.attempts == 1
    crm_harness.crm.requeue(aid)
    assert crm_harness.status(aid) == (EmailState.COMPLETED, EmailStatus.PENDING_SEND)


def test_release_gives_a_claim_back_only_while_it_is_unchanged(crm_harness: CrmHarness) -> None:
    aid = crm_harness.queue_email(f"hal.{tag()}@fabrikam.example", "Release me", "", None)
    assert crm_harness.crm.claim(pending(crm_harness, aid), f"<{tag()}@contoso.example>")
    claimed = crm_harness.crm.current(aid)
    assert claimed is not None
    assert crm_harness.other.release(claimed) is True
    assert crm_harness.crm.release(claimed) is False  # released already: the ETag moved
    back = pending(crm_harness, aid)
    assert back.message_id is None
    assert crm_harness.status(aid) == (EmailState.COMPLETED, EmailStatus.PENDING_SEND)


def test_send_later_mail_is_left_out_until_due(crm_harness: CrmHarness) -> None:
    aid = crm_harness.queue_email(f"ivy.{tag()}@fabrikam.example", "Later", "", None)
    now = datetime.now(UTC).replace(microsecond=0)
    crm_harness.schedule(aid, now + timedelta(hours=2))
    ctx = crm_harness.crm.context()
    due_now = crm_harness.crm.outbox(ctx, (EmailStatus.PENDING_SEND,), top=500, due_by=now)
    assert aid not in [p.activity_id for p in due_now]
    later = crm_harness.crm.outbox(ctx, (EmailStatus.PENDING_SEND,), top=500, due_by=now + timedelta(hours=3))
    [row] = [p for p in later if p.activity_id == aid]
    assert row.send_after == now + timedelta(hours=2)
    assert aid in [p.activity_id for p in crm_harness.crm.outbox(ctx, (EmailStatus.PENDING_SEND,), top=500)]


def test_outbox_lists_least_recently_changed_first(crm_harness: CrmHarness) -> None:
    t = tag()
    first = crm_harness.queue_email(f"jo.{t}@fabrikam.example", f"First {t}", "", None)
    second = crm_harness.queue_email(f"jo.{t}@fabrikam.example", f"Second {t}", "", None)
    ids = [p.activity_id for p in pending_all(crm_harness) if p.activity_id in (first, second)]
    assert ids == [first, second]


def pending_all(h: CrmHarness) -> list[PendingEmail]:
    return h.crm.outbox(h.crm.context(), (EmailStatus.PENDING_SEND,), top=500)


def test_search_and_names_of_records(crm_harness: CrmHarness) -> None:
    t = tag()
    acct = crm_harness.add_record("account", f"Zephyr {t} Ltd", f"sales.{t}@zephyr.example")
    contact = crm_harness.add_record("contact", f"Anna Zephyr{t}", f"anna.{t}@zephyr.example")
    found = crm_harness.crm.search_records(f"Zephyr {t}", ["account", "contact"], 10)
    assert [(f.table, f.id) for f in found] == [("account", acct.id)]
    assert found[0].detail == f"sales.{t}@zephyr.example"
    by_mail = crm_harness.crm.search_records(f"anna.{t}", ["contact"], 10)
    assert [f.id for f in by_mail] == [contact.id]
    assert crm_harness.crm.search_records("  ", ["account"], 10) == []
    gone = RecordRef("account", str(uuid.uuid4()), "Kept name")
    named = crm_harness.crm.named([RecordRef("account", acct.id), gone])
    assert named[0].name == f"Zephyr {t} Ltd"
    assert named[1] == gone


def test_current_names_leave_out_records_that_are_gone(crm_harness: CrmHarness) -> None:
    t = tag()
    acct = crm_harness.add_record("account", f"Quill {t} plc", f"sales.{t}@quill.example")
    contact = crm_harness.add_record("contact", f"Ida Quill{t}", f"ida.{t}@quill.example")
    gone = RecordRef("account", str(uuid.uuid4()), "Old name")
    names = crm_harness.crm.current_names(
        [RecordRef("account", acct.id, "stale"), RecordRef("contact", contact.id), gone]
    )
    assert names == {f"account:{acct.id}": f"Quill {t} plc", f"contact:{contact.id}": f"Ida Quill{t}"}
    assert crm_harness.crm.current_names([RecordRef("nosuchtable", acct.id)]) == {}


def test_a_deleted_email_is_gone_and_deleting_again_is_fine(crm_harness: CrmHarness) -> None:
    d = draft()
    assert crm_harness.crm.create_emails([d]) == [None]
    crm_harness.crm.delete_email(d.activity_id)
    crm_harness.crm.delete_email(d.activity_id)
    assert crm_harness.crm.current(d.activity_id) is None
    assert crm_harness.crm.lookup([], [], [d.activity_id])[0] == {}


def test_state_and_status_follow_the_email_metadata(crm_harness: CrmHarness) -> None:
    """The pairs Dataverse allows for an e-mail, and what it refuses (reference dataverse.md §1.2)."""
    d = draft()
    assert crm_harness.crm.create_emails([d]) == [None]
    aid, patch = d.activity_id, crm_harness.patch
    for refused in ({"statecode": 0, "statuscode": 4}, {"statuscode": 99}, {"subject": "edited"}):
        with pytest.raises(CrmError) as caught:
            patch(aid, refused)  # a mismatched pair, an unknown status, a closed e-mail's column
        assert caught.value.status == 400 and not isinstance(caught.value, ConflictError)
        assert crm_harness.status(aid) == (EmailState.COMPLETED, EmailStatus.RECEIVED)
    patch(aid, {"statecode": 0, "statuscode": 1})  # reopened as Draft
    patch(aid, {"subject": "edited"})  # an open e-mail can be edited
    assert crm_harness.status(aid) == (EmailState.OPEN, EmailStatus.DRAFT)
    patch(aid, {"statecode": 2, "statuscode": 5})
    assert crm_harness.status(aid) == (EmailState.CANCELED, EmailStatus.CANCELED)
    patch(aid, {"statuscode": 8})  # a status alone brings its own state
    assert crm_harness.status(aid) == (EmailState.OPEN, EmailStatus.FAILED)
    patch(aid, {"statecode": 1})  # a state alone brings its default status
    assert crm_harness.status(aid) == (EmailState.COMPLETED, EmailStatus.COMPLETED)
    patch(aid, {"statuscode": 6})  # Pending Send is a Completed status
    assert crm_harness.status(aid) == (EmailState.COMPLETED, EmailStatus.PENDING_SEND)


def test_party_lists_keep_every_recipient_in_its_role(crm_harness: CrmHarness) -> None:
    t = tag()
    contact = crm_harness.add_record("contact", f"Pat {t}", f"pat.{t}@fabrikam.example")
    parties = [
        Party(PartyRole.SENDER, "alex@contoso.example"),
        Party(PartyRole.TO, f"pat.{t}@fabrikam.example", contact),
        Party(PartyRole.TO, f"quinn.{t}@nowhere.example"),
        Party(PartyRole.CC, f"rae.{t}@nowhere.example"),
        Party(PartyRole.BCC, f"sol.{t}@nowhere.example"),
    ]
    d = draft(outgoing=True, parties=parties)
    assert crm_harness.crm.create_emails([d]) == [None]
    now = crm_harness.crm.current(d.activity_id)
    assert now is not None
    assert sorted(now.to) == sorted([f"pat.{t}@fabrikam.example", f"quinn.{t}@nowhere.example"])
    assert now.cc == (f"rae.{t}@nowhere.example",) and now.bcc == (f"sol.{t}@nowhere.example",)
    # A party bound to a record that does not exist is refused, and nothing is created.
    ghost = draft(parties=[Party(PartyRole.TO, "x@nowhere.example", RecordRef("contact", str(uuid.uuid4())))])
    [error] = crm_harness.crm.create_emails([ghost])
    assert isinstance(error, CrmError)
    assert crm_harness.crm.current(ghost.activity_id) is None
