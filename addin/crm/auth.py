"""How the Dataverse client proves who the user is (reference dataverse.md §4.1).

- ``StaticTokenAuth``: a fixed bearer token (the sandbox answers ``Bearer sandbox``).
- ``MsalAuth``: Microsoft Entra ID through MSAL as a *public* client; silent first from a token
  cache kept in the OS keyring (``KeyringTokenCache``), interactive browser or device code only
  when ``sign_in()`` is called or ``allow_interactive`` is set.
- ``NtlmAuth``: Windows integrated authentication for on-premises deployments (requests-ntlm).

Every secret handled here is registered with ``addin.credentials`` so logs mask it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

import requests

from addin.credentials import CredentialStore, DamagedSecretError, register_secret
from addin.errors import AuthError, OfflineError

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


class TokenCacheStore(Protocol):
    def load(self) -> str | None: ...

    def save(self, data: str) -> None: ...

    def clear(self) -> None: ...


class KeyringTokenCache:
    """MSAL's serialized cache in the OS keyring (sharded there if large); never a file."""

    def __init__(self, store: CredentialStore, kind: str = "msal-cache") -> None:
        self._store = store
        self._kind = kind

    def load(self) -> str | None:
        try:
            return self._store.get_blob(self._kind)
        except DamagedSecretError:
            # A damaged cache only costs a sign-in; a locked keyring still raises.
            log.warning("the saved sign-in cache is unreadable; a new sign-in is needed")
            return None

    def save(self, data: str) -> None:
        self._store.set_blob(self._kind, data)

    def clear(self) -> None:
        self._store.delete_blob(self._kind)


Prompt = Literal["interactive", "device_code"]


class MsalAuth(CrmAuth):
    """Delegated sign-in to Dynamics 365 online as a public client application."""

    sends_bearer_token = True

    def __init__(
        self,
        org_url: str,
        client_id: str,
        tenant: str = "organizations",
        *,
        cache_store: TokenCacheStore,
        prompt: Prompt = "interactive",
        on_device_code: Callable[[str], None] | None = None,
        allow_interactive: bool = False,
        login_hint: str | None = None,
        scope: Literal["user_impersonation", ".default"] = "user_impersonation",
        authority_host: str = "https://login.microsoftonline.com",
        http_client: Any = None,
        app_factory: Callable[..., Any] | None = None,
        interactive_timeout: float = 300.0,
    ) -> None:
        origin = org_url.rstrip("/")
        if "/api/data" in origin:
            origin = origin.split("/api/data", 1)[0]
        self.scopes = [f"{origin}/{scope}"]
        self.client_id = client_id
        self.authority = f"{authority_host.rstrip('/')}/{tenant}"
        self.prompt = prompt
        self.on_device_code = on_device_code
        self.allow_interactive = allow_interactive
        self.login_hint = login_hint
        self._cache_store = cache_store
        self.interactive_timeout = interactive_timeout
        self._http_client = http_client
        self._app_factory = app_factory
        self._app: Any = None
        self._cache: Any = None
        self._token: str | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"MsalAuth({self.scopes[0]!r}, client_id={self.client_id!r})"

    # MSAL contacts the authority while being constructed, so build it on first use only.
    def _application(self) -> Any:
        if self._app is None:
            import msal

            cache = msal.SerializableTokenCache()
            saved = self._cache_store.load()
            if saved:
                try:
                    cache.deserialize(saved)
                except ValueError:
                    log.warning("the saved sign-in cache could not be read; a new sign-in is needed")
            factory = self._app_factory or msal.PublicClientApplication
            kwargs: dict[str, Any] = {"authority": self.authority, "token_cache": cache}
            if self._http_client is not None:
                kwargs["http_client"] = self._http_client
            try:
                self._app = factory(self.client_id, **kwargs)
            except requests.RequestException as exc:
                raise OfflineError("Cannot reach the Microsoft sign-in service.") from exc
            except ValueError as exc:
                raise AuthError(f"The sign-in settings are not valid: {exc}", service="crm") from exc
            self._cache = cache
        return self._app

    def _persist(self) -> None:
        if self._cache is not None and self._cache.has_state_changed:
            self._cache_store.save(self._cache.serialize())
            self._cache.has_state_changed = False

    def _accept(self, result: Any) -> str | None:
        if isinstance(result, dict) and result.get("access_token"):
            token = str(result["access_token"])
            register_secret(token)
            if result.get("refresh_token"):
                register_secret(str(result["refresh_token"]))
            self._token = token
            self._persist()
            return token
        return None

    def _silent(self, force_refresh: bool = False) -> str | None:
        app = self._application()
        accounts = app.get_accounts(username=self.login_hint)
        if not accounts:
            return None
        try:
            result = app.acquire_token_silent(self.scopes, account=accounts[0], force_refresh=force_refresh)
        except requests.RequestException as exc:
            raise OfflineError("Cannot reach the Microsoft sign-in service.") from exc
        return self._accept(result)

    def token(self) -> str:
        """A valid access token: cached, silently refreshed, or (if allowed) a new sign-in."""
        with self._lock:
            token = self._silent()
            if token:
                return token
            if self.allow_interactive:
                return self.sign_in()
            raise AuthError("Sign-in needed: sign in to the CRM from the tray menu.", service="crm")

    def sign_in(self) -> str:
        """Run the configured interactive flow (browser or device code) now."""
        with self._lock:
            app = self._application()
            try:
                if self.prompt == "device_code":
                    flow = app.initiate_device_flow(scopes=self.scopes)
                    if "user_code" not in flow:
                        raise AuthError(_describe(flow, "The device sign-in could not start"), service="crm")
                    if self.on_device_code is not None:
                        self.on_device_code(str(flow.get("message", "")))
                    result = app.acquire_token_by_device_flow(flow)
                else:
                    result = app.acquire_token_interactive(
                        self.scopes, login_hint=self.login_hint, timeout=self.interactive_timeout
                    )
            except requests.RequestException as exc:
                raise OfflineError("Cannot reach the Microsoft sign-in service.") from exc
            except RuntimeError as exc:
                # msal.BrowserInteractionTimeoutError: the browser sign-in was abandoned.
                if type(exc).__name__ != "BrowserInteractionTimeoutError":
                    raise
                raise AuthError(
                    "The sign-in in the browser was not completed in time.", service="crm"
                ) from exc
            token = self._accept(result)
            if token is None:
                raise AuthError(_describe(result, "Sign-in failed"), service="crm")
            return token

    def sign_out(self) -> None:
        """Forget every account and delete the cache from the keyring."""
        with self._lock:
            if self._app is not None:
                for account in self._app.get_accounts():
                    self._app.remove_account(account)
            self._token = None
            self._cache_store.clear()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def refresh(self) -> bool:
        with self._lock:
            return self._silent(force_refresh=True) is not None


def _describe(result: Any, prefix: str) -> str:
    """An MSAL error as a user message: the error code and the first line of its description."""
    if not isinstance(result, dict):
        return f"{prefix}."
    code = str(result.get("error") or "unknown_error")
    description = str(result.get("error_description") or "").strip().splitlines()
    first = description[0][:200] if description else ""
    return f"{prefix}: {code}" + (f" ({first})" if first else "") + "."
