"""Microsoft sign-in: one MSAL public client per profile, serving Microsoft Graph and Dataverse.

One account signs in once (system browser with a loopback redirect, or a device code when no
browser can be shown; the Windows broker when it is available).  Every resource the profile
uses — the Graph mail API, the Dataverse organisation — then gets its tokens from the same
MSAL application and the same token cache, silently: MSAL redeems the account's refresh token
for the other resource.  The browser sign-in asks consent for all of them at once
(``extra_scopes_to_consent``), so the first token for the second resource needs no prompt.

The cache is MSAL's serialized cache kept in the OS keyring (``KeyringTokenCache``, sharded by
``addin.credentials``); it is never written to a file.  A sign-in that expired or was revoked
(``invalid_grant``, ``interaction_required``) becomes ``AuthError`` — the bridge's
"Sign-in needed" state, whose Fix action runs :meth:`MicrosoftSignIn.sign_in` again.

Facts: reference mailbox.md §4.1 (MSAL for a desktop public client), dataverse.md §4.1
(``<org>/user_impersonation``), graph-msal-testing.md §6 (what MSAL 1.39 sends and expects).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlparse

import requests

from addin.credentials import CredentialStore, DamagedSecretError, redact, register_secret
from addin.errors import AuthError, ConfigError, OfflineError
from addin.states import IssueAction

log = logging.getLogger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
# Work and school accounts of any tenant; a tenant id or domain pins one organisation.
DEFAULT_TENANT = "organizations"

GRAPH_RESOURCE = "https://graph.microsoft.com"
# The delegated permissions the Graph mailbox backend needs (mailbox.md §4): read, move and
# categorise mail, send as the user, create the master category list, and who the user is.
# offline_access (the refresh token) is requested by MSAL itself; passing it is an error.
GRAPH_MAIL_SCOPES: tuple[str, ...] = tuple(
    f"{GRAPH_RESOURCE}/{name}"
    for name in ("Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite", "User.Read")
)

# Errors meaning "the saved sign-in cannot be used any more; a person has to sign in again".
_SIGN_IN_AGAIN = {"invalid_grant", "interaction_required", "consent_required", "login_required"}


class MicrosoftSignInNeeded(AuthError):
    """No usable Microsoft sign-in: none yet, expired or withdrawn.  Fixed by signing in again."""

    #: The Issue action the tray offers ("Sign in…"): ``Bridge.sign_in()``.
    fix_action = IssueAction.SIGN_IN_MICROSOFT


class SignInMethod(StrEnum):
    BROWSER = "browser"
    DEVICE_CODE = "device_code"


def dataverse_scopes(org_url: str) -> tuple[str, ...]:
    """``https://<org>/user_impersonation``: the public-client scope for Dataverse (dataverse.md §4.1)."""
    origin = org_url.strip().rstrip("/")
    if "/api/data" in origin:
        origin = origin.split("/api/data", 1)[0]
    parsed = urlparse(origin)
    if parsed.scheme != "https" or not parsed.hostname:
        raise ConfigError(f"The CRM address {origin!r} must be an https:// address for Microsoft sign-in.")
    return (f"{parsed.scheme}://{parsed.netloc}/user_impersonation",)


def resource_of(scopes: Sequence[str]) -> str:
    """The resource (scheme and host) a scope list is for: one token serves one resource."""
    first = scopes[0] if scopes else ""
    parsed = urlparse(first)
    return f"{parsed.scheme}://{parsed.netloc}" if parsed.netloc else first


@dataclass(frozen=True)
class SignInConfig:
    """What a profile says about Microsoft sign-in (settings ``auth.*``); no secret."""

    client_id: str
    tenant: str = DEFAULT_TENANT
    authority_host: str = DEFAULT_AUTHORITY_HOST
    method: SignInMethod = SignInMethod.BROWSER
    broker: bool = True  # WAM on Windows; ignored elsewhere
    login_hint: str | None = None
    interactive_timeout: float = 300.0

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant.strip() or DEFAULT_TENANT}"

    def check(self) -> None:
        if not self.client_id.strip():
            raise ConfigError(
                "Microsoft sign-in needs your organisation's application (client) id. Ask your "
                "administrator for it and set it with 'crm-bridge config set auth.client_id=<id>' "
                "(see docs/MICROSOFT-SIGN-IN.md).",
                title="Set-up needed",
            )
        if not self.authority_host.startswith("https://"):
            raise ConfigError("The sign-in authority must be an https:// address.", title="Set-up needed")


