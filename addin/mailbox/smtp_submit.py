"""SMTP submission for the IMAP backend (smtplib), honest about what SMTP cannot tell.

Security: ``smtps://`` is implicit TLS (port 465 by default); ``smtp://`` is submission
(587) and requires STARTTLS unless the server is on loopback.  Sign-in: AUTH PLAIN or
LOGIN with the password, or XOAUTH2 with a bearer token for providers that require
OAuth (Microsoft 365, Gmail).

RFC 1047: once the message text has gone out, a lost or late answer to the end of DATA
leaves it unknown whether the server took responsibility for the message.  Every
failure is therefore sorted by phase:

- before DATA (connect, TLS, sign-in, MAIL, RCPT) or a definite refusal of DATA: the
  message did not leave -> ``OfflineError`` (could not connect), ``AuthError``,
  ``MessageError`` (5xx, permanent) or ``ThrottledError`` (4xx, try later);
- anything else during DATA -> ``UnknownOutcomeError``: the caller must not send again
  without evidence that the first attempt did not leave.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import urlsplit

from addin.errors import (
    AuthError,
    ConfigError,
    MessageError,
    OfflineError,
    ThrottledError,
    UnknownOutcomeError,
)
from addin.mailbox.imap_conn import untrusted

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_server(url: str, default_host: str) -> tuple[str, int, str]:
    """(host, port, security) from ``smtps://host:465`` / ``smtp://host:587`` / ``host``."""
    text = url.strip() or default_host
    if "://" not in text:
        text = "smtp://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(
            f"The outgoing server {url!r} is not of the form smtp://host:587 or smtps://host:465."
        )
    security = "tls" if scheme == "smtps" else "starttls"
    try:
        port = parts.port or (465 if security == "tls" else 587)
    except ValueError:
        raise ConfigError(f"The outgoing server {url!r} has an invalid port.") from None
    return parts.hostname, port, security


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()[:300]


class Submission:
    """One message submission; a fresh connection each time (sends are rare)."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        *,
        username: str,
        secret: str,
        oauth: bool,
        timeout: float,
        verify_tls: bool = True,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self._username, self._secret, self._oauth = username, secret, oauth
        self._timeout = timeout
        self._verify = verify_tls

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self._verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self._timeout, context=self._context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
            client.ehlo()
            if self.security == "starttls":
                if client.has_extn("starttls"):
                    client.starttls(context=self._context())
                    client.ehlo()
                elif self.host not in LOOPBACK:
                    client.close()
                    raise ConfigError(
                        f"The outgoing server {self.server} does not offer STARTTLS; "
                        "use smtps:// or a server that encrypts."
                    )
        except ssl.SSLCertVerificationError as exc:
            raise untrusted(f"the outgoing server {self.server}", exc) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise OfflineError(
                f"Cannot reach the outgoing mail server {self.server} ({type(exc).__name__})."
            ) from None
        self._login(client)
        return client

    def _login(self, client: smtplib.SMTP) -> None:
        try:
            if self._oauth:
                token = f"user={self._username}\x01auth=Bearer {self._secret}\x01\x01"
                code, text = client.docmd("AUTH", "XOAUTH2 " + base64.b64encode(token.encode()).decode())
                if code != 235:
                    raise smtplib.SMTPAuthenticationError(code, text)
            elif client.has_extn("auth"):
                client.login(self._username, self._secret)
        except smtplib.SMTPAuthenticationError as exc:
            client.close()
            raise AuthError(
                f"The outgoing mail server {self.server} refused the sign-in ({exc.smtp_code}).",
                service="mailbox",
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            client.close()
            raise OfflineError(
                f"Signing in to the outgoing mail server {self.server} failed ({type(exc).__name__})."
            ) from None

    def verify(self) -> None:
        """Connect and sign in without sending anything (the settings' Test button)."""
        client = self._connect()
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()

    def send(self, msg: EmailMessage, sender: str, rcpts: list[str]) -> None:
        """Submit; raises by phase as the module docstring says."""
        data = msg.as_bytes()
        client = self._connect()
        try:
            self._envelope(client, sender, rcpts)
            self._data(client, data)
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    def _envelope(self, client: smtplib.SMTP, sender: str, rcpts: list[str]) -> None:
        try:
            code, text = client.mail(sender)
            if code != 250:
                self._refused("the sender", code, text)
            refused = []
            for rcpt in rcpts:
                code, text = client.rcpt(rcpt)
                if code not in (250, 251):
                    refused.append((rcpt, code, text))
            if refused:
                client.rset()
                first = refused[0]
                who = ", ".join(r[0] for r in refused)
                self._refused(f"recipient {who}", first[1], first[2])
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise OfflineError(
                f"The outgoing mail server {self.server} closed the connection before the message "
                f"was sent ({type(exc).__name__}); nothing was sent."
            ) from None

    def _refused(self, what: str, code: int, text: bytes | str) -> None:
        reply = _reply(code, text)
        if 400 <= code < 500:
            raise ThrottledError(
                f"The outgoing mail server refused {what} for now: {reply}. Nothing was sent."
            )
        raise MessageError(f"The outgoing mail server refused {what}: {reply}.")

    def _data(self, client: smtplib.SMTP, data: bytes) -> None:
        try:
            code, text = client.data(data)
        except smtplib.SMTPDataError as exc:
            # A definite answer: either to DATA itself or to the end of the message text.
            self._refused("the message", exc.smtp_code, exc.smtp_error)
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise UnknownOutcomeError(
                f"The connection to {self.server} was lost while the message was being sent "
                f"({type(exc).__name__}); it is unknown whether it was sent.",
                title="Unknown whether it was sent",
            ) from None
        if code != 250:
            self._refused("the message", code, text)
