"""The Graph backend against the sandbox Exchange's /v1.0 endpoints: what the contract suite
does not cover — sign-in refresh and expiry, expired delta tokens, the watch, throttling,
large attachments, the master category list and the request budget of $batch."""

from __future__ import annotations

import email.utils
import threading
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from addin.errors import AuthError, BridgeError, MessageError
from addin.mailbox.graph import GraphMailbox
from addin.mailbox.graph_sync import State
from addin.mailbox.registry import open_mailbox
from addin.mailbox.types import (
    TRACKED_CATEGORY,
    Address,
    Attachment,
    ChangeKind,
    FolderKind,
    MailboxAuth,
    MailboxSettings,
    Mark,
    Message,
    OutgoingMessage,
    SendState,
)
from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration

ALEX = "alex@contoso.example"
BOB = "bob@contoso.example"


@pytest.fixture
def sandbox() -> Iterator[MailSandbox]:
    with MailSandbox(seed="empty") as mail:
        mail.add_mailbox(ALEX, "pw-alex")
        mail.add_mailbox(BOB, "pw-bob")
        mail.add_token("token-alex", ALEX)
        yield mail


def _open(sandbox: MailSandbox, secret: object = None, **options: str) -> GraphMailbox:
    settings = MailboxSettings(
        backend="graph",
        email=ALEX,
        server=sandbox.graph_url,
        auth=MailboxAuth.OAUTH,
        timeout=10.0,
        options=dict(options),
    )
    mailbox = open_mailbox(settings, secret or (lambda: "token-alex"))  # type: ignore[arg-type]
    assert isinstance(mailbox, GraphMailbox)
    return mailbox


