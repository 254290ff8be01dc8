"""Errors are told apart by type, HTTP status and server code — never by their message text.

Each case pairs a failure with a message that would mislead a text match, so a regression to
matching text fails here.
"""

from __future__ import annotations

import http.client
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3.exceptions
from exchangelib import errors as exl
from imapclient.exceptions import IMAPClientError, LoginError

from addin.connection_errors import is_connection_failure, never_sent
from addin.errors import (
    AuthError,
    BridgeError,
    MailboxError,
    MessageError,
    OfflineError,
    ThrottledError,
    UnknownOutcomeError,
)
from addin.mailbox import ews_errors
from addin.mailbox.graph_categories import is_duplicate
from addin.mailbox.graph_errors import SyncStateGone, convert_status, sync_state_gone
from addin.mailbox.imap_conn import Connection, response_code
from addin.mailbox.types import MailboxSettings
from addin.store import Store

# -- connections: what the requests/urllib3 chain says, whatever the words -------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts a connection, reads the request and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted: list[socket.socket] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
            accepted.append(conn)
            conn.recv(65536)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    server.close()
    for conn in accepted:
        conn.close()
    thread.join(2)


def test_a_refused_connection_never_sent_the_request() -> None:
    with pytest.raises(requests.ConnectionError) as refused:
        requests.post(f"http://127.0.0.1:{_closed_port()}/", data=b"x", timeout=2)
    assert never_sent(refused.value) and is_connection_failure(refused.value)


def test_a_request_without_an_answer_may_have_been_received(silent_server: int) -> None:
    with pytest.raises(requests.ReadTimeout) as silent:
        requests.post(f"http://127.0.0.1:{silent_server}/", data=b"x", timeout=(2, 0.3))
    assert not never_sent(silent.value) and is_connection_failure(silent.value)


def test_the_words_of_a_message_do_not_decide() -> None:
    broken = requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection refused (not really)"))
    assert not never_sent(broken), "a broken connection is not 'never sent', whatever its text says"
    refused = requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.NewConnectionError(None, "oops"))  # type: ignore[arg-type]
    )
    assert never_sent(refused)
    assert not is_connection_failure(ValueError("Failed to establish a new connection"))


