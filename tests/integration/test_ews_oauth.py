"""OAuth bearer tokens through the EWS backend.

Microsoft's sign-in (MSAL) cannot run here, so the SecretSource hands out tokens from a
list, as MSAL's ``acquire_token_silent`` would.  The server side is the sandbox Exchange
behind a small loopback front that accepts ``Authorization: Bearer`` for tokens it knows
(the sandbox itself speaks Basic only) and answers 401 for revoked or unknown ones.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from addin.errors import AuthError
from addin.mailbox.ews import EwsMailbox
from addin.mailbox.types import FolderKind, MailboxAuth, MailboxSettings
from addin.sandbox.common import SandboxServer
from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration

ALEX = "alex@contoso.example"
PASSWORD = "oauth-backing-pw"


class BearerFront:
    """WSGI middleware: valid bearer token -> the mailbox's Basic login; else 401."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.valid: set[str] = set()
        self.seen: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer ") :]
            self.seen.append(token)
            if token in self.valid:
                basic = base64.b64encode(f"{ALEX}:{PASSWORD}".encode()).decode()
                environ["HTTP_AUTHORIZATION"] = f"Basic {basic}"
            else:
                environ.pop("HTTP_AUTHORIZATION")
        return self.app(environ, start_response)


@pytest.fixture
def front(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MailSandbox, BearerFront, str]]:
    # requests-oauthlib refuses plain http unless told this is a test transport.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    with MailSandbox(seed="empty") as sandbox:
        sandbox.add_mailbox(ALEX, PASSWORD)
        bearer = BearerFront(sandbox.app)
        with SandboxServer(bearer) as server:
            yield sandbox, bearer, f"{server.origin}/EWS/Exchange.asmx"


def token_source(tokens: list[str]) -> tuple[Callable[[], str], list[str]]:
    handed: list[str] = []

    def secret() -> str:
        token = tokens[min(len(handed), len(tokens) - 1)]
        handed.append(token)
        return token

    return secret, handed


def settings(url: str) -> MailboxSettings:
    return MailboxSettings(backend="ews", email=ALEX, server=url, auth=MailboxAuth.OAUTH, timeout=5.0)


def test_bearer_token_is_used_and_refreshed_once_after_401(
    front: tuple[MailSandbox, BearerFront, str],
) -> None:
    _sandbox, bearer, url = front
    bearer.valid = {"token-1"}
    secret, handed = token_source(["token-1", "token-2"])
    box = EwsMailbox.from_settings(settings(url), secret)
    try:
        inbox = box.folder(FolderKind.INBOX)
        assert handed == ["token-1"]
        assert box.hints()["ews_auth_type"] == "OAuth 2.0"

        bearer.valid = {"token-2"}  # token-1 expired on the server side
        assert box.list_messages(inbox.id).items == ()

        assert handed == ["token-1", "token-2"], "exactly one refresh"
        assert bearer.seen[-1] == "token-2"
    finally:
        box.close()


def test_a_refresh_that_does_not_help_ends_in_auth_error(front: tuple[MailSandbox, BearerFront, str]) -> None:
    sandbox, bearer, url = front
    bearer.valid = {"good"}
    secret, handed = token_source(["good", "stale", "stale"])
    box = EwsMailbox.from_settings(settings(url), secret)
    try:
        inbox = box.folder(FolderKind.INBOX)
        bearer.valid = set()
        sandbox.stats.reset()
        with pytest.raises(AuthError) as caught:
            box.list_messages(inbox.id)
        assert caught.value.service == "mailbox"
        assert handed == ["good", "stale"], "one refresh, then give up"
        assert sandbox.stats.snapshot()["requests"] == 2
        assert "stale" not in str(caught.value)
    finally:
        box.close()
