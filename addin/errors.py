"""Errors the bridge raises: each carries a short title and a message a user can read.

Third-party exceptions (requests, exchangelib, keyring, sqlite3) are converted into
these at the boundary of the module that calls the library, so the engine, the CLI
and the UI only ever see ``BridgeError`` subclasses.  Messages never contain a
secret: callers build them from URLs without credentials, status codes and the
server's own error text.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the core raises on purpose."""

    title: str = "CRM Bridge error"
    #: Where the error is a server's answer: its HTTP status and error code (Dataverse's
    #: ``0x80040237``, Graph's ``ErrorItemNotFound``).  Code decides by these, never by the
    #: text of ``message``, which is for people.
    status: int | None = None
    code: str | None = None

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        return {"type": type(self).__name__, "title": self.title, "message": self.message}


class ConfigError(BridgeError):
    title = "Configuration problem"


class CredentialStoreError(BridgeError):
    """The OS keyring is locked, missing or refused the operation."""

    title = "Cannot reach the system keyring"


class AuthError(BridgeError):
    """The server refused the credentials (401/403, bad password, expired sign-in)."""

    title = "Sign-in needed"

    def __init__(self, message: str, *, service: str = "", title: str | None = None) -> None:
        super().__init__(message, title=title)
        self.service = service


class OfflineError(BridgeError):
    """The server could not be reached at all (DNS, refused, timeout before sending)."""

    title = "Offline"


class ThrottledError(BridgeError):
    """The server asked us to slow down and the retry budget ran out."""

    title = "The server is busy"

    def __init__(self, message: str, *, retry_after: float | None = None, title: str | None = None) -> None:
        super().__init__(message, title=title)
        self.retry_after = retry_after


class UnknownOutcomeError(BridgeError):
    """A request was sent but its response was lost: it may or may not have taken effect.

    Callers must reconcile (look the record up) before retrying anything that is not
    idempotent.
    """

    title = "Outcome unknown"


class CrmError(BridgeError):
    """An error answered by the CRM (Dataverse) that is not one of the more specific ones."""

    title = "CRM error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(message, title=title)
        self.status = status
        self.code = code


class ConflictError(CrmError):
    """Optimistic concurrency failed (412) or a duplicate key was refused."""

    title = "Changed elsewhere"


class NotFoundError(CrmError):
    title = "Not found"


class MailboxError(BridgeError):
    """An error from the mail server or the mailbox backend."""

    title = "Mailbox error"


class MessageError(BridgeError):
    """One message (or one CRM e-mail) cannot be processed; the rest of the batch goes on."""

    title = "Message cannot be processed"


class HeaderInjectionError(MessageError):
    """A subject or address coming from the CRM contains CR/LF or other control characters."""

    title = "Unsafe e-mail header"
