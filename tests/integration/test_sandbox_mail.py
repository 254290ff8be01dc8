"""Unmodified exchangelib against the sandbox Exchange over real HTTP on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import exchangelib
import pytest
from exchangelib import (
    BASIC,
    DELEGATE,
    Account,
    Build,
    Configuration,
    Credentials,
    ExtendedProperty,
    FileAttachment,
    Folder,
    HTMLBody,
    Mailbox,
    Message,
    Version,
)

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX, PASSWORD

pytestmark = pytest.mark.integration

VERSION = Version(build=Build(15, 2, 1544, 4))
STAMP_FIELD = "sandbox_test_stamp"


class SandboxStamp(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "SandboxTestStamp"
    property_type = "String"


class ActivityHeader(ExtendedProperty):
    distinguished_property_set_id = "InternetHeaders"
    property_name = "X-Sandbox-Activity-Id"
    property_type = "String"


@pytest.fixture(autouse=True)
def _quiet_server_log() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    with MailSandbox(seed="demo", busy_backoff_ms=200) as sandbox:
        yield sandbox
    exchangelib.close_connections()


@pytest.fixture
def stamp_fields() -> Iterator[None]:
    Message.register(STAMP_FIELD, SandboxStamp)
    Message.register("sandbox_test_header", ActivityHeader)
    yield
    Message.deregister(STAMP_FIELD)
    Message.deregister("sandbox_test_header")


def account(mail: MailSandbox, address: str = ALEX.email, password: str = PASSWORD) -> Account:
    config = Configuration(
        service_endpoint=mail.ews_url,
        credentials=Credentials(address, password),
        auth_type=BASIC,
        version=VERSION,
    )
    return Account(address, config=config, autodiscover=False, access_type=DELEGATE)


def test_hints_skip_all_probes_and_folders_resolve(mail: MailSandbox) -> None:
    acct = account(mail)
    assert mail.stats.snapshot()["requests"] == 0  # constructing an Account sends nothing
    assert acct.inbox.name == "Inbox"
    assert acct.sent.name == "Sent Items"
    assert acct.drafts.name == "Drafts"
    assert acct.trash.name == "Deleted Items"
    ops = mail.stats.snapshot()["by_operation"]
    assert "ConvertId" not in ops
    assert acct.inbox.total_count == len(mail.items(ALEX.email, "inbox")) >= 35
    assert acct.sent.total_count == len(mail.items(ALEX.email, "sentitems")) >= 20


def test_probing_without_hints_detects_basic_and_version(mail: MailSandbox) -> None:
    config = Configuration(service_endpoint=mail.ews_url, credentials=Credentials(ALEX.email, PASSWORD))
    acct = Account(ALEX.email, config=config, autodiscover=False, access_type=DELEGATE)
    assert acct.protocol.auth_type == BASIC
    assert acct.version.build.major_version == 15
    assert acct.version.api_version == "Exchange2016"
    assert acct.inbox.total_count > 0
    # One unauthenticated ConvertId (auth probe, answered 401) and one authenticated (version probe).
    assert mail.stats.snapshot()["by_operation"]["ConvertId"] == 2


def test_walk_path_navigation_and_create_folder(mail: MailSandbox) -> None:
    acct = account(mail)
    names = {f.name for f in acct.root.walk()}
    assert {"Top of Information Store", "Inbox", "Sent Items", "Drafts", "Deleted Items"} <= names
    assert (acct.root / "Top of Information Store" / "Sent Items").name == "Sent Items"
    folder = Folder(parent=acct.inbox, name="Key accounts")
    folder.save()
    assert folder.id
    acct.root.refresh()
    assert [c.name for c in acct.inbox.children] == ["Key accounts"]
    msg = acct.inbox.all().order_by("-datetime_received")[0]
    msg.move(folder)
    acct.root.refresh()
    moved_to = acct.inbox / "Key accounts"
    assert moved_to.all().get().subject == msg.subject
    assert acct.inbox.filter(subject=msg.subject).count() == 0


def test_send_and_save_with_message_id_and_stamp_is_found_in_sent_items(
    mail: MailSandbox, stamp_fields: None
) -> None:
    acct = account(mail)
    customer = "jane.buyer@fabrikam.example"
    mid = "<crm-6a1f0b2e@crm.contoso.example>"
    msg = Message(
        account=acct,
        folder=acct.sent,
        subject="Quote 42",
        body=HTMLBody("<p>Hello Jane</p>"),
        to_recipients=[Mailbox(email_address=customer)],
        cc_recipients=["megan@contoso.example"],
        message_id=mid,
        **{STAMP_FIELD: "act-123", "sandbox_test_header": "act-123"},
    )
    assert msg.send_and_save() is True
    assert msg.id is None  # EWS returns no id for SendAndSaveCopy

    copy = acct.sent.get(**{STAMP_FIELD: "act-123"})
    assert copy.message_id == mid
    assert copy.subject == "Quote 42"
    assert getattr(copy, STAMP_FIELD) == "act-123"
    assert [r.email_address for r in copy.to_recipients] == [customer]
    assert copy.is_read is True
    assert b"X-Sandbox-Activity-Id: act-123" in copy.mime_content
    hits = list(acct.sent.filter(message_id=mid).only("id", "subject", "datetime_sent"))
    assert [h.subject for h in hits] == ["Quote 42"]
    assert acct.sent.filter(**{STAMP_FIELD: "act-999"}).count() == 0

    # Delivered, with the same Message-ID, to the customer's and the colleague's Inbox.
    for address in (customer, "megan@contoso.example"):
        delivered = [i for i in mail.items(address, "inbox") if i["message_id"] == mid]
        assert len(delivered) == 1
        assert delivered[0]["subject"] == "Quote 42"
        assert delivered[0]["from"] == ALEX.email
        assert delivered[0]["extended_properties"] == {}  # private properties stay in the sender's mailbox


def test_customer_reply_reaches_alex_with_threading_headers(mail: MailSandbox) -> None:
    acct = account(mail)
    mid = "<first-7c2@contoso.example>"
    Message(
        account=acct,
        folder=acct.sent,
        subject="Renewal",
        body="Shall we renew?",
        to_recipients=["omar.novak@fabrikam.example"],
        message_id=mid,
    ).send_and_save()
    customer = account(mail, "omar.novak@fabrikam.example")
    original = customer.inbox.get(message_id=mid)
    original.reply(subject="RE: Renewal", body="Yes please.")
    replies = list(acct.inbox.filter(in_reply_to=mid))
    assert len(replies) == 1
    assert replies[0].subject == "RE: Renewal"
    assert mid in replies[0].references
    assert replies[0].author.email_address == "omar.novak@fabrikam.example"


def test_categories_and_extended_property_updates(mail: MailSandbox, stamp_fields: None) -> None:
    acct = account(mail)
    item = acct.inbox.all().order_by("-datetime_received")[0]
    item.categories = [*(item.categories or []), "Tracked to Dynamics 365"]
    item.save(update_fields=["categories"])
    setattr(item, STAMP_FIELD, "act-777")
    item.save(update_fields=[STAMP_FIELD])
    fresh = acct.inbox.get(id=item.id)
    assert fresh.categories == ["Tracked to Dynamics 365"]
    assert getattr(fresh, STAMP_FIELD) == "act-777"
    assert acct.inbox.filter(categories__contains=["tracked to dynamics 365"]).count() == 1
    assert acct.inbox.filter(categories__exists=True).count() == 1
    setattr(fresh, STAMP_FIELD, None)
    fresh.save(update_fields=[STAMP_FIELD])
    assert getattr(acct.inbox.get(id=item.id), STAMP_FIELD) is None
    fresh.categories = None
    fresh.save(update_fields=["categories"])
    assert acct.inbox.filter(categories__exists=True).count() == 0


def test_sync_items_second_round_sees_only_changes(mail: MailSandbox) -> None:
    acct = account(mail)
    inbox = acct.inbox
    first = list(
        inbox.sync_items(only_fields=["subject", "message_id", "categories"], max_changes_returned=7)
    )
    assert {c for c, _ in first} == {"create"}
    assert len(first) == inbox.total_count
    state = inbox.item_sync_state
    assert state

    items = list(inbox.all().order_by("-datetime_received")[:3])
    items[0].categories = ["Tracked to Dynamics 365"]
    items[0].save(update_fields=["categories"])
    items[1].is_read = not items[1].is_read
    items[1].save(update_fields=["is_read"])
    deleted_id = items[2].id
    items[2].delete()
    mail.deliver(
        ALEX.email, b"From: x@example.org\r\nSubject: new one\r\nMessage-ID: <n1@example.org>\r\n\r\nhi\r\n"
    )

    second = list(inbox.sync_items(sync_state=state, only_fields=["subject", "categories"]))
    kinds = sorted(c for c, _ in second)
    assert kinds == ["create", "delete", "read_flag_change", "update"]
    by_kind = dict(second)
    assert by_kind["update"].categories == ["Tracked to Dynamics 365"]
    assert by_kind["create"].subject == "new one"
    assert by_kind["delete"].id == deleted_id
    assert by_kind["read_flag_change"][1] == items[1].is_read
    third = list(inbox.sync_items(sync_state=inbox.item_sync_state))
    assert third == []


def test_attachments_round_trip_byte_exact(mail: MailSandbox) -> None:
    acct = account(mail)
    payloads = {
        "quote.pdf": (b"%PDF-1.4\n\x00\xff\xfe binary \r\n tail", "application/pdf"),
        "notes.txt": (b"line one\r\nline two\nno final newline", "text/plain"),
        "pixel.png": (bytes(range(256)) * 3, "image/png"),
    }
    msg = Message(account=acct, folder=acct.drafts, subject="With files", body="see attached")
    for name, (data, ctype) in payloads.items():
        msg.attach(FileAttachment(name=name, content=data, content_type=ctype))
    msg.save()
    fetched = acct.drafts.get(id=msg.id)
    assert fetched.has_attachments
    got = {a.name: (a.content, a.content_type) for a in fetched.attachments}
    assert got == payloads
    # CreateAttachment on the saved item, then byte-exact through GetAttachment.
    extra = FileAttachment(
        name="later.bin", content=b"\x00\x01\x02late", content_type="application/octet-stream"
    )
    fetched.attach(extra)
    again = acct.drafts.get(id=msg.id)
    assert {a.name: a.content for a in again.attachments}["later.bin"] == b"\x00\x01\x02late"
    # The MIME of the draft carries the same bytes.
    sent_to = "lena.ivanova@fabrikam.example"
    again.to_recipients = [Mailbox(email_address=sent_to)]
    again.save(update_fields=["to_recipients"])
    again.send()
    delivered = account(mail, sent_to).inbox.get(subject="With files")
    assert {a.name: a.content for a in delivered.attachments}["quote.pdf"] == payloads["quote.pdf"][0]
    assert acct.drafts.filter(subject="With files").count() == 0
    assert acct.sent.filter(subject="With files").count() == 1


def test_find_item_paging(mail: MailSandbox) -> None:
    acct = account(mail)
    everything = [i.id for i in acct.inbox.all().order_by("-datetime_received").only("id")]
    before = mail.stats.snapshot()["by_operation"].get("FindItem", 0)
    qs = acct.inbox.all().order_by("-datetime_received").only("id")
    qs.page_size = 7
    paged = [i.id for i in qs]
    finds = mail.stats.snapshot()["by_operation"]["FindItem"] - before
    assert paged == everything
    assert finds == -(-len(everything) // 7)
    window = [i.id for i in acct.inbox.all().order_by("-datetime_received").only("id")[5:9]]
    assert window == everything[5:9]


def test_restrictions_exchangelib_builds(mail: MailSandbox) -> None:
    acct = account(mail)
    inbox = acct.inbox
    assert inbox.filter(subject__icontains="QUOTE").count() >= 1
    assert inbox.filter(subject__startswith="RE: ").count() >= 5
    assert inbox.filter(body__contains="CFO").count() == 1
    private = list(inbox.filter(sensitivity="Private"))
    assert len(private) == 1 and private[0].subject.startswith("Personal")
    unread = inbox.filter(is_read=False).count()
    assert 0 < unread < inbox.total_count
    assert inbox.filter(~exchangelib.Q(is_read=False)).count() == inbox.total_count - unread
    fabrikam = inbox.filter(sender="jane.buyer@fabrikam.example").count()
    assert fabrikam >= 2
    either = inbox.filter(exchangelib.Q(subject__contains="Quote") | exchangelib.Q(subject__contains="Pilot"))
    assert either.count() >= 2
    assert inbox.filter(in_reply_to__exists=True).count() >= 10
    cutoff = sorted(i.datetime_received for i in inbox.all().only("datetime_received"))[10]
    assert inbox.filter(datetime_received__gte=cutoff).count() == inbox.total_count - 10
    subjects = [i.subject for i in inbox.all().order_by("subject").only("subject")]
    assert subjects == sorted(subjects, key=str.casefold)


def test_get_item_fields_mime_and_headers(mail: MailSandbox) -> None:
    acct = account(mail)
    item = acct.inbox.get(subject="Quote for 50 Surface licences")
    assert item.author.email_address == "jane.buyer@fabrikam.example"
    assert item.to_recipients[0].email_address == ALEX.email
    assert item.message_id.startswith("<demo-")
    assert item.datetime_sent is not None and item.datetime_received is not None
    assert item.sensitivity == "Normal"
    assert item.mime_content.startswith(b"From:") or b"\nFrom:" in item.mime_content
    assert any(h.name == "Message-ID" for h in item.headers)
    reply = acct.sent.filter(in_reply_to=item.message_id).get()
    assert item.message_id in reply.references
    assert reply.conversation_id.id == item.conversation_id.id  # one conversation per thread
    assert acct.inbox.get(subject="Pilot results").conversation_id.id != item.conversation_id.id
    pdf = next(a for a in acct.sent.get(subject="RE: Quote for 50 Surface licences").attachments)
    assert pdf.content.startswith(b"%PDF-1.4")


def test_malformed_mime_is_stored_and_served(mail: MailSandbox) -> None:
    raw = (
        b"Subject: =?bogus?Q?broken?=\r\nFrom: not an address\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n\xff\xfe\x00garbage"
    )
    item_id = mail.deliver(ALEX.email, raw)
    acct = account(mail)
    item = acct.inbox.get(id=item_id)
    assert item.mime_content == raw
    assert item.author is None


def test_server_assigned_message_ids_can_be_simulated(mail: MailSandbox, stamp_fields: None) -> None:
    mail.app.replace_message_ids = True
    acct = account(mail)
    client_mid = "<client-chosen@crm.contoso.example>"
    Message(
        account=acct,
        folder=acct.sent,
        subject="Server picks the id",
        body="b",
        to_recipients=["megan@contoso.example"],
        message_id=client_mid,
        **{STAMP_FIELD: "act-555"},
    ).send_and_save()
    assert acct.sent.filter(message_id=client_mid).count() == 0
    copy = acct.sent.get(**{STAMP_FIELD: "act-555"})  # the stamp still finds the copy
    assert copy.message_id != client_mid and copy.message_id.endswith("@contoso.example>")
    delivered = [i for i in mail.items("megan@contoso.example") if i["subject"] == "Server picks the id"]
    assert [d["message_id"] for d in delivered] == [copy.message_id]


def test_copy_item_delete_folder_and_query_strings(mail: MailSandbox) -> None:
    acct = account(mail)
    folder = Folder(parent=acct.inbox, name="Scratch")
    folder.save()
    original = acct.inbox.get(subject="Quote for 50 Surface licences")
    original.copy(folder)
    copied = folder.all().get()
    assert copied.id != original.id
    assert copied.subject == original.subject and copied.message_id == original.message_id
    assert [a.name for a in acct.inbox.get(id=original.id).attachments] == [
        a.name for a in folder.get(id=copied.id).attachments
    ]
    folder.delete()
    acct.root.refresh()
    assert [c.name for c in acct.inbox.children] == []
    assert acct.inbox.get(id=original.id).subject == original.subject  # the original is untouched
    # AQS query strings: every term must match.
    assert {i.subject for i in acct.inbox.filter("subject:quote")} == {
        "Quote for 50 Surface licences",
        "RE: Quote for 50 Surface licences",
    }
    assert acct.inbox.filter('from:jane.buyer "friday"').count() == 1
    assert acct.inbox.filter("nothing-matches-this-term").count() == 0


def test_sync_hierarchy_reports_created_and_deleted_folders(mail: MailSandbox) -> None:
    acct = account(mail)
    first = list(acct.root.sync_hierarchy())
    assert {"Inbox", "Sent Items", "Drafts", "Deleted Items"} <= {f.name for _, f in first}
    assert {c for c, _ in first} == {"create"}
    state = acct.root.folder_sync_state
    folder = Folder(parent=acct.inbox, name="Projects")
    folder.save()
    assert [(c, f.name) for c, f in acct.root.sync_hierarchy(sync_state=state)] == [("create", "Projects")]
    state = acct.root.folder_sync_state
    folder.name = "Projects 2027"
    folder.save(update_fields=["name"])
    assert [(c, f.name) for c, f in acct.root.sync_hierarchy(sync_state=state)] == [
        ("update", "Projects 2027")
    ]
    state = acct.root.folder_sync_state
    folder_id = folder.id
    folder.delete()
    assert [(c, f.id) for c, f in acct.root.sync_hierarchy(sync_state=state)] == [("delete", folder_id)]
    assert list(acct.root.sync_hierarchy(sync_state=acct.root.folder_sync_state)) == []


class LeadScore(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "SandboxLeadScore"
    property_type = "Integer"


def test_typed_extended_properties_compare_and_sort_by_value(mail: MailSandbox) -> None:
    Message.register("sandbox_lead_score", LeadScore)
    try:
        acct = account(mail)
        first, second, third = list(acct.inbox.all().order_by("-datetime_received")[:3])
        for item, score in ((first, 9), (second, 40), (third, 100)):
            item.sandbox_lead_score = score
            item.save(update_fields=["sandbox_lead_score"])
        # Numbers, not strings: "100" < "40" < "9" as text.
        assert {i.id for i in acct.inbox.filter(sandbox_lead_score__gt=10)} == {second.id, third.id}
        ordered = acct.inbox.filter(sandbox_lead_score__exists=True).order_by("sandbox_lead_score")
        assert [i.sandbox_lead_score for i in ordered] == [9, 40, 100]
    finally:
        Message.deregister("sandbox_lead_score")
