"""The IMAP connection of the IMAP backend: connect, sign in, convert errors, reconnect.

Library: IMAPClient (well kept, pure Python on top of imaplib).  imaplib alone would
do, but IMAPClient parses FETCH, LIST, STATUS and IDLE responses, decodes modified
UTF-7 folder names and offers STARTTLS and XOAUTH2, which would otherwise be hand
written here.

Server: ``imaps://host[:993]`` (implicit TLS), ``imap://host[:143]`` (STARTTLS,
required unless the server is on loopback) or a bare host name (implicit TLS).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from addin.errors import AuthError, BridgeError, ConfigError, MailboxError, OfflineError
from addin.mailbox.types import MailboxAuth, MailboxSettings, SecretSource

T = TypeVar("T")

# IMAPClient logs protocol traffic (message contents; sign-in lines redacted only in simple
# cases) at DEBUG: keep its loggers at INFO so an app debug log never holds mail or secrets.
for _name in ("imapclient", "imapclient.imaplib", "imapclient.imapclient"):
    _logger = logging.getLogger(_name)
    if _logger.level < logging.INFO:
        _logger.setLevel(logging.INFO)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# The response code opening a tagged NO/BAD answer's text (RFC 3501 §7.1 resp-text-code,
# RFC 5530): IMAPClient raises ``"<command> failed: [CODE] human text"``.
_RESPONSE_CODE = re.compile(r"^(?:[A-Za-z]+ failed: )?\[([A-Za-z0-9-]+)[\] ]")


def parse_server(server: str) -> tuple[str, int, str]:
    """(host, port, security) of the incoming server."""
    text = server.strip()
    if not text:
        raise ConfigError("No incoming mail server is set (for example imaps://imap.example.com).")
    if "://" not in text:
        text = "imaps://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps") or not parts.hostname:
        raise ConfigError(f"The incoming server {server!r} is not of the form imaps://host or imap://host.")
    security = "tls" if scheme == "imaps" else "starttls"
    try:
        port = parts.port or (993 if security == "tls" else 143)
    except ValueError:
        raise ConfigError(f"The incoming server {server!r} has an invalid port.") from None
    return parts.hostname, port, security


class Connection:
    """One IMAP session, opened lazily and again after it drops; not thread-safe (the
    backend holds a lock around it)."""

    def __init__(self, settings: MailboxSettings, secret: SecretSource) -> None:
        self.settings = settings
        self._secret = secret
        self.host, self.port, self.security = parse_server(settings.server or "")
        self.client: IMAPClient | None = None
        self.selected: str | None = None
        self.capabilities: set[str] = set()

    @property
    def server(self) -> str:
        scheme = "imaps" if self.security == "tls" else "imap"
        return f"{scheme}://{self.host}:{self.port}"

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def open(self) -> IMAPClient:
        if self.client is not None:
            return self.client
        try:
            client = IMAPClient(
                self.host,
                port=self.port,
                ssl=self.security == "tls",
                ssl_context=self._context() if self.security == "tls" else None,
                timeout=self.settings.timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            raise untrusted(self.server, exc) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise OfflineError(
                f"Cannot reach the mail server {self.server} ({type(exc).__name__})."
            ) from None
        try:
            if self.security == "starttls":
                if client.has_capability("STARTTLS"):
                    client.starttls(self._context())
                elif self.host not in LOOPBACK:
                    raise ConfigError(
                        f"The mail server {self.server} does not offer STARTTLS; use imaps:// instead."
                    )
            user = self.settings.username or self.settings.email
            if self.settings.auth == MailboxAuth.OAUTH:
                client.oauth2_login(user, self._secret())
            else:
                client.login(user, self._secret())
            self.capabilities = {c.decode("ascii", "replace").upper() for c in client.capabilities()}
            if "ENABLE" in self.capabilities and "CONDSTORE" in self.capabilities:
                with contextlib.suppress(imaplib.IMAP4.error):
                    client.enable("CONDSTORE")
        except LoginError as exc:
            self._drop(client)
            if response_code(exc) == "UNAVAILABLE":  # RFC 5530: a temporary failure, not the password
                raise OfflineError(
                    f"The mail server {self.server} cannot sign you in right now; it will be tried again."
                ) from None
            raise AuthError(
                f"The mail server {self.server} refused the user name or password.", service="mailbox"
            ) from None
        except BridgeError:
            self._drop(client)
            raise
        except ssl.SSLCertVerificationError as exc:
            self._drop(client)
            raise untrusted(self.server, exc) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            self._drop(client)
            raise OfflineError(
                f"Signing in to the mail server {self.server} failed ({type(exc).__name__})."
            ) from None
        self.client = client
        self.selected = None
        return client

    @staticmethod
    def _drop(client: IMAPClient) -> None:
        with contextlib.suppress(Exception):
            client.shutdown()

    def close(self) -> None:
        client, self.client = self.client, None
        self.selected = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()
            self._drop(client)

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    def select(self, folder: str) -> dict[bytes, Any]:
        """Select a folder (read-write); raises MailboxError for a folder that does not exist."""
        client = self.open()
        try:
            info: dict[bytes, Any] = client.select_folder(folder)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            self.selected = None
            error = MailboxError(
                f"The folder {folder!r} cannot be opened on {self.server}: {_text(exc)}",
                title="Folder not found",
            )
            error.code = response_code(exc)
            raise error from None
        self.selected = folder
        return info

    def run(self, work: Callable[[IMAPClient], T], *, retry: bool = True) -> T:
        """Run ``work``; after a dropped connection reconnect and (if ``retry``) run it once more."""
        for attempt in (1, 2):
            client = self.open()
            try:
                return work(client)
            except BridgeError:
                raise
            except (imaplib.IMAP4.abort, OSError) as exc:
                self.client = None
                self.selected = None
                self._drop(client)
                if attempt == 2 or not retry:
                    raise OfflineError(
                        f"The connection to {self.server} was lost ({type(exc).__name__})."
                    ) from None
            except imaplib.IMAP4.error as exc:
                error = MailboxError(f"The mail server {self.server} answered: {_text(exc)}")
                error.code = response_code(exc)  # what callers decide by
                raise error from None
        raise AssertionError("unreachable")


def create_folder(client: IMAPClient, name: str) -> None:
    """CREATE a folder; one that exists already (another client made it meanwhile) is fine."""
    try:
        client.create_folder(name)
    except imaplib.IMAP4.error as exc:
        if response_code(exc) != "ALREADYEXISTS":
            raise


def untrusted(server: str, exc: ssl.SSLCertVerificationError) -> MailboxError:
    reason = exc.verify_message or "verification failed"
    return MailboxError(
        f"The certificate of {server} is not trusted ({reason}). Check the server name; a company "
        "server may need its certificate authority installed on this computer.",
        title="Certificate not trusted",
    )


def response_code(exc: BaseException) -> str | None:
    """The server's response code of a failed command, upper case (``ALREADYEXISTS``,
    ``TRYCREATE``, ``NONEXISTENT``, ``AUTHENTICATIONFAILED``, ``UNAVAILABLE``…), or None."""
    match = _RESPONSE_CODE.match(_text(exc))
    return match.group(1).upper() if match else None


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text[:300]