def _raised_inside(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` raised in ``except inner`` (how exchangelib re-raises), with its chain."""
    try:
        try:
            raise inner
        except type(inner):
            raise outer  # noqa: B904 - the implicit chain is what is being tested
    except BaseException as exc:
        return exc


# -- EWS: exchangelib's classes and the exception they wrap ----------------------------------


def test_ews_a_connection_error_reraised_as_a_timeout_is_offline_or_unknown() -> None:
    refused = requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.NewConnectionError(None, "x"))  # type: ignore[arg-type]
    )
    lost = requests.ConnectionError(
        urllib3.exceptions.ProtocolError("x", http.client.RemoteDisconnected("x"))
    )
    wrapped_refused = _raised_inside(exl.ErrorTimeoutExpired("Reraised"), refused)
    wrapped_lost = _raised_inside(exl.ErrorTimeoutExpired("Reraised"), lost)
    assert isinstance(ews_errors.convert(wrapped_refused, server="s", unknown_outcome=True), OfflineError)
    assert isinstance(ews_errors.convert(wrapped_lost, server="s", unknown_outcome=True), UnknownOutcomeError)
    assert isinstance(ews_errors.convert(wrapped_lost, server="s"), OfflineError)


def test_ews_the_servers_own_timeout_answer_is_not_a_broken_connection() -> None:
    # "Reraised from ConnectionError(Timeout)" in the text, but no connection failure behind it.
    answer = exl.ErrorTimeoutExpired("Reraised from ConnectionError(Timeout)")
    assert isinstance(ews_errors.convert(answer, server="s", unknown_outcome=True), MailboxError)
    assert not isinstance(ews_errors.convert(answer, server="s"), OfflineError)
    busy = exl.ErrorServerBusy("Connection refused", back_off=3)
    assert isinstance(ews_errors.convert(busy, server="s"), ThrottledError)


def test_ews_an_invalid_sync_state_is_recognised_by_its_class() -> None:
    try:
        raise ews_errors.convert(
            exl.ErrorInvalidSyncStateData("x"), server="s"
        ) from exl.ErrorInvalidSyncStateData("x")
    except MailboxError as converted:
        assert ews_errors.sync_state_invalid(converted)
    other = MailboxError("The mail server answered: ErrorInvalidSyncStateData")
    other.__cause__ = exl.ErrorItemNotFound("ErrorInvalidSyncStateData")
    assert not ews_errors.sync_state_invalid(other)


# -- Graph: HTTP status and Graph's error code ------------------------------------------------


def _graph_error(status: int, code: str, message: str) -> Any:
    return convert_status(status, {"error": {"code": code, "message": message}}, server="graph")


def test_graph_errors_carry_status_and_code() -> None:
    gone = _graph_error(404, "ErrorItemNotFound", "The item is gone")
    assert isinstance(gone, MessageError) and (gone.status, gone.code) == (404, "ErrorItemNotFound")
    expired = _graph_error(400, "syncStateNotFound", "The token expired")
    assert isinstance(expired, SyncStateGone) and expired.status == 400
    assert sync_state_gone(410, None) and sync_state_gone(400, {"error": {"code": "SyncStateInvalid"}})
    # The text mentions a sync state; the code says something else.
    assert not sync_state_gone(400, {"error": {"code": "ErrorInvalidRequest", "message": "bad syncstate"}})


def test_graph_a_duplicate_category_is_known_by_status_or_code() -> None:
    assert is_duplicate(
        _graph_error(409, "ErrorDuplicateCategoryName", "A category named 'x' already exists.")
    )
    assert is_duplicate(_graph_error(400, "ErrorDuplicateCategoryName", "Refused"))
    assert not is_duplicate(_graph_error(400, "ErrorInvalidRequest", "duplicate name, it exists"))


# -- IMAP: the response code in brackets ------------------------------------------------------


def test_imap_response_codes_are_read_from_the_answer() -> None:
    assert (
        response_code(IMAPClientError("create failed: [ALREADYEXISTS] Mailbox already exists"))
        == "ALREADYEXISTS"
    )
    assert (
        response_code(IMAPClientError("append failed: [TRYCREATE] Mailbox doesn't exist: Sent"))
        == "TRYCREATE"
    )
    assert response_code(LoginError("login failed: [UNAVAILABLE] Temporary failure")) == "UNAVAILABLE"
    assert response_code(IMAPClientError("b'[NONEXISTENT] Unknown Mailbox'")) == "NONEXISTENT"
    # A folder name in brackets later in the text is no response code.
    assert response_code(IMAPClientError("select failed: Mailbox [Gmail]/Sent is busy")) is None
    assert response_code(IMAPClientError("create failed: already exists")) is None


# -- the local journal: SQLite's result code ---------------------------------------------------


def test_the_journal_names_the_fix_for_a_read_only_file_by_sqlites_code(tmp_path: Path) -> None:
    store = Store(tmp_path / "journal.sqlite3")
    store.close()
    read_only = sqlite3.connect(f"file:{tmp_path / 'journal.sqlite3'}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as refused:
        read_only.execute("CREATE TABLE t (x)")
    read_only.close()
    reopened = Store(tmp_path / "journal.sqlite3")
    try:
        assert "chmod 600" in reopened._hint(refused.value)
        assert reopened._hint(sqlite3.OperationalError("attempt to write a readonly database")) == ""
    finally:
        reopened.close()


# -- IMAP sign-in: a temporary refusal is not a wrong password --------------------------------


class _ScriptedImap:
    """Just enough of an IMAP server on loopback to answer LOGIN with a chosen response."""

    def __init__(self, login_answer: str) -> None:
        self.login_answer = login_answer
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = int(self.server.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn, conn.makefile("rwb") as stream:
            stream.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
            stream.flush()
            for line in stream:
                tag, _, command = line.decode().strip().partition(" ")
                verb = command.split(" ", 1)[0].upper()
                if verb == "CAPABILITY":
                    stream.write(f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode())
                elif verb == "LOGIN":
                    stream.write(f"{tag} {self.login_answer}\r\n".encode())
                else:
                    stream.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                    stream.flush()
                    return
                stream.flush()

    def close(self) -> None:
        self.server.close()
        self.thread.join(2)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("NO [UNAVAILABLE] Authentication failed.", OfflineError),  # the text says "failed": ignored
        ("NO [AUTHENTICATIONFAILED] Server unavailable.", AuthError),  # the text misleads: ignored
        ("NO Login refused.", AuthError),
    ],
)
def test_an_imap_sign_in_refusal_is_classified_by_its_response_code(answer: str, expected: type) -> None:
    server = _ScriptedImap(answer)
    try:
        settings = MailboxSettings(
            backend="imap", email="alex@contoso.example", server=f"imap://127.0.0.1:{server.port}"
        )
        with pytest.raises(BridgeError) as refused:
            Connection(settings, lambda: "pw").open()
        assert type(refused.value) is expected, refused.value
    finally:
        server.close()
