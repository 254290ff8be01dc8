"""IMAP + SMTP backend behaviour beyond the shared contract, against a real Dovecot."""

from __future__ import annotations

import dataclasses
import email.message
import email.utils
import imaplib
import os
import threading
import uuid
from collections.abc import Iterator

import pytest

from addin.errors import AuthError, MailboxError, OfflineError
from addin.mailbox.imap import ImapMailbox
from addin.mailbox.registry import open_mailbox
from addin.mailbox.smtp_submit import Submission
from addin.mailbox.types import (
    TRACK_REQUEST_CATEGORY,
    Address,
    FolderKind,
    MailboxSettings,
    OutgoingMessage,
)
from addin.sandbox.dovecot import (
    INSTALL_HINT,
    DovecotServer,
    SubmissionServer,
    dovecot_binary,
    free_port,
    sample_message,
)

pytestmark = pytest.mark.integration
USERS = {"alex@contoso.example": "alex-pw-1", "bob@contoso.example": "bob-pw-1"}
ALEX = "alex@contoso.example"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[DovecotServer, SubmissionServer]]:
    if dovecot_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    with DovecotServer(dict(USERS)) as dovecot, SubmissionServer(dovecot) as smtp:
        yield dovecot, smtp


def _settings(servers: tuple[DovecotServer, SubmissionServer], **options: str) -> MailboxSettings:
    dovecot, smtp = servers
    return MailboxSettings(
        backend="imap",
        email=ALEX,
        server=dovecot.url,
        timeout=10.0,
        options={"smtp_server": smtp.url, "sent_copy_wait": "1", **options},
    )


@pytest.fixture
def mailbox(servers: tuple[DovecotServer, SubmissionServer]) -> Iterator[ImapMailbox]:
    mb = open_mailbox(_settings(servers), lambda: USERS[ALEX])
    assert isinstance(mb, ImapMailbox)
    yield mb
    mb.close()


def _other_client(dovecot: DovecotServer) -> imaplib.IMAP4:
    client = imaplib.IMAP4(dovecot.host, dovecot.port, timeout=10)
    client.login(ALEX, USERS[ALEX])
    return client


def test_a_wrong_password_is_an_auth_error_without_the_password(
    servers: tuple[DovecotServer, SubmissionServer],
) -> None:
    wrong = "Wrong-Pa55-" + uuid.uuid4().hex[:6]
    mb = open_mailbox(_settings(servers), lambda: wrong)
    with pytest.raises(AuthError) as caught:
        mb.check()
    assert wrong not in caught.value.message and caught.value.message


def test_a_tag_set_in_thunderbird_asks_for_tracking(
    servers: tuple[DovecotServer, SubmissionServer], mailbox: ImapMailbox
) -> None:
    dovecot, _ = servers
    inbox = mailbox.folder(FolderKind.INBOX)
    state = mailbox.sync(inbox.id, None).sync_state
    dovecot.lmtp_deliver(
        "carol@fabrikam.example", [ALEX], sample_message("carol@fabrikam.example", ALEX, "Tag me")
    )
    page = mailbox.sync(inbox.id, state)
    [created] = page.changes
    # Thunderbird stores a tag named "Track in CRM" as the keyword track_in_crm.
    client = _other_client(dovecot)
    client.select("INBOX")
    uid = created.id.split(":")[1]
    assert client.uid("STORE", uid, "+FLAGS", "(track_in_crm)")[0] == "OK"
    client.logout()
    [updated] = mailbox.sync(inbox.id, page.sync_state).changes
    assert updated.id == created.id and updated.summary is not None
    assert updated.summary.categories == (TRACK_REQUEST_CATEGORY,)


def test_a_renumbered_folder_restarts_sync_without_replaying_history(
    servers: tuple[DovecotServer, SubmissionServer], mailbox: ImapMailbox
) -> None:
    dovecot, _ = servers
    client = _other_client(dovecot)
    assert client.create("Projects")[0] == "OK"
    client.append("Projects", None, None, sample_message("carol@fabrikam.example", ALEX, "Old"))
    state = mailbox.sync("Projects", None).sync_state
    # Deleting and re-creating a folder gives it a new UIDVALIDITY.
    assert client.delete("Projects")[0] == "OK"
    assert client.create("Projects")[0] == "OK"
    client.append("Projects", None, None, sample_message("carol@fabrikam.example", ALEX, "Old again"))
    client.logout()
    with pytest.raises(MailboxError) as caught:
        mailbox.sync("Projects", state)
    assert caught.value.title == "Mailbox sync restarted"
    fresh = mailbox.sync("Projects", None)
    assert fresh.changes == ()


