"""The IMAP backend acts on the server's response codes (``[ALREADYEXISTS]``, ``[TRYCREATE]``,
``[NONEXISTENT]``) from a real Dovecot, not on the wording of its answers."""

from __future__ import annotations

import email.utils
import imaplib
import os
import uuid
from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from addin.mailbox.imap import ImapMailbox
from addin.mailbox.imap_conn import create_folder, response_code
from addin.mailbox.types import Address, FolderKind, MailboxSettings, OutgoingMessage
from addin.sandbox.dovecot import INSTALL_HINT, DovecotServer, SubmissionServer, dovecot_binary

pytestmark = pytest.mark.integration
ALEX, PASSWORD = "alex@contoso.example", "alex-pw-1"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[DovecotServer, SubmissionServer]]:
    if dovecot_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    with DovecotServer({ALEX: PASSWORD}) as dovecot, SubmissionServer(dovecot) as smtp:
        yield dovecot, smtp


def _client(dovecot: DovecotServer) -> IMAPClient:
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10)
    client.login(ALEX, PASSWORD)
    return client


def test_creating_a_folder_that_exists_is_fine_and_other_refusals_are_not(
    servers: tuple[DovecotServer, SubmissionServer],
) -> None:
    dovecot, _ = servers
    client = _client(dovecot)
    try:
        create_folder(client, "Made twice")
        create_folder(client, "Made twice")  # [ALREADYEXISTS]: another client was first
        assert any(name == "Made twice" for _, _, name in client.list_folders())
        with pytest.raises(imaplib.IMAP4.error) as refused:
            client.append("No such folder", b"Subject: x\r\n\r\nx\r\n")
        assert response_code(refused.value) == "TRYCREATE"
        with pytest.raises(imaplib.IMAP4.error):
            create_folder(client, "INBOX/../x" * 200)  # refused for another reason: raised
    finally:
        client.logout()


def test_a_sent_folder_deleted_by_another_client_is_made_again_for_the_copy(
    servers: tuple[DovecotServer, SubmissionServer],
) -> None:
    dovecot, smtp = servers
    name = "Sent " + uuid.uuid4().hex[:6]
    other = _client(dovecot)
    create_folder(other, name)
    settings = MailboxSettings(
        backend="imap",
        email=ALEX,
        server=dovecot.url,
        timeout=10.0,
        options={"smtp_server": smtp.url, "sent_copy": "append", "sent_folder": name},
    )
    mailbox = ImapMailbox(settings, lambda: PASSWORD)
    try:
        assert mailbox.folder(FolderKind.SENT).id == name
        mailbox.find_by_message_id(name, "<none@x>")  # selected once: known to exist
        other.delete_folder(name)
        mid = email.utils.make_msgid(domain="crm.contoso.example")
        mailbox.send(OutgoingMessage(mid, "Copy filed", (Address(ALEX),)))
        assert len(mailbox.find_by_message_id(name, mid)) == 1, "the folder is made again and holds the copy"
    finally:
        other.logout()
        mailbox.close()
