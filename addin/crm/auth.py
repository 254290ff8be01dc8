"""How the Dataverse client proves who the user is (reference dataverse.md §4.1).

- ``StaticTokenAuth``: a fixed bearer token (the sandbox answers ``Bearer sandbox``).
- ``MsalAuth``: Microsoft Entra ID through MSAL as a *public* client (``addin.signin``): silent
  first from the profile's token cache in the OS keyring (``KeyringTokenCache``), interactive
  browser or device code only when ``sign_in()`` is called or ``allow_interactive`` is set.
- ``NtlmAuth``: Windows integrated authentication for on-premises deployments (requests-ntlm).

Every secret handled here is registered with ``addin.credentials`` so logs mask it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import requests

from addin.credentials import register_secret
from addin.errors import AuthError
from addin.signin import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_TENANT,
    KeyringTokenCache,
    MicrosoftSignIn,
    SignInConfig,
    SignInMethod,
    TokenCacheStore,
    dataverse_scopes,
)

log = logging.getLogger(__name__)


class CrmAuth:
    """Base class: attach credentials to the session and to each request."""

    #: Bearer tokens must not travel over plain HTTP to anything but loopback.
    sends_bearer_token = False

    def prepare(self, session: requests.Session) -> None:
        """Called once when the client is built (e.g. to set ``session.auth``)."""

    def headers(self) -> dict[str, str]:
        """Headers for the next request (e.g. ``Authorization``)."""
        return {}

    def refresh(self) -> bool:
        """After a 401: True if fresh credentials were obtained and one retry makes sense."""
        return False


class StaticTokenAuth(CrmAuth):
    sends_bearer_token = True

    def __init__(self, token: str) -> None:
        if not token or any(c in token for c in "\r\n "):
            raise ValueError("a bearer token must be a non-empty string without spaces")
        # Real tokens are long JWTs.  A short one (the sandbox's "sandbox") is no secret, and
        # registering it would mask an ordinary word in every log line; "Bearer <token>" is
        # masked by pattern anyway.
        if len(token) >= 16:
            register_secret(token)
        self._token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def __repr__(self) -> str:
        return "StaticTokenAuth(<hidden>)"


class NtlmAuth(CrmAuth):
    """``DOMAIN\\user`` with a password read when first needed (e.g. from the keyring)."""

    def __init__(self, username: str, password_source: Callable[[], str | None]) -> None:
        self.username = username
        self._password_source = password_source

    def prepare(self, session: requests.Session) -> None:
        from requests_ntlm import HttpNtlmAuth

        password = self._password_source()
        if not password:
            raise AuthError(
                "No password is saved for the on-premises CRM. Enter it in Settings.", service="crm"
            )
        register_secret(password)
        session.auth = HttpNtlmAuth(self.username, password)

    def __repr__(self) -> str:
        return f"NtlmAuth({self.username!r}, <hidden>)"


Prompt = Literal["interactive", "device_code"]


class MsalAuth(CrmAuth):
    """Delegated sign-in to Dynamics 365 online: the Dataverse resource of a ``MicrosoftSignIn``.

    Pass ``sign_in`` to share the profile's Microsoft sign-in with the mailbox (one account,
    one cache); otherwise a private one is built from the other arguments.
    """

    sends_bearer_token = True

    def __init__(
        self,
        org_url: str,
        client_id: str = "",
        tenant: str = DEFAULT_TENANT,
        *,
        cache_store: TokenCacheStore | None = None,
        sign_in: MicrosoftSignIn | None = None,
        prompt: Prompt = "interactive",
        on_device_code: Callable[[str], None] | None = None,
        allow_interactive: bool = False,
        login_hint: str | None = None,
        scope: Literal["user_impersonation", ".default"] = "user_impersonation",
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        http_client: Any = None,
        app_factory: Callable[..., Any] | None = None,
        interactive_timeout: float = 300.0,
    ) -> None:
        scopes = dataverse_scopes(org_url)
        if scope == ".default":
            scopes = (scopes[0].rsplit("/", 1)[0] + "/.default",)
        self.scopes = list(scopes)
        self.allow_interactive = allow_interactive
        if sign_in is None:
            if cache_store is None:
                raise ValueError("MsalAuth needs a sign_in or a cache_store")
            config = SignInConfig(
                client_id=client_id,
                tenant=tenant,
                authority_host=authority_host,
                method=SignInMethod.DEVICE_CODE if prompt == "device_code" else SignInMethod.BROWSER,
                login_hint=login_hint,
                interactive_timeout=interactive_timeout,
            )
            sign_in = MicrosoftSignIn(
                config,
                cache_store,
                on_device_code=on_device_code,
                http_client=http_client,
                app_factory=app_factory,
            )
        self.microsoft = sign_in
        self.microsoft.register(self.scopes)

    @property
    def client_id(self) -> str:
        return self.microsoft.config.client_id

    @property
    def authority(self) -> str:
        return self.microsoft.config.authority

    def __repr__(self) -> str:
        return f"MsalAuth({self.scopes[0]!r}, client_id={self.client_id!r})"

    def token(self) -> str:
        """A valid access token: cached, silently refreshed, or (if allowed) a new sign-in."""
        try:
            return self.microsoft.token(self.scopes, service="crm")
        except AuthError:
            if self.allow_interactive:
                return self.sign_in()
            raise

    def sign_in(self) -> str:
        """Run the configured interactive flow (browser or device code) now."""
        return self.microsoft.sign_in(self.scopes, service="crm")

    def sign_out(self) -> None:
        """Forget every account and delete the cache from the keyring."""
        self.microsoft.sign_out()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def refresh(self) -> bool:
        """After a 401: a forced silent refresh; an expired or withdrawn sign-in raises AuthError."""
        return bool(self.microsoft.token(self.scopes, service="crm", force_refresh=True))


__all__ = [
    "CrmAuth",
    "KeyringTokenCache",
    "MsalAuth",
    "NtlmAuth",
    "StaticTokenAuth",
    "TokenCacheStore",
]
