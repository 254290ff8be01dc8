"""What every Mailbox backend must do, checked through the port only.

The server side (delivering mail "from outside") goes through the harness; everything
else is the backend under test talking to a real server on loopback.
"""

from __future__ import annotations

import dataclasses
import email.utils
import uuid
from email.message import EmailMessage

import pytest
from mailbox_harness import Harness

from addin.errors import BridgeError
from addin.mailbox.port import Mailbox
from addin.mailbox.types import (
    TRACKED_CATEGORY,
    Address,
    Attachment,
    ChangeKind,
    FetchFailure,
    FolderKind,
    Mark,
    Message,
    OutgoingMessage,
    SyncPage,
)

pytestmark = pytest.mark.integration

# Every byte value, a UTF-8-invalid run and a NUL: a binary attachment must come back exact.
BINARY = bytes(range(256)) * 3 + b"\xff\xfe\x00\x80\xc3\x28PK\x03\x04"


def mime(
    subject: str,
    *,
    sender: str = "carol@fabrikam.example",
    to: str = "alex@contoso.example",
    body: str = "Hello from the contract suite.",
    attachments: tuple[tuple[str, str, bytes], ...] = (),
) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = f"Carol Customer <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    mid = email.utils.make_msgid(domain="fabrikam.example")
    msg["Message-ID"] = mid
    msg.set_content(body)
    for name, ctype, data in attachments:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(), mid


def token() -> str:
    return uuid.uuid4().hex[:10]


def drain(mailbox: Mailbox, folder_id: str, state: str) -> tuple[list[SyncPage], str]:
    pages = []
    while True:
        page = mailbox.sync(folder_id, state, max_changes=50)
        pages.append(page)
        state = page.sync_state
        if not page.more:
            return pages, state


def test_check_proves_the_connection(harness: Harness, mailbox: Mailbox) -> None:
    info = mailbox.check()
    assert info.address.lower() == harness.address
    assert info.backend == harness.backend
    assert info.server


def test_hints_given_back_still_connect(harness: Harness, mailbox: Mailbox) -> None:
    mailbox.check()
    hints = mailbox.hints()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in hints.items())
    settings = dataclasses.replace(harness.settings_for(harness.address), options=dict(hints))
    again = harness.connect(settings, harness.secret_for(harness.address))
    try:
        assert again.check().address.lower() == harness.address
        assert again.folder(FolderKind.INBOX).id == mailbox.folder(FolderKind.INBOX).id
    finally:
        again.close()


def test_folders_list_and_well_known(mailbox: Mailbox) -> None:
    folders = mailbox.list_folders()
    inbox = mailbox.folder(FolderKind.INBOX)
    sent = mailbox.folder(FolderKind.SENT)
    assert inbox.id != sent.id
    by_id = {f.id: f for f in folders}
    assert by_id[inbox.id].kind == FolderKind.INBOX
    assert by_id[sent.id].kind == FolderKind.SENT
    assert all(f.path for f in folders)
    assert len(by_id) == len(folders)


def test_sync_from_none_starts_now_then_sees_only_changes(harness: Harness, mailbox: Mailbox) -> None:
    inbox = mailbox.folder(FolderKind.INBOX)
    old_raw, _ = mime(f"history {token()}")
    harness.deliver(harness.address, old_raw, "inbox")

    start = mailbox.sync(inbox.id, None)
    assert start.changes == () and not start.more, "a fresh start must not replay old history"

    raw1, mid1 = mime(f"round one a {token()}")
    raw2, mid2 = mime(f"round one b {token()}")
    id1 = harness.deliver(harness.address, raw1, "inbox")
    id2 = harness.deliver(harness.address, raw2, "inbox")

    pages, state1 = drain(mailbox, inbox.id, start.sync_state)
    changes = [c for p in pages for c in p.changes]
    assert {c.kind for c in changes} == {ChangeKind.CREATED}
    assert {c.id for c in changes} == {id1, id2}
    assert {c.summary.message_id for c in changes if c.summary} == {mid1, mid2}

    mailbox.set_categories(id1, [TRACKED_CATEGORY])
    raw3, mid3 = mime(f"round two {token()}")
    id3 = harness.deliver(harness.address, raw3, "inbox")

    pages, _ = drain(mailbox, inbox.id, state1)
    changes = [c for p in pages for c in p.changes]
    kinds = {c.id: c.kind for c in changes}
    assert kinds == {id1: ChangeKind.UPDATED, id3: ChangeKind.CREATED}
    updated = next(c for c in changes if c.id == id1)
    assert updated.summary is not None and TRACKED_CATEGORY in updated.summary.categories
    created = next(c for c in changes if c.id == id3)
    assert created.summary is not None and created.summary.message_id == mid3


