"""Building an exchangelib Account: credentials, discovery, and remembered hints.

Hints are the result of the slow first connect (autodiscover, auth-type probe, version
probe).  :func:`hints_of` turns a connected account into plain strings the caller keeps
in non-secret state and passes back in ``MailboxSettings.options``; with them the next
connect sends no probe at all.  They hold no secret: URL, auth type name, build number.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    OAuth2AuthorizationCodeCredentials,
    Version,
)
from exchangelib.autodiscover.discovery import Autodiscovery
from exchangelib.autodiscover.protocol import AutodiscoverProtocol
from exchangelib.protocol import Protocol
from oauthlib.oauth2 import OAuth2Token  # type: ignore[import-untyped]

from addin.errors import AuthError, ConfigError, MailboxError
from addin.mailbox import ews_compat
from addin.mailbox.types import MailboxAuth, MailboxSettings, SecretSource

# Keys of MailboxSettings.options this backend reads back (see EwsMailbox.hints()).
HINT_FOR = "ews_for"
HINT_URL = "ews_url"
HINT_AUTH = "ews_auth_type"
HINT_BUILD = "ews_build"
HINT_API = "ews_api_version"
HINT_KEYS = (HINT_FOR, HINT_URL, HINT_AUTH, HINT_BUILD, HINT_API)

_KNOWN_AUTH_TYPES = {BASIC, NTLM, OAUTH2, "digest", "no authentication"}
_MAX_EMAIL_REDIRECTS = 3


def _secret(secret: SecretSource) -> str:
    try:
        value = secret()
    except AuthError:
        raise
    except Exception as exc:  # the keyring or the sign-in layer failed
        raise AuthError(
            f"The mailbox secret is not available ({type(exc).__name__}).", service="mailbox"
        ) from None
    if not value:
        raise AuthError("No password or sign-in token is stored for the mailbox.", service="mailbox")
    return value


class PasswordCredentials(Credentials):  # type: ignore[misc]
    """Username and password; each backend instance gets its own key in exchangelib's caches.

    exchangelib caches Protocol objects (and their connection pools and retry policy)
    per (endpoint, credentials); a per-instance token keeps two mailboxes that happen to
    share a login from sharing or overwriting each other's configuration.
    """

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username=username, password=password)
        self.instance = uuid.uuid4().hex

    def __repr__(self) -> str:  # never show the password
        return f"PasswordCredentials({self.username!r})"

    __str__ = __repr__


class TokenCredentials(OAuth2AuthorizationCodeCredentials):  # type: ignore[misc]
    """A bearer token obtained by the app (MSAL); a refresh asks the SecretSource again."""

    def __init__(self, secret: SecretSource) -> None:
        self._source = secret
        super().__init__(access_token=self._token())
        self.instance = uuid.uuid4().hex

    def _token(self) -> OAuth2Token:
        return OAuth2Token({"access_token": _secret(self._source), "token_type": "Bearer"})

    def refresh(self, session: Any) -> None:
        self.access_token = self._token()

    def reload(self) -> None:
        with self.lock:
            self.access_token = self._token()

    def __repr__(self) -> str:
        return "TokenCredentials([access_token])"

    __str__ = __repr__


def build_credentials(settings: MailboxSettings, secret: SecretSource) -> Credentials | TokenCredentials:
    if settings.auth.bearer:
        return TokenCredentials(secret)
    username = settings.username or settings.email
    if not username:
        raise ConfigError("The mailbox needs an e-mail address or a user name.")
    return PasswordCredentials(username, _secret(secret))


def _usable_hints(settings: MailboxSettings) -> dict[str, str]:
    options = settings.options or {}
    if not options.get(HINT_URL) or options.get(HINT_FOR, "").lower() != settings.email.lower():
        return {}
    if settings.server and _explicit_endpoint(settings.server).lower() != options[HINT_URL].lower():
        return {}  # the user changed the server since the hints were recorded
    return {k: options[k] for k in HINT_KEYS if options.get(k)}


def version_from_hints(hints: dict[str, str]) -> Version | None:
    build_text, api = hints.get(HINT_BUILD), hints.get(HINT_API)
    if not build_text or not api:
        return None
    try:
        parts = [int(p) for p in build_text.split(".")]
        return Version(build=Build(*parts[:4]), api_version=api)
    except (TypeError, ValueError):
        return None  # a garbled hint only costs one probe


def _explicit_endpoint(server: str) -> str:
    server = server.strip()
    if server.startswith(("http://", "https://")):
        return server
    return f"https://{server}/EWS/Exchange.asmx"


def _soap_autodiscover_url(url: str) -> str:
    # exchangelib speaks the SOAP service; a POX address (what Outlook is given) names the same host.
    if url.lower().rstrip("/").endswith("/autodiscover/autodiscover.xml"):
        return url.rstrip("/")[: -len("autodiscover.xml")] + "autodiscover.svc"
    return url


def _pinned_autodiscover(
    url: str, email: str, credentials: Any, timeout: float
) -> tuple[str, Version | None]:
    """SOAP autodiscover against one known endpoint, bypassing DNS steps and the shared cache."""
    url = _soap_autodiscover_url(url)
    for _ in range(_MAX_EMAIL_REDIRECTS):
        protocol = AutodiscoverProtocol(config=Configuration(service_endpoint=url, credentials=credentials))
        protocol.TIMEOUT = timeout
        try:
            response = protocol.get_user_settings(user=email)
            response.raise_errors()
        finally:
            protocol.close()
        if response.redirect_address and response.redirect_address.lower() != email.lower():
            email = response.redirect_address
            continue
        if not response.ews_url:
            raise MailboxError(f"Autodiscover at {url} returned no EWS address for {email}.")
        return str(response.ews_url), response.version
    raise MailboxError(f"Autodiscover at {url} redirected {email} too many times.")


def _standard_autodiscover(email: str, credentials: Any) -> tuple[str, Version | None]:
    ad_response, protocol = Autodiscovery(email=email, credentials=credentials).discover()
    # discover() registers a Protocol under our cache key with exchangelib's default
    # settings; drop it so the Account below is built from our Configuration.
    with contextlib.suppress(KeyError):
        del Protocol[protocol.config]
    protocol.close()
    return str(ad_response.ews_url), ad_response.version


def discover(settings: MailboxSettings, credentials: Any) -> tuple[str, Version | None, bool]:
    """The EWS URL, a version if discovery told one, and whether discovery was needed."""
    hints = _usable_hints(settings)
    if hints:
        return hints[HINT_URL], version_from_hints(hints), False
    if settings.server:
        return _explicit_endpoint(settings.server), None, False
    if not settings.email or "@" not in settings.email:
        raise ConfigError("Autodiscover needs the mailbox's e-mail address.")
    if settings.autodiscover_url:
        url, version = _pinned_autodiscover(
            settings.autodiscover_url, settings.email, credentials, settings.timeout
        )
    else:
        url, version = _standard_autodiscover(settings.email, credentials)
    return url, version, True


STREAMING_CONNECTIONS = 3


def make_account(
    settings: MailboxSettings,
    credentials: Any,
    retry_policy: Any,
    *,
    prepare: Callable[[Protocol], None] | None = None,
) -> Account:
    """An Account for the mailbox; network traffic only for discovery (if needed)."""
    hints = _usable_hints(settings)
    endpoint, version, _ = discover(settings, credentials)
    auth_type: str | None = hints.get(HINT_AUTH)
    if auth_type not in _KNOWN_AUTH_TYPES:
        auth_type = None
    if settings.auth.bearer:
        auth_type = OAUTH2
    elif settings.auth == MailboxAuth.NTLM:
        auth_type = NTLM
    if hints and version is None:
        version = version_from_hints(hints)
    _check_tls(endpoint, settings.verify_tls)
    config = Configuration(
        service_endpoint=endpoint,
        credentials=credentials,
        auth_type=auth_type,
        version=version if version is not None and version.build is not None else None,
        retry_policy=retry_policy,
        # A streaming notification holds one connection for up to a minute; the others serve the
        # sync, the outbox and the windows meanwhile.
        max_connections=STREAMING_CONNECTIONS,
    )
    address = settings.email or settings.username
    if "@" not in address:
        raise ConfigError("The mailbox needs its e-mail address.")
    account = Account(address, config=config, autodiscover=False, access_type=DELEGATE)
    protocol = account.protocol
    protocol.TIMEOUT = settings.timeout
    if version is not None and version.build is None:
        # Autodiscover told the API version but not the build: use it as the probe's first guess.
        protocol.api_version_hint = version.api_version
    if prepare is not None:
        prepare(protocol)
    return account


def _check_tls(endpoint: str, verify_tls: bool) -> None:
    from urllib.parse import urlparse

    parsed = urlparse(endpoint)
    if verify_tls or (parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")):
        return
    # Certificate checks stay on: the only server reached without TLS is a sandbox on this computer.
    raise ConfigError("TLS verification cannot be turned off for an Exchange server.")


def forget_account(account: Account) -> None:
    """Close the account's connections and drop it from exchangelib's protocol cache."""
    protocol = account.protocol
    with contextlib.suppress(KeyError):
        del Protocol[protocol.config]
    with contextlib.suppress(Exception):
        protocol.close()


def hints_of(account: Account, email: str) -> dict[str, str]:
    """What to remember so the next connect skips discovery and probing."""
    protocol = account.protocol
    config = protocol.config
    result = {HINT_FOR: email.lower(), HINT_URL: str(protocol.service_endpoint)}
    if config.auth_type:
        result[HINT_AUTH] = str(config.auth_type)
    # The account's version is updated from each answer's ServerVersionInfo; the
    # configuration may still hold autodiscover's coarser guess.
    version = ews_compat.learnt_version(account)
    if version is not None and version.build is not None:
        b = version.build
        result[HINT_BUILD] = f"{b.major_version}.{b.minor_version}.{b.major_build}.{b.minor_build}"
        result[HINT_API] = str(version.api_version)
    return result