def test_a_provider_that_files_sent_copies_gets_no_second_one(
    servers: tuple[DovecotServer, SubmissionServer],
) -> None:
    _, smtp = servers
    smtp.file_sent_copy = True
    mb = open_mailbox(_settings(servers), lambda: USERS[ALEX])
    try:
        assert not mb.missing_copy_means_unsent(), "nothing is known before the first send"
        mid = email.utils.make_msgid(domain="crm.contoso.example")
        stamp = str(uuid.uuid4())
        mb.send(OutgoingMessage(mid, "Filed by the provider", (Address("bob@contoso.example"),), stamp=stamp))
        sent = mb.folder(FolderKind.SENT).id
        assert len(mb.find_by_message_id(sent, mid)) == 1
        assert len(mb.find_by_stamp(sent, stamp)) == 1, "the stamp header travels in the provider's copy"
        assert mb.hints()["provider_files_sent"] == "yes"
        assert mb.missing_copy_means_unsent()
        # The hint is kept: a new connection trusts the provider's copy at once.
        again = open_mailbox(
            dataclasses.replace(_settings(servers), options={**_settings(servers).options, **mb.hints()}),
            lambda: USERS[ALEX],
        )
        mid2 = email.utils.make_msgid(domain="crm.contoso.example")
        again.send(OutgoingMessage(mid2, "Second", (Address("bob@contoso.example"),)))
        assert len(again.find_by_message_id(sent, mid2)) == 1
        again.close()
    finally:
        smtp.file_sent_copy = False
        mb.close()


def test_idle_reports_new_mail_soon(
    servers: tuple[DovecotServer, SubmissionServer], mailbox: ImapMailbox
) -> None:
    dovecot, _ = servers
    changed = threading.Event()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            mailbox.watch(["INBOX"], changed.set, stop)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    watcher = threading.Thread(target=run)
    watcher.start()
    try:
        # Deliver until the watcher (which may still be connecting) hears of one; bounded.
        for _ in range(20):
            dovecot.lmtp_deliver(
                "carol@fabrikam.example", [ALEX], sample_message("carol@x.example", ALEX, "Ping")
            )
            if changed.wait(1.0):
                break
        assert changed.is_set(), "IDLE never reported the new message"
    finally:
        stop.set()
        watcher.join(30)
    assert not watcher.is_alive()
    assert not errors, errors


def test_bcc_recipients_get_the_mail_but_not_the_header(
    servers: tuple[DovecotServer, SubmissionServer], mailbox: ImapMailbox
) -> None:
    dovecot, _ = servers
    subject = f"Bcc {uuid.uuid4().hex[:6]}"
    mailbox.send(
        OutgoingMessage(
            email.utils.make_msgid(domain="crm.contoso.example"),
            subject,
            (Address("dora@northwind.example"),),
            bcc=(Address("bob@contoso.example"),),
        )
    )
    got = [
        p.read_bytes()
        for p in dovecot.maildir_files("bob@contoso.example")
        if subject.encode() in p.read_bytes()
    ]
    assert len(got) == 1, "the Bcc recipient got the mail once"
    headers = email.message_from_bytes(got[0])
    assert headers["Bcc"] is None
    assert "bob@contoso.example" not in f"{headers['To']} {headers['Cc']}"


def test_a_dropped_connection_is_reopened_transparently(
    servers: tuple[DovecotServer, SubmissionServer], mailbox: ImapMailbox
) -> None:
    inbox = mailbox.folder(FolderKind.INBOX)
    before = mailbox.list_messages(inbox.id, limit=5)
    client = mailbox._conn.client
    assert client is not None
    client.socket().shutdown(2)  # the network drops the session under the backend
    after = mailbox.list_messages(inbox.id, limit=5)
    assert [m.id for m in after.items] == [m.id for m in before.items]
    assert mailbox._conn.client is not client, "a new session was opened"


def test_smtp_xoauth2_sign_in(servers: tuple[DovecotServer, SubmissionServer]) -> None:
    dovecot, smtp = servers
    smtp.oauth_tokens[ALEX] = "ya29.planted-access-token"
    subject = f"OAuth {uuid.uuid4().hex[:6]}"
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = ALEX, "bob@contoso.example", subject
    message.set_content("hi")

    def submission(token: str) -> Submission:
        return Submission(
            "127.0.0.1", smtp.port, "starttls", username=ALEX, secret=token, oauth=True, timeout=10
        )

    submission("ya29.planted-access-token").send(message, ALEX, ["bob@contoso.example"])
    assert any(subject.encode() in p.read_bytes() for p in dovecot.maildir_files("bob@contoso.example"))
    with pytest.raises(AuthError) as caught:
        submission("expired-token").send(message, ALEX, ["bob@contoso.example"])
    assert "expired-token" not in caught.value.message


def test_check_also_proves_the_outgoing_server(servers: tuple[DovecotServer, SubmissionServer]) -> None:
    closed = _settings(servers)
    # An outgoing server nobody listens on: the Test button must say so before any send.
    wrong = dataclasses.replace(
        closed, options={**closed.options, "smtp_server": f"smtp://127.0.0.1:{free_port()}"}
    )
    mb = open_mailbox(wrong, lambda: USERS[ALEX])
    with pytest.raises(OfflineError) as caught:
        mb.check()
    assert "outgoing" in caught.value.message
    mb.close()