def _mime(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@fabrikam.example>"
    msg["To"] = ALEX
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = email.utils.make_msgid(domain="fabrikam.example")
    msg.set_content("hello")
    return msg.as_bytes()


def test_an_expired_sign_in_is_refreshed_once_then_reported_as_sign_in_needed(sandbox: MailSandbox) -> None:
    tokens = iter(["stale-token", "token-alex"])
    mailbox = _open(sandbox, lambda: next(tokens))
    assert mailbox.check().address == ALEX  # 401 on the stale token, then the refreshed one works
    sandbox.revoke_token("token-alex")
    mailbox = _open(sandbox)
    with pytest.raises(AuthError) as caught:
        mailbox.folder(FolderKind.INBOX)
    assert caught.value.title == "Sign-in needed" and "token-alex" not in caught.value.message


def test_an_expired_delta_token_starts_afresh_without_replaying_old_mail(sandbox: MailSandbox) -> None:
    mailbox = _open(sandbox)
    inbox = mailbox.folder(FolderKind.INBOX)
    sandbox.deliver(ALEX, _mime("old one"))
    state = mailbox.sync(inbox.id, None).sync_state
    sandbox.deliver(ALEX, _mime("old two"))
    parsed = State.load(state)
    assert parsed is not None
    garbled = State(parsed.all.replace("deltatoken=", "deltatoken=expired"), parsed.new, [])
    restarted = mailbox.sync(inbox.id, garbled.dump())
    assert restarted.changes == () and not restarted.more, "old mail is never reported again"
    new_id = sandbox.deliver(ALEX, _mime("after the restart"))
    page = mailbox.sync(inbox.id, restarted.sync_state)
    assert [(c.kind, c.id) for c in page.changes] == [(ChangeKind.CREATED, new_id)]


def test_deletions_and_moves_are_reported(sandbox: MailSandbox) -> None:
    mailbox = _open(sandbox)
    inbox = mailbox.folder(FolderKind.INBOX)
    archive_body = mailbox._client.json(
        "POST", "/me/mailFolders/msgfolderroot/childFolders", json={"displayName": "Archive"}
    )
    archive = str(archive_body["id"])
    first = sandbox.deliver(ALEX, _mime("to move"))
    second = sandbox.deliver(ALEX, _mime("to delete"))
    inbox_state = mailbox.sync(inbox.id, None).sync_state
    archive_state = mailbox.sync(archive, None).sync_state
    mailbox._client.json("POST", f"/me/messages/{first}/move", json={"destinationId": archive})
    mailbox._client.request("DELETE", f"/me/messages/{second}")
    changes = {(c.kind, c.id) for c in mailbox.sync(inbox.id, inbox_state).changes}
    assert changes == {(ChangeKind.DELETED, first), (ChangeKind.DELETED, second)}
    moved_in = mailbox.sync(archive, archive_state).changes
    assert [(c.kind, c.id) for c in moved_in] == [(ChangeKind.CREATED, first)], "a move in counts as arrival"


def test_watch_calls_back_on_a_change_and_stops(sandbox: MailSandbox) -> None:
    mailbox = _open(sandbox, watch_interval="0.2")
    inbox = mailbox.folder(FolderKind.INBOX)
    changed = threading.Event()
    stop = threading.Event()
    watcher = threading.Thread(target=mailbox.watch, args=([inbox.id], changed.set, stop))
    watcher.start()
    try:
        assert not changed.wait(1.0), "nothing changed, no call"
        sandbox.deliver(ALEX, _mime("watch me"))
        assert changed.wait(30), "a delivery was noticed"
    finally:
        stop.set()
        watcher.join(30)
    assert not watcher.is_alive()


def test_throttling_answers_are_waited_out(sandbox: MailSandbox) -> None:
    slept: list[float] = []
    settings = MailboxSettings(
        backend="graph", email=ALEX, server=sandbox.graph_url, auth=MailboxAuth.OAUTH, timeout=10.0
    )
    mailbox = GraphMailbox(settings, lambda: "token-alex", sleep=slept.append)
    sandbox.faults.update(
        {"fail_next": [{"status": 429, "retry_after": 2}, {"status": 503}], "match": "graph:"}
    )
    assert mailbox.folder(FolderKind.INBOX).kind is FolderKind.INBOX
    assert slept[0] == 2.0 and len(slept) == 2


def test_large_attachments_are_uploaded_in_a_session_and_arrive_whole(sandbox: MailSandbox) -> None:
    mailbox = _open(sandbox)
    big = bytes(range(256)) * (4 * 1024 * 1024 // 256 + 7)  # just over 4 MB: an upload session
    stamp = str(uuid.uuid4())
    mailbox.send(
        OutgoingMessage(
            message_id=email.utils.make_msgid(domain="crm.contoso.example"),
            subject="Big quote",
            to=(Address(BOB),),
            text_body="attached",
            attachments=(Attachment("big.bin", "application/octet-stream", big),),
            stamp=stamp,
        )
    )
    assert sandbox.stats.snapshot()["by_operation"].get("graph:CreateUploadSession") == 1
    [copy] = mailbox.find_by_stamp(mailbox.folder(FolderKind.SENT).id, stamp)
    [msg] = mailbox.fetch([copy.id])
    assert isinstance(msg, Message) and [a.content for a in msg.attachments] == [big]


def test_marks_batch_requests_and_fill_the_master_category_list(sandbox: MailSandbox) -> None:
    mailbox = _open(sandbox)
    ids = [sandbox.deliver(ALEX, _mime(f"mark {i}")) for i in range(25)]
    before = mailbox.requests_sent
    errors = mailbox.mark_many([Mark(i, (TRACKED_CATEGORY,), f"stamp-{n}") for n, i in enumerate(ids)])
    assert errors == [None] * 25
    # 25 PATCHes: two $batch requests (20 + 5), plus reading and extending the master list.
    assert mailbox.requests_sent - before == 4
    names = [c["displayName"] for c in mailbox._client.json("GET", "/me/outlook/masterCategories")["value"]]
    assert TRACKED_CATEGORY in names


def test_reading_several_folders_changes_costs_one_request(sandbox: MailSandbox) -> None:
    mailbox = _open(sandbox)
    folders = [mailbox.folder(k).id for k in (FolderKind.INBOX, FolderKind.SENT, FolderKind.DRAFTS)]
    states = {f: p.sync_state for f, p in mailbox.sync_many(dict.fromkeys(folders)).items()}
    sandbox.deliver(ALEX, _mime("one change"))
    before = mailbox.requests_sent
    pages = mailbox.sync_many(states)
    assert mailbox.requests_sent - before == 1, "three folders, two delta chains each: one $batch"
    assert sum(len(p.changes) for p in pages.values()) == 1


def _outgoing(stamp: str, attachments: tuple[Attachment, ...] = ()) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=email.utils.make_msgid(domain="crm.contoso.example"),
        subject="Quote",
        to=(Address(BOB),),
        text_body="x",
        attachments=attachments,
        stamp=stamp,
    )


def test_a_draft_whose_upload_failed_leaves_no_stamped_evidence(sandbox: MailSandbox) -> None:
    mailbox = _open(sandbox)
    big = b"\x01" * (4 * 1024 * 1024)
    stamp = str(uuid.uuid4())
    sandbox.faults.update({"fail_next": [{"status": 500}], "match": "graph:UploadChunk"})
    with pytest.raises(BridgeError):
        mailbox.send(_outgoing(stamp, (Attachment("big.bin", "application/octet-stream", big),)))
    assert mailbox.send_evidence(stamp).state is SendState.NONE, "an incomplete draft is never evidence"
    assert sandbox.items(ALEX, "drafts") == [], "and it was removed"


def test_a_send_the_server_refuses_removes_its_draft(sandbox: MailSandbox) -> None:
    mailbox = _open(sandbox)
    stamp = str(uuid.uuid4())
    sandbox.faults.update(
        {"fail_next": [{"status": 400, "code": "ErrorInvalidRecipients"}], "match": "SendDraft"}
    )
    with pytest.raises(MessageError) as caught:
        mailbox.send(_outgoing(stamp))
    assert "ErrorInvalidRecipients" in caught.value.message
    assert mailbox.send_evidence(stamp).state is SendState.NONE