def broker_wanted(config: SignInConfig, platform: str | None = None) -> bool:
    """The Windows broker (WAM) is used on Windows only; MSAL falls back to the browser without it."""
    return config.broker and (platform or sys.platform) == "win32"


class TokenCacheStore(Protocol):
    def version(self) -> str | None: ...

    def load(self) -> str | None: ...

    def save(self, data: str) -> None: ...

    def clear(self) -> None: ...


class KeyringTokenCache:
    """MSAL's serialized cache in the OS keyring (sharded there if large); never a file."""

    def __init__(self, store: CredentialStore, kind: str = "msal-cache") -> None:
        self._store = store
        self._kind = kind

    def version(self) -> str | None:
        """Changes whenever any process rewrites the cache (a cheap check before each use)."""
        return self._store.blob_version(self._kind)

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


class MicrosoftSignIn:
    """One MSAL public client application and one token cache for one profile.

    ``token(scopes)`` is silent only (cache, then the refresh token); ``sign_in()`` is the
    interactive step and is run by a person (tray "Sign in…", ``crm-bridge sign-in``).
    Runtime-only knobs (``http_client``, ``app_factory``) serve tests; settings come from
    ``SignInConfig``.  TLS trust is the system's (requests honours ``REQUESTS_CA_BUNDLE``).
    """

    def __init__(
        self,
        config: SignInConfig,
        cache_store: TokenCacheStore,
        *,
        on_device_code: Callable[[str], None] | None = None,
        window_handle: int | None = None,
        http_client: Any = None,
        app_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.config = config
        self.on_device_code = on_device_code
        self.window_handle = window_handle
        self._cache_store = cache_store
        self._http_client = http_client
        self._app_factory = app_factory
        self._app: Any = None
        self._cache: Any = None
        self._version: str | None = None  # the keyring copy's fingerprint last read or written
        self._resources: list[tuple[str, ...]] = []
        self._lock = threading.RLock()
        self._interactive = threading.Lock()

    def __repr__(self) -> str:
        return f"MicrosoftSignIn(client_id={self.config.client_id!r}, authority={self.config.authority!r})"

    # -- resources ----------------------------------------------------------------------------

    def register(self, scopes: Sequence[str]) -> tuple[str, ...]:
        """Declare a resource this profile uses, so one sign-in asks consent for all of them."""
        wanted = tuple(scopes)
        if not wanted:
            raise ValueError("a resource needs at least one scope")
        with self._lock:
            if wanted not in self._resources:
                self._resources.append(wanted)
        return wanted

    @property
    def resources(self) -> list[tuple[str, ...]]:
        with self._lock:
            return list(self._resources)

    def token_source(self, scopes: Sequence[str], service: str) -> Callable[[], str]:
        """A ``SecretSource``: a valid access token for ``scopes``, silently, or AuthError."""
        wanted = self.register(scopes)
        return lambda: self.token(wanted, service=service)

    # -- MSAL application and cache -------------------------------------------------------

    # MSAL contacts the authority while being constructed, so build it on first use only.
    def _application(self) -> Any:
        with self._lock:
            if self._app is not None:
                return self._app
            self.config.check()
            import msal

            cache = msal.SerializableTokenCache()
            self._cache = cache
            self._reload(force=True)
            factory = self._app_factory or msal.PublicClientApplication
            kwargs: dict[str, Any] = {"authority": self.config.authority, "token_cache": cache}
            host = urlparse(self.config.authority_host).hostname or ""
            if host not in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS:
                # A configured authority outside Microsoft's list (a test stand-in, a private
                # cloud) is trusted as given: instance discovery would ask the public cloud.
                kwargs["instance_discovery"] = False
            if self._http_client is not None:
                kwargs["http_client"] = self._http_client
            if broker_wanted(self.config):
                kwargs["enable_broker_on_windows"] = True
            try:
                self._app = factory(self.config.client_id.strip(), **kwargs)
            except requests.RequestException as exc:
                raise OfflineError("Cannot reach the Microsoft sign-in service.") from exc
            except ValueError as exc:
                raise ConfigError(f"The Microsoft sign-in settings are not valid: {exc}") from exc
            return self._app

    def _reload(self, force: bool = False) -> None:
        """Take the keyring's copy if another process (tray, CLI) rewrote it since we last looked.

        The check is one keyring read; the tokens are read only when the copy changed.  It runs
        before every use, so a sign-in done by ``crm-bridge sign-in`` is picked up by the tray and
        a write never puts back an older copy than the last one seen.
        """
        with self._lock:
            if self._cache is None:
                return
            version = self._cache_store.version()
            if version == self._version and not force:
                return
            saved = self._cache_store.load()
            self._version = version
            try:
                self._cache.deserialize(saved or "")
            except ValueError:
                log.warning("the saved sign-in cache could not be read; a new sign-in is needed")
                self._cache.deserialize("")

    def _persist(self) -> None:
        with self._lock:
            if self._cache is not None and self._cache.has_state_changed:
                self._cache_store.save(self._cache.serialize())
                self._version = self._cache_store.version()
                self._cache.has_state_changed = False

    def _account(self, app: Any) -> Any:
        accounts = app.get_accounts(username=self.config.login_hint) if self.config.login_hint else []
        if not accounts:
            accounts = app.get_accounts()
        return accounts[0] if accounts else None

    def accounts(self) -> list[str]:
        """User names signed in on this profile (for Settings and ``crm-bridge sign-in --status``)."""
        app = self._application()
        with self._lock:
            self._reload()
            return [str(a.get("username") or "") for a in app.get_accounts()]

    # -- tokens ---------------------------------------------------------------------------------

    def _silent(self, scopes: Sequence[str], service: str, force_refresh: bool) -> str | None:
        app = self._application()
        with self._lock:
            self._reload()
            account = self._account(app)
            if account is None:
                return None
            try:
                result = app.acquire_token_silent_with_error(
                    list(scopes), account=account, force_refresh=force_refresh
                )
            except requests.RequestException as exc:
                raise OfflineError("Cannot reach the Microsoft sign-in service.") from exc
            token = self._accept(result)
            if token is None and isinstance(result, dict) and result.get("error"):
                # MSAL 1.39 keeps a refused refresh token (an MFA policy may refuse one resource
                # only); the engine stops asking until the person signs in again, so no retry loop.
                raise _failure(result, resource_of(scopes), service)
            return token

    def token(self, scopes: Sequence[str], *, service: str = "microsoft", force_refresh: bool = False) -> str:
        """A valid access token for ``scopes``: from the cache or silently refreshed; else AuthError."""
        token = self._silent(scopes, service, force_refresh)
        if token:
            return token
        raise MicrosoftSignInNeeded(
            "Sign in with your Microsoft account: choose Sign in… in the tray menu or run "
            "'crm-bridge sign-in'.",
            service=service,
        )

    def _accept(self, result: Any) -> str | None:
        if isinstance(result, dict) and result.get("access_token"):
            token = str(result["access_token"])
            register_secret(token)
            if result.get("refresh_token"):
                register_secret(str(result["refresh_token"]))
            self._persist()
            return token
        return None

    def sign_in(
        self,
        scopes: Sequence[str] | None = None,
        *,
        method: SignInMethod | None = None,
        service: str = "microsoft",
    ) -> str:
        """Run the interactive step now and return a token for ``scopes`` (default: the first resource).

        The browser sign-in also asks consent for every other registered resource, so their
        tokens come silently afterwards.  Device code covers one resource per code (the
        identity platform issues a token for one resource at a time); the others still come
        silently when the tenant has consented to them.
        """
        primary = tuple(scopes) if scopes else (self.resources or [()])[0]
        if not primary:
            raise ConfigError("Nothing to sign in to: no Microsoft resource is configured.")
        extra = [s for resource in self.resources if resource != primary for s in resource]
        chosen = method or self.config.method
        app = self._application()
        with self._interactive:
            with self._lock:
                self._reload()  # the new sign-in joins the newest copy of the cache
            try:
                if chosen is SignInMethod.DEVICE_CODE:
                    flow = app.initiate_device_flow(scopes=list(primary))
                    if "user_code" not in flow:
                        start_failed = "The device sign-in could not start"
                        raise _failure(flow, resource_of(primary), service, start_failed)
                    message = str(flow.get("message", ""))
                    if self.on_device_code is not None:
                        self.on_device_code(message)
                    else:
                        log.warning("%s", message)
                    result = app.acquire_token_by_device_flow(flow)
                else:
                    result = app.acquire_token_interactive(
                        list(primary),
                        login_hint=self.config.login_hint,
                        timeout=self.config.interactive_timeout,
                        extra_scopes_to_consent=extra or None,
                        **self._broker_arguments(app),
                    )
            except requests.RequestException as exc:
                raise OfflineError("Cannot reach the Microsoft sign-in service.") from exc
            except RuntimeError as exc:
                # msal.BrowserInteractionTimeoutError: the browser sign-in was abandoned.
                if type(exc).__name__ != "BrowserInteractionTimeoutError":
                    raise
                raise AuthError(
                    "The sign-in in the browser was not completed in time.", service=service
                ) from exc
            with self._lock:
                token = self._accept(result)
            if token is None:
                raise _failure(result, resource_of(primary), service, "Sign-in failed")
            return token

    def _broker_arguments(self, app: Any) -> dict[str, Any]:
        if not broker_wanted(self.config):
            return {}
        # With the broker a parent window is required: the tray's, or the console's for the CLI.
        handle = self.window_handle
        return {"parent_window_handle": handle if handle is not None else app.CONSOLE_WINDOW_HANDLE}

    def sign_out(self) -> None:
        """Forget every account and delete the cache from the keyring."""
        with self._lock:
            if self._app is not None:
                for account in self._app.get_accounts():
                    self._app.remove_account(account)
                self._cache.has_state_changed = False
            self._cache_store.clear()
            self._version = None


def _failure(result: Any, resource: str, service: str, prefix: str | None = None) -> AuthError:
    """An MSAL error dict as a readable AuthError: what happened, the code, and what to do."""
    if not isinstance(result, dict):
        return AuthError(f"{prefix or 'Sign-in failed'}.", service=service)
    code = str(result.get("error") or "unknown_error")
    sub = str(result.get("suberror") or "")
    lines = str(result.get("error_description") or "").strip().splitlines()
    detail = redact(lines[0][:200]) if lines else ""
    reason = f"{code}" + (f"/{sub}" if sub else "") + (f": {detail}" if detail else "")
    if prefix is None and code in _SIGN_IN_AGAIN:
        return MicrosoftSignInNeeded(
            f"Your Microsoft sign-in for {resource} has expired or was withdrawn ({reason}). "
            "Choose Sign in… in the tray menu or run 'crm-bridge sign-in' to sign in again.",
            service=service,
        )
    return AuthError(f"{prefix or 'Microsoft sign-in failed'} ({reason}).", service=service)


# -- one sign-in per profile in this process ---------------------------------------------------

_shared: dict[str, MicrosoftSignIn] = {}
_shared_lock = threading.Lock()


def shared_sign_in(
    profile: str, config: SignInConfig, factory: Callable[[SignInConfig], MicrosoftSignIn] | None = None
) -> MicrosoftSignIn:
    """The profile's sign-in, shared by its CRM client and its mailbox (one cache, one account).

    Two objects writing the same keyring entry would overwrite each other's tokens, so there
    is one per profile; a changed configuration replaces it.
    """
    with _shared_lock:
        current = _shared.get(profile)
        if current is None or current.config != config:
            if factory is not None:
                current = factory(config)
            else:
                current = MicrosoftSignIn(config, KeyringTokenCache(CredentialStore(profile)))
            _shared[profile] = current
        return current


def forget_shared(profile: str | None = None) -> None:
    """Drop the shared sign-in of ``profile`` (all profiles when None); the keyring is untouched."""
    with _shared_lock:
        if profile is None:
            _shared.clear()
        else:
            _shared.pop(profile, None)
