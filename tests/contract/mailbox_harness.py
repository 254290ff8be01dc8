"""Backend-neutral harness for the Mailbox contract suite.

Each backend contributes one factory: a context manager that starts whatever server the
backend talks to (in-process, on loopback) and yields a :class:`Harness`.  The contract
tests use only the Mailbox port plus the harness's server-side ``deliver``; adding the
IMAP or Graph backend to the suite means adding a factory to :data:`BACKENDS`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from addin.mailbox.port import Mailbox
from addin.mailbox.registry import open_mailbox
from addin.mailbox.types import MailboxAuth, MailboxSettings


@dataclass
class Harness:
    backend: str
    address: str  # the mailbox under test
    peer: str  # a second mailbox on the same server that receives what the first sends
    settings_for: Callable[[str], MailboxSettings]
    secret_for: Callable[[str], Callable[[], str]]
    # Put raw MIME into a folder ("inbox", "sentitems", ...) of a mailbox as if received;
    # returns the server's id for the new message.
    deliver: Callable[[str, bytes, str], str]
    server: Any = None
    opened: list[Mailbox] = field(default_factory=list)
    # How settings become a backend: through the installed plug-ins, as the app does; the
    # in-memory mailbox (not a plug-in a user could pick) connects to its harness's server.
    connect: Callable[[MailboxSettings, Callable[[], str]], Mailbox] = open_mailbox

    def open(self, address: str | None = None) -> Mailbox:
        address = address or self.address
        mailbox = self.connect(self.settings_for(address), self.secret_for(address))
        self.opened.append(mailbox)
        return mailbox

    def close_all(self) -> None:
        for mailbox in self.opened:
            with contextlib.suppress(Exception):
                mailbox.close()
        self.opened.clear()


PASSWORDS = {"alex@contoso.example": "demo", "bob@contoso.example": "bob-secret-1"}


@contextlib.contextmanager
def ews_harness() -> Iterator[Harness]:
    from addin.sandbox.mail import MailSandbox

    with MailSandbox(seed="empty") as sandbox:
        for address, password in PASSWORDS.items():
            sandbox.add_mailbox(address, password)

        def settings_for(address: str) -> MailboxSettings:
            return MailboxSettings(backend="ews", email=address, server=sandbox.ews_url, timeout=10.0)

        def secret_for(address: str) -> Callable[[], str]:
            return lambda: PASSWORDS[address]

        def deliver(address: str, mime: bytes, folder: str = "inbox") -> str:
            return str(sandbox.deliver(address, mime, folder=folder))

        harness = Harness(
            backend="ews",
            address="alex@contoso.example",
            peer="bob@contoso.example",
            settings_for=settings_for,
            secret_for=secret_for,
            deliver=deliver,
            server=sandbox,
        )
        try:
            yield harness
        finally:
            harness.close_all()


# Bearer tokens the sandbox maps to each mailbox for Microsoft Graph (what MSAL would hand out).
TOKENS = {address: f"graph-token-{address.partition('@')[0]}" for address in PASSWORDS}


@contextlib.contextmanager
def graph_harness() -> Iterator[Harness]:
    """The same sandbox Exchange reached through its Microsoft Graph endpoints (/v1.0/me/...)."""
    from addin.sandbox.mail import MailSandbox

    with MailSandbox(seed="empty") as sandbox:
        for address, password in PASSWORDS.items():
            sandbox.add_mailbox(address, password)
            sandbox.add_token(TOKENS[address], address)

        def settings_for(address: str) -> MailboxSettings:
            return MailboxSettings(
                backend="graph", email=address, server=sandbox.graph_url, auth=MailboxAuth.OAUTH, timeout=10.0
            )

        def secret_for(address: str) -> Callable[[], str]:
            return lambda: TOKENS[address]

        def deliver(address: str, mime: bytes, folder: str = "inbox") -> str:
            # Message ids are the same through EWS and Graph in the sandbox (immutable ids).
            return str(sandbox.deliver(address, mime, folder=folder))

        harness = Harness(
            backend="graph",
            address="alex@contoso.example",
            peer="bob@contoso.example",
            settings_for=settings_for,
            secret_for=secret_for,
            deliver=deliver,
            server=sandbox,
        )
        try:
            yield harness
        finally:
            harness.close_all()


BACKENDS: dict[str, Callable[[], contextlib.AbstractContextManager[Harness]]] = {
    "ews": ews_harness,
    "graph": graph_harness,
}


IMAP_PASSWORDS = {"alex@contoso.example": "alex-imap-1", "bob@contoso.example": "bob-imap-1"}


@contextlib.contextmanager
def imap_harness() -> Iterator[Harness]:
    """Real Dovecot (IMAP, LMTP) and an aiosmtpd submission server delivering into it."""
    import os

    import pytest

    from addin.sandbox.dovecot import INSTALL_HINT, DovecotServer, SubmissionServer, dovecot_binary

    if dovecot_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    with DovecotServer(dict(IMAP_PASSWORDS)) as dovecot, SubmissionServer(dovecot) as smtp:

        def settings_for(address: str) -> MailboxSettings:
            return MailboxSettings(
                backend="imap",
                email=address,
                server=dovecot.url,
                timeout=10.0,
                options={"smtp_server": smtp.url, "sent_copy_wait": "0.2"},
            )

        def secret_for(address: str) -> Callable[[], str]:
            return lambda: IMAP_PASSWORDS[address]

        def deliver(address: str, mime: bytes, folder: str = "inbox") -> str:
            from imapclient import IMAPClient

            name = {"inbox": "INBOX", "sentitems": "Sent"}.get(folder, folder)
            with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as client:
                client.login(address, IMAP_PASSWORDS[address])
                answer = client.append(name, mime)
                info = client.select_folder(name)
            # "[APPENDUID <uidvalidity> <uid>] Append completed."
            text = answer.decode() if isinstance(answer, bytes) else str(answer)
            uid = int(text.split("]")[0].split()[-1])
            return f"{int(info[b'UIDVALIDITY'])}:{uid}:{name}"

        harness = Harness(
            backend="imap",
            address="alex@contoso.example",
            peer="bob@contoso.example",
            settings_for=settings_for,
            secret_for=secret_for,
            deliver=deliver,
            server=(dovecot, smtp),
        )
        try:
            yield harness
        finally:
            harness.close_all()


BACKENDS["imap"] = imap_harness


@contextlib.contextmanager
def memory_harness() -> Iterator[Harness]:
    """The in-memory mailbox (addin.mailbox.memory) that the engine's unit tests run on: held to
    the same contract as the real backends, so those tests can trust it."""
    from addin.engine.mime import parse_mime
    from addin.mailbox.memory import MemoryMailbox, MemoryMailServer

    server = MemoryMailServer()
    for address in PASSWORDS:
        server.box(address)

    def settings_for(address: str) -> MailboxSettings:
        return MailboxSettings(backend="memory", email=address, server="memory")

    def secret_for(address: str) -> Callable[[], str]:
        return lambda: PASSWORDS[address]

    def connect(settings: MailboxSettings, secret: Callable[[], str]) -> Mailbox:
        return MemoryMailbox(server, settings.email)

    def deliver(address: str, mime: bytes, folder: str = "inbox") -> str:
        return MemoryMailbox(server, address).deliver(parse_mime(mime), folder)

    harness = Harness(
        backend="memory",
        address="alex@contoso.example",
        peer="bob@contoso.example",
        settings_for=settings_for,
        secret_for=secret_for,
        deliver=deliver,
        server=server,
        connect=connect,
    )
    try:
        yield harness
    finally:
        harness.close_all()


BACKENDS["memory"] = memory_harness