def test_sync_pages_respect_max_changes(harness: Harness, mailbox: Mailbox) -> None:
    inbox = mailbox.folder(FolderKind.INBOX)
    state = mailbox.sync(inbox.id, None).sync_state
    ids = {harness.deliver(harness.address, mime(f"page {i} {token()}")[0], "inbox") for i in range(5)}
    seen: list[str] = []
    rounds = 0
    while True:
        page = mailbox.sync(inbox.id, state, max_changes=2)
        assert len(page.changes) <= 2
        seen += [c.id for c in page.changes]
        state = page.sync_state
        rounds += 1
        if not page.more:
            break
    assert set(seen) == ids and len(seen) == len(ids)
    assert rounds >= 3


def test_fetch_many_keeps_order_and_reports_bad_ids(harness: Harness, mailbox: Mailbox) -> None:
    delivered = []
    for i in range(3):
        raw, mid = mime(f"fetch {i} {token()}", body=f"body number {i}")
        delivered.append((harness.deliver(harness.address, raw, "inbox"), mid, i))
    bad = "AAMkAGNvbnRyYWN0LWJhZC1pZA=="
    order = [delivered[2][0], bad, delivered[0][0], delivered[1][0]]

    result = mailbox.fetch(order)

    assert [r.id for r in result] == order
    assert isinstance(result[1], FetchFailure) and result[1].reason
    for pos, (_, mid, i) in zip((2, 3, 0), delivered, strict=True):
        msg = result[pos]
        assert isinstance(msg, Message)
        assert msg.message_id == mid
        assert f"body number {i}" in msg.text_body
        assert msg.sender == Address("carol@fabrikam.example", "Carol Customer")
        assert [a.email for a in msg.to] == [harness.address]


def test_send_with_message_id_and_stamp_lands_in_sent_and_at_recipient(
    harness: Harness, mailbox: Mailbox
) -> None:
    mid = email.utils.make_msgid(domain="crm.contoso.example")
    stamp = str(uuid.uuid4())
    subject = f"Quote {token()}"
    mailbox.send(
        OutgoingMessage(
            message_id=mid,
            subject=subject,
            to=(Address(harness.peer, "Bob"),),
            text_body="Please find the quote attached.",
            attachments=(Attachment("quote.bin", "application/octet-stream", BINARY),),
            stamp=stamp,
        )
    )
    sent = mailbox.folder(FolderKind.SENT)

    by_stamp = mailbox.find_by_stamp(sent.id, stamp)
    assert len(by_stamp) == 1
    assert by_stamp[0].message_id == mid and by_stamp[0].subject == subject
    assert by_stamp[0].stamp == stamp
    by_mid = mailbox.find_by_message_id(sent.id, mid)
    assert [s.id for s in by_mid] == [by_stamp[0].id]
    assert mailbox.find_by_stamp(sent.id, str(uuid.uuid4())) == []

    (copy,) = mailbox.fetch([by_stamp[0].id])
    assert isinstance(copy, Message)
    assert [(a.name, a.content) for a in copy.attachments] == [("quote.bin", BINARY)]

    peer = harness.open(harness.peer)
    received = peer.find_by_message_id(peer.folder(FolderKind.INBOX).id, mid)
    assert len(received) == 1 and received[0].subject == subject


def test_set_and_clear_categories(harness: Harness, mailbox: Mailbox) -> None:
    msg_id = harness.deliver(harness.address, mime(f"categories {token()}")[0], "inbox")
    mailbox.set_categories(msg_id, [TRACKED_CATEGORY, "Customer"])
    (msg,) = mailbox.fetch([msg_id], with_attachments=False)
    assert isinstance(msg, Message) and set(msg.categories) == {TRACKED_CATEGORY, "Customer"}

    mailbox.set_categories(msg_id, ["Customer"])
    (msg,) = mailbox.fetch([msg_id], with_attachments=False)
    assert isinstance(msg, Message) and msg.categories == ("Customer",)

    mailbox.set_categories(msg_id, [])
    (msg,) = mailbox.fetch([msg_id], with_attachments=False)
    assert isinstance(msg, Message) and msg.categories == ()


def test_set_and_clear_stamp(harness: Harness, mailbox: Mailbox) -> None:
    inbox = mailbox.folder(FolderKind.INBOX)
    msg_id = harness.deliver(harness.address, mime(f"stamp {token()}")[0], "inbox")
    stamp = str(uuid.uuid4())

    mailbox.set_stamp(msg_id, stamp)
    assert [s.id for s in mailbox.find_by_stamp(inbox.id, stamp)] == [msg_id]
    (msg,) = mailbox.fetch([msg_id], with_attachments=False)
    assert isinstance(msg, Message) and msg.stamp == stamp

    mailbox.set_stamp(msg_id, None)
    assert mailbox.find_by_stamp(inbox.id, stamp) == []
    (msg,) = mailbox.fetch([msg_id], with_attachments=False)
    assert isinstance(msg, Message) and msg.stamp is None


