"""Retry policy and error conversion for the EWS backend.

exchangelib's ``FaultTolerance`` treats HTTP 401 as "busy" and retries for up to an
hour, which turns a wrong password into a silent hang.  The backend therefore runs
exchangelib with :class:`BridgeRetryPolicy` (fail fast on everything) and does its own
bounded back-off on ``ErrorServerBusy`` in :meth:`Backoff.run`.

Errors are told apart by their exchangelib class (one per EWS response code) and, for a
broken connection, by the requests/urllib3 exception exchangelib wraps (``never_sent``,
``is_connection_failure`` in :mod:`addin.connection_errors`) — never by message text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from exchangelib import errors as exl
from exchangelib.protocol import FailFast

from addin.connection_errors import chain, is_connection_failure, never_sent
from addin.errors import (
    AuthError,
    BridgeError,
    MailboxError,
    MessageError,
    OfflineError,
    ThrottledError,
    UnknownOutcomeError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Used when the server says "busy" without a BackOffMilliseconds hint.
DEFAULT_BACKOFF = 2.0
# No single wait longer than this; a server asking for more is reported as throttled.
DEFAULT_MAX_WAIT = 60.0
# Busy answers in a row before giving up on one operation.
DEFAULT_MAX_RETRIES = 5


class BridgeRetryPolicy(FailFast):  # type: ignore[misc]
    """Fail fast on every error, but classify a few more HTTP answers than exchangelib does."""

    def raise_response_errors(self, response: Any) -> None:
        status = response.status_code
        # Checked before exchangelib's own rules, which treat any non-200 answer carrying
        # "Connection: close" as "busy" and so would retry a refused login.
        if status == 401:
            raise exl.UnauthorizedError(f"Invalid credentials for {response.url}")
        if status == 403:
            raise exl.UnauthorizedError(f"Access denied (HTTP 403) for {response.url}")
        if status in (429, 503):
            retry_after = _retry_after(response)
            raise exl.ErrorServerBusy(f"HTTP {status}", back_off=retry_after)
        super().raise_response_errors(response)


def _retry_after(response: Any) -> float | None:
    try:
        value = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def _is_connection_failure(exc: BaseException) -> bool:
    # exchangelib re-raises a broken connection as ErrorTimeoutExpired (and as ErrorServerBusy
    # when it has more than one connection to shed) inside ``except ConnectionError``, and a
    # TLS or connect failure as TransportError: the requests exception stays in the chain.
    return is_connection_failure(exc)


def sync_state_invalid(exc: BaseException) -> bool:
    """True when ``exc`` (or the exchangelib error it was converted from) says the saved
    SyncFolderItems state is no longer valid (ErrorInvalidSyncStateData)."""
    return any(isinstance(cause, exl.ErrorInvalidSyncStateData) for cause in chain(exc))


def _server_text(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # Some exchangelib messages embed whole responses; keep the user-facing part short.
    return text if len(text) <= 300 else text[:300] + "…"


def convert(exc: BaseException, *, server: str, unknown_outcome: bool = False) -> BridgeError:
    """Turn an exchangelib/requests exception into the matching :mod:`addin.errors` type."""
    if isinstance(exc, BridgeError):
        return exc
    if isinstance(exc, exl.UnauthorizedError):
        return AuthError(
            f"The mail server {server} refused the sign-in ({_server_text(exc)}).", service="mailbox"
        )
    if isinstance(exc, exl.ErrorAccessDenied | exl.ErrorNonExistentMailbox):
        return AuthError(f"The mail server {server} denied access: {_server_text(exc)}", service="mailbox")
    if isinstance(exc, exl.RateLimitError):
        return ThrottledError(f"The mail server {server} is busy; try again later.", retry_after=exc.wait)
    if isinstance(exc, exl.ErrorServerBusy):
        return ThrottledError(
            f"The mail server {server} is busy; try again later.", retry_after=exc.back_off or None
        )
    if _is_connection_failure(exc):
        if unknown_outcome and not never_sent(exc):
            return UnknownOutcomeError(
                f"The connection to {server} broke while sending; the message may or may not have gone out."
            )
        return OfflineError(f"Cannot reach the mail server {server}.")
    if isinstance(exc, exl.AutoDiscoverFailed):
        return MailboxError(f"Could not find the Exchange server automatically: {_server_text(exc)}")
    if isinstance(exc, exl.ErrorItemNotFound | exl.ErrorInvalidIdMalformed | exl.ErrorInvalidIdEmpty):
        return MessageError(f"The message or folder is no longer in the mailbox ({type(exc).__name__}).")
    if isinstance(exc, exl.EWSError | exl.ResponseMessageError):
        return MailboxError(f"The mail server {server} answered: {type(exc).__name__}: {_server_text(exc)}")
    if isinstance(exc, requests.exceptions.RequestException):
        return OfflineError(f"Cannot reach the mail server {server} ({type(exc).__name__}).")
    return MailboxError(f"Mailbox operation failed: {type(exc).__name__}: {_server_text(exc)}")


def item_error_reason(exc: BaseException) -> str:
    """A short, user-readable reason for one item's failure inside a bulk answer."""
    return f"{type(exc).__name__}: {_server_text(exc)}"


class Backoff:
    """Bounded back-off on ErrorServerBusy, honouring the server's BackOffMilliseconds."""

    def __init__(
        self,
        sleep: Callable[[float], None],
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_wait: float = DEFAULT_MAX_WAIT,
        default_wait: float = DEFAULT_BACKOFF,
    ) -> None:
        self.sleep = sleep
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.default_wait = default_wait

    def run(
        self,
        fn: Callable[[], T],
        *,
        server: str,
        on_auth_failure: Callable[[], bool] | None = None,
        unknown_outcome: bool = False,
    ) -> T:
        """Run ``fn`` (which must fully consume any generator) with busy retries.

        ``on_auth_failure`` may refresh credentials once and return True to retry.
        """
        busy_count = 0
        refreshed = False
        while True:
            try:
                return fn()
            except exl.ErrorServerBusy as exc:
                if _is_connection_failure(exc):
                    raise convert(exc, server=server, unknown_outcome=unknown_outcome) from exc
                busy_count += 1
                wait = exc.back_off if exc.back_off else self.default_wait * (2 ** (busy_count - 1))
                if busy_count > self.max_retries or wait > self.max_wait:
                    raise ThrottledError(
                        f"The mail server {server} is busy; try again later.", retry_after=wait
                    ) from None
                log.info("Mail server busy; backing off %.3f s (attempt %d)", wait, busy_count)
                self.sleep(wait)
            except exl.UnauthorizedError as exc:
                if not refreshed and on_auth_failure is not None and on_auth_failure():
                    refreshed = True
                    continue
                raise convert(exc, server=server) from None
            except BridgeError:
                raise
            except Exception as exc:
                raise convert(exc, server=server, unknown_outcome=unknown_outcome) from exc
