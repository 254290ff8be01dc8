"""IMAP and SMTP over TLS (implicit and STARTTLS) against a real Dovecot with a self-signed
certificate, and an SMTP server that requires STARTTLS before AUTH."""

from __future__ import annotations

import email.utils
import os
import ssl
import uuid
from collections.abc import Iterator

import pytest

from addin.errors import MailboxError
from addin.mailbox.registry import open_mailbox
from addin.mailbox.smtp_submit import Submission
from addin.mailbox.types import Address, MailboxSettings, OutgoingMessage
from addin.sandbox.dovecot import INSTALL_HINT, DovecotServer, SubmissionServer, dovecot_binary

pytestmark = pytest.mark.integration
USERS = {"alex@contoso.example": "alex-tls-1", "bob@contoso.example": "bob-tls-1"}
ALEX = "alex@contoso.example"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[DovecotServer, SubmissionServer]]:
    if dovecot_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    with DovecotServer(dict(USERS), tls=True) as dovecot, SubmissionServer(dovecot, tls=True) as smtp:
        yield dovecot, smtp


def _settings(servers: tuple[DovecotServer, SubmissionServer], imap: str, verify: bool) -> MailboxSettings:
    _, smtp = servers
    return MailboxSettings(
        backend="imap",
        email=ALEX,
        server=imap,
        timeout=10.0,
        verify_tls=verify,
        options={"smtp_server": f"smtp://127.0.0.1:{smtp.port}", "sent_copy": "append"},
    )


def test_implicit_tls_and_starttls_both_encrypt(servers: tuple[DovecotServer, SubmissionServer]) -> None:
    dovecot, _ = servers
    for url in (f"imaps://127.0.0.1:{dovecot.tls_port}", f"imap://127.0.0.1:{dovecot.port}"):
        mb = open_mailbox(_settings(servers, url, verify=False), lambda: USERS[ALEX])
        try:
            assert mb.check().backend == "imap"
            client = mb._conn.client  # type: ignore[attr-defined]
            assert isinstance(client.socket(), ssl.SSLSocket), f"{url} did not encrypt"
        finally:
            mb.close()


def test_send_over_starttls_reaches_the_recipient(servers: tuple[DovecotServer, SubmissionServer]) -> None:
    dovecot, _ = servers
    mb = open_mailbox(
        _settings(servers, f"imaps://127.0.0.1:{dovecot.tls_port}", verify=False), lambda: USERS[ALEX]
    )
    subject = f"TLS {uuid.uuid4().hex[:6]}"
    mb.send(OutgoingMessage(email.utils.make_msgid(), subject, (Address("bob@contoso.example"),)))
    mb.close()
    assert sum(subject.encode() in p.read_bytes() for p in dovecot.maildir_files("bob@contoso.example")) == 1


def test_an_untrusted_certificate_is_refused_with_a_clear_error(
    servers: tuple[DovecotServer, SubmissionServer],
) -> None:
    dovecot, smtp = servers
    mb = open_mailbox(
        _settings(servers, f"imaps://127.0.0.1:{dovecot.tls_port}", verify=True), lambda: USERS[ALEX]
    )
    with pytest.raises(MailboxError) as caught:
        mb.check()
    assert caught.value.title == "Certificate not trusted"
    smtp_check = Submission(
        "127.0.0.1", smtp.port, "starttls", username=ALEX, secret=USERS[ALEX], oauth=False, timeout=10
    )
    with pytest.raises(MailboxError) as refused:
        smtp_check.verify()
    assert refused.value.title == "Certificate not trusted"


def test_a_trusted_certificate_is_verified_including_the_host(
    servers: tuple[DovecotServer, SubmissionServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot, _ = servers
    # Trust the server's certificate the way a company CA would be trusted: through OpenSSL's store.
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.root / "cert.pem"))
    mb = open_mailbox(
        _settings(servers, f"imaps://127.0.0.1:{dovecot.tls_port}", verify=True), lambda: USERS[ALEX]
    )
    try:
        assert mb.check().backend == "imap"  # IMAP and SMTP (STARTTLS) both verified
    finally:
        mb.close()
    # The same server under a name its certificate does not carry.
    wrong_host = open_mailbox(
        _settings(servers, f"imaps://localhost:{dovecot.tls_port}", verify=True), lambda: USERS[ALEX]
    )
    with pytest.raises(MailboxError) as caught:
        wrong_host.check()
    assert caught.value.title == "Certificate not trusted"


def test_implicit_tls_smtp_submission(servers: tuple[DovecotServer, SubmissionServer]) -> None:
    dovecot, _ = servers
    with SubmissionServer(dovecot, implicit_tls=True) as smtps:
        assert smtps.url.startswith("smtps://")
        settings = _settings(servers, f"imaps://127.0.0.1:{dovecot.tls_port}", verify=False)
        settings = MailboxSettings(**{**settings.__dict__, "options": {"smtp_server": smtps.url}})
        mb = open_mailbox(settings, lambda: USERS[ALEX])
        subject = f"SMTPS {uuid.uuid4().hex[:6]}"
        mb.send(OutgoingMessage(email.utils.make_msgid(), subject, (Address("bob@contoso.example"),)))
        mb.close()
    assert sum(subject.encode() in p.read_bytes() for p in dovecot.maildir_files("bob@contoso.example")) == 1