def test_mark_many_sets_categories_and_stamps_per_message(harness: Harness, mailbox: Mailbox) -> None:
    inbox = mailbox.folder(FolderKind.INBOX)
    ids = [harness.deliver(harness.address, mime(f"mark {token()}")[0], "inbox") for _ in range(3)]
    stamps = [str(uuid.uuid4()) for _ in ids]
    marks = [Mark(i, (TRACKED_CATEGORY,), s) for i, s in zip(ids, stamps, strict=True)]
    marks.append(Mark("no-such-item-" + token(), (TRACKED_CATEGORY,), str(uuid.uuid4())))
    errors = mailbox.mark_many(marks)
    assert errors[:3] == [None, None, None]
    assert errors[3], "a mark on a missing message reports its own error"
    for item_id, stamp in zip(ids, stamps, strict=True):
        assert [s.id for s in mailbox.find_by_stamp(inbox.id, stamp)] == [item_id]
        (msg,) = mailbox.fetch([item_id], with_attachments=False)
        assert isinstance(msg, Message) and msg.categories == (TRACKED_CATEGORY,)


def test_received_attachments_round_trip_byte_exact(harness: Harness, mailbox: Mailbox) -> None:
    latin1 = "Grüße, café, naïve\n".encode("latin-1")
    raw, _ = mime(
        f"attachments {token()}",
        attachments=(
            ("blob.bin", "application/octet-stream", BINARY),
            ("notes.txt", "application/octet-stream", latin1),
            ("empty.dat", "application/octet-stream", b""),
        ),
    )
    msg_id = harness.deliver(harness.address, raw, "inbox")
    (msg,) = mailbox.fetch([msg_id])
    assert isinstance(msg, Message)
    got = {a.name: a for a in msg.attachments}
    assert got["blob.bin"].content == BINARY
    assert got["notes.txt"].content == latin1
    assert got["empty.dat"].content == b""
    assert got["blob.bin"].content_type == "application/octet-stream"

    (bare,) = mailbox.fetch([msg_id], with_attachments=False)
    assert isinstance(bare, Message) and bare.attachments == ()


def test_list_messages_pages_newest_first_and_filters_text(harness: Harness, mailbox: Mailbox) -> None:
    inbox = mailbox.folder(FolderKind.INBOX)
    tag = token()
    ids = [harness.deliver(harness.address, mime(f"listing {tag} #{i}")[0], "inbox") for i in range(5)]
    sender = f"dora.{tag}@northwind.example"
    by_sender = harness.deliver(harness.address, mime("no tag in subject", sender=sender)[0], "inbox")
    in_body = harness.deliver(
        harness.address, mime("plain subject", body=f"the body mentions body{tag} once")[0], "inbox"
    )

    seen = []
    offset = 0
    while True:
        page = mailbox.list_messages(inbox.id, offset=offset, limit=2, text=f"listing {tag}")
        assert page.offset == offset and len(page.items) <= 2
        seen += page.items
        offset += len(page.items)
        if not page.more:
            break
    assert sorted(s.id for s in seen) == sorted(ids)
    received = [s.received for s in seen]
    assert all(r is not None for r in received)
    assert received == sorted(received, reverse=True)  # type: ignore[type-var]

    assert [s.id for s in mailbox.list_messages(inbox.id, text=sender).items] == [by_sender]
    assert [s.id for s in mailbox.list_messages(inbox.id, text=f"body{tag}").items] == [in_body]

    first = mailbox.list_messages(inbox.id, limit=3)
    assert len(first.items) == 3 and first.more
    second = mailbox.list_messages(inbox.id, offset=3, limit=3)
    assert not {s.id for s in first.items} & {s.id for s in second.items}


def test_an_unknown_folder_is_a_clear_error(mailbox: Mailbox) -> None:
    with pytest.raises(BridgeError) as caught:
        mailbox.list_messages("AQMkAGZvbGRlci10aGF0LWRvZXMtbm90LWV4aXN0")
    assert caught.value.message
    with pytest.raises(BridgeError):
        mailbox.sync("AQMkAGZvbGRlci10aGF0LWRvZXMtbm90LWV4aXN0", None)


def test_sync_many_reads_several_folders_like_sync(harness: Harness, mailbox: Mailbox) -> None:
    inbox = mailbox.folder(FolderKind.INBOX)
    sent = mailbox.folder(FolderKind.SENT)
    harness.deliver(harness.address, mime(f"before many {token()}")[0], "inbox")
    started = mailbox.sync_many({inbox.id: None, sent.id: None})
    assert set(started) == {inbox.id, sent.id}
    assert all(p.changes == () and not p.more for p in started.values()), "a fresh start replays nothing"
    new_in = harness.deliver(harness.address, mime(f"many in {token()}")[0], "inbox")
    new_sent = harness.deliver(harness.address, mime(f"many sent {token()}")[0], "sentitems")
    pages = mailbox.sync_many({f: p.sync_state for f, p in started.items()})
    assert [(c.kind, c.id) for c in pages[inbox.id].changes] == [(ChangeKind.CREATED, new_in)]
    assert [(c.kind, c.id) for c in pages[sent.id].changes] == [(ChangeKind.CREATED, new_sent)]
    again = mailbox.sync_many({f: p.sync_state for f, p in pages.items()})
    assert all(p.changes == () for p in again.values())
