"""Errors of the Graph backend: Graph's error answers as :mod:`addin.errors` types.

Graph error bodies look like ``{"error": {"code": "ErrorItemNotFound", "message": "..."}}``
(with camelCase ``innerError``); the user sees the code and message, never a token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from addin.errors import AuthError, BridgeError, MailboxError, MessageError, ThrottledError
from addin.mailbox.ews_errors import DEFAULT_BACKOFF

RETRY_STATUSES = (429, 503, 504)
# Error codes (lower case) that mean the delta token can no longer be used (410 says it too).
SYNC_STATE_GONE_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})


class SyncStateGone(MailboxError):
    """The delta token expired or is garbled (HTTP 410 or syncStateNotFound): start afresh."""


def error_text(body: Any) -> tuple[str, str]:
    """(code, message) of a Graph error body ``{"error": {"code", "message"}}``."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            return str(inner.get("code") or ""), str(inner.get("message") or "")[:300]
    return "", ""


def sync_state_gone(status: int, body: Any) -> bool:
    """True when a delta answer says the saved sync state must be dropped (410 or its code)."""
    return status == 410 or error_text(body)[0].lower() in SYNC_STATE_GONE_CODES


def convert_status(status: int, body: Any, *, server: str, what: str = "") -> BridgeError:
    """The core error for one failed Graph answer (a whole response or one batch part); it
    carries the answer's HTTP status and Graph error code for callers to decide by."""
    error = _convert_status(status, body, server=server, what=what)
    error.status = status
    error.code = error_text(body)[0] or None
    return error


def _convert_status(status: int, body: Any, *, server: str, what: str) -> BridgeError:
    code, message = error_text(body)
    detail = f"{code}: {message}" if code and message else (code or message or f"HTTP {status}")
    subject = f" ({what})" if what else ""
    if status == 401:
        return AuthError(
            f"Microsoft 365 refused the sign-in for the mailbox{subject}: {detail}", service="mailbox"
        )
    if status == 403:
        return AuthError(
            f"Microsoft 365 denied access to the mailbox{subject}: {detail}. The app may lack a permission "
            "(Mail.ReadWrite, Mail.Send, MailboxSettings.ReadWrite).",
            service="mailbox",
        )
    if sync_state_gone(status, body):
        return SyncStateGone(
            "The saved sync state of this folder is no longer valid; sync starts again from now.",
            title="Mailbox sync restarted",
        )
    if status == 404:
        return MessageError(f"The message or folder is no longer in the mailbox{subject} ({detail}).")
    if status in RETRY_STATUSES:
        return ThrottledError(f"The mail server {server} is busy; try again later ({detail}).")
    if 400 <= status < 500:
        return MessageError(f"The mail server refused the request{subject}: {detail}")
    return MailboxError(f"The mail server {server} answered HTTP {status}{subject}: {detail}")


def retry_after(headers: Mapping[str, str], attempt: int, default: float = DEFAULT_BACKOFF) -> float:
    """Seconds to wait before repeating a throttled request (``attempt`` counts from 1)."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                break
            if seconds >= 0:
                return seconds
    return float(default * (2 ** (attempt - 1)))


F = TypeVar("F", bound=Callable[..., Any])


def answers_checked(fn: F) -> F:
    """A Graph answer missing what the documentation promises (an id, a list) surfaces as
    a MailboxError with a readable message, never as a KeyError or TypeError."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise MailboxError(
                f"Microsoft Graph answered something unexpected ({type(exc).__name__}: {exc})"[:300]
            ) from exc

    return cast(F, wrapper)
