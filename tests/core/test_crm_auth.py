"""Sign-in for the CRM client: MSAL with a token cache in the keyring, bearer and NTLM auth.

Microsoft's sign-in endpoints cannot run here, so ``FakeMicrosoftLogin`` stands in for them as
MSAL's ``http_client`` (OpenID discovery, the device-code endpoint and the token endpoint).
Everything else is real: msal.PublicClientApplication, msal.SerializableTokenCache, and the
credential store over the test's in-memory keyring.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import keyring
import keyring.backends.fail
import pytest
import requests
from werkzeug.wrappers import Request, Response

from addin.credentials import CredentialStore, redact
from addin.crm import DataverseClient, KeyringTokenCache, MsalAuth, NtlmAuth, StaticTokenAuth
from addin.errors import AuthError, ConfigError, CredentialStoreError, OfflineError
from addin.sandbox.common import SandboxServer

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TENANT_ID = "72f988bf-0000-0000-0000-000000000001"
ORG = "https://contoso.crm4.dynamics.com"
LOGIN = "https://login.microsoftonline.com"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class FakeResponse:
    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        self.status_code = status
        self.text = json.dumps(payload)
        self.headers: dict[str, str] = {"Content-Type": "application/json"}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise requests.HTTPError(f"HTTP {self.status_code}")


class FakeMicrosoftLogin:
    """Stands in for login.microsoftonline.com (the only mocked part of these tests)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, list[str]]]] = []
        self.issued = 0
        self.offline = False
        self.refuse_refresh = False
        self.nonce: str | None = None

    def _tokens(self) -> dict[str, Any]:
        self.issued += 1
        now = int(time.time())
        id_token = ".".join(
            [
                _b64({"alg": "none", "typ": "JWT"}),
                _b64(
                    {
                        "aud": CLIENT_ID,
                        "iss": f"{LOGIN}/{TENANT_ID}/v2.0",
                        "iat": now,
                        "nbf": now,
                        "exp": now + 3600,
                        "oid": "oid-anna",
                        "sub": "sub-anna",
                        "tid": TENANT_ID,
                        "preferred_username": "anna@contoso.com",
                        "name": "Anna Sales",
                        **({"nonce": self.nonce} if self.nonce else {}),
                    }
                ),
                "sig",
            ]
        )
        # Real access tokens are JWTs of 1.5–3 KB; this size forces the keyring cache to shard.
        access = f"eyJ0eXAiOiJKV1Qi.access-{self.issued}-" + "A" * 2500
        return {
            "token_type": "Bearer",
            "scope": f"{ORG}/user_impersonation",
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": access,
            "refresh_token": f"0.refresh-{self.issued}-" + "R" * 800,
            "id_token": id_token,
            "client_info": _b64({"uid": "oid-anna", "utid": TENANT_ID}),
        }

    def _answer(self, method: str, url: str, data: Any) -> FakeResponse:
        form = parse_qs(data) if isinstance(data, str) else {k: [str(v)] for k, v in (data or {}).items()}
        self.calls.append((method, url, form))
        if self.offline:
            raise requests.ConnectionError("login.microsoftonline.com unreachable")
        if url.endswith("/.well-known/openid-configuration"):
            return FakeResponse(
                200,
                {
                    "authorization_endpoint": f"{LOGIN}/organizations/oauth2/v2.0/authorize",
                    "token_endpoint": f"{LOGIN}/organizations/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{LOGIN}/organizations/oauth2/v2.0/devicecode",
                    "issuer": f"{LOGIN}/{TENANT_ID}/v2.0",
                },
            )
        if url.endswith("/devicecode"):
            return FakeResponse(
                200,
                {
                    "device_code": "DEVICE-CODE-XYZ",
                    "user_code": "ABCD-EFGH",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 900,
                    "interval": 0,
                    "message": "To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH.",
                },
            )
        if url.endswith("/token"):
            grant = form.get("grant_type", [""])[0]
            if grant == "refresh_token" and self.refuse_refresh:
                return FakeResponse(
                    400, {"error": "invalid_grant", "error_description": "AADSTS70000: expired"}
                )
            return FakeResponse(200, self._tokens())
        if "discovery/instance" in url:
            return FakeResponse(200, {"tenant_discovery_endpoint": "", "metadata": []})
        return FakeResponse(404, {"error": "not_found"})

    def get(self, url: str, params: Any = None, headers: Any = None, **kw: Any) -> FakeResponse:
        return self._answer("GET", url, None)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> FakeResponse:
        return self._answer("POST", url, data)

    def close(self) -> None:
        pass

    def grants(self) -> list[str]:
        return [f.get("grant_type", [""])[0] for m, u, f in self.calls if u.endswith("/token")]


def _auth(login: FakeMicrosoftLogin, **kw: Any) -> MsalAuth:
    messages = kw.pop("messages", [])
    return MsalAuth(
        ORG,
        CLIENT_ID,
        "organizations",
        cache_store=KeyringTokenCache(CredentialStore("work")),
        prompt="device_code",
        on_device_code=messages.append,
        http_client=login,
        **kw,
    )


def test_device_code_sign_in_caches_tokens_in_the_keyring_and_reuses_them(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    login = FakeMicrosoftLogin()
    messages: list[str] = []
    first = _auth(login, messages=messages)
    with pytest.raises(AuthError, match="Sign in with your Microsoft account"):
        first.token()  # silent only: nothing cached yet, interactive not allowed
    token = first.sign_in()
    assert messages == ["To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH."]
    assert login.grants() == ["urn:ietf:params:oauth:grant-type:device_code"]
    assert first.scopes == [f"{ORG}/user_impersonation"]

    # The cache lives in the keyring only, sharded under the Windows limit.
    entries = {u: v for (s, u), v in memory_keyring.store.items() if s == "crm-bridge:work:msal-cache"}
    assert len(entries) > 1
    assert all(len(v.encode("utf-16-le")) <= 2560 for v in entries.values())
    saved = CredentialStore("work").get_blob("msal-cache")
    assert saved is not None and token in saved and json.loads(saved)["AccessToken"]
    assert "access_token" not in json.dumps(list(entries))  # keys carry no secrets

    # A new process (new MsalAuth) gets the token silently from the keyring: no token request.
    second = _auth(login)
    assert second.token() == token
    assert second.headers() == {"Authorization": f"Bearer {token}"}
    assert login.grants() == ["urn:ietf:params:oauth:grant-type:device_code"]

    # After a 401 the client forces a refresh with the cached refresh token.
    assert second.refresh() is True
    assert login.grants()[-1] == "refresh_token"
    assert second.token() != token
    # The refreshed cache was written back: a third instance sees the new token.
    assert _auth(login).token() == second.token()

    # Tokens are registered for redaction.
    assert second.token() not in redact(f"header Authorization: {second.token()}")
    assert token not in redact(f"old token {token}")


def test_expired_refresh_token_means_sign_in_needed(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    login = FakeMicrosoftLogin()
    _auth(login).sign_in()
    login.refuse_refresh = True
    auth = _auth(login)
    # After a 401 the forced refresh is refused: the user reads why and what to do, no secret.
    with pytest.raises(AuthError, match="expired or was withdrawn") as info:
        auth.refresh()
    assert "invalid_grant" in info.value.message and "sign-in" in info.value.message
    assert info.value.service == "crm" and info.value.title == "Sign-in needed"
    assert "refresh-" not in info.value.message


def test_device_code_runs_without_sign_in_when_allowed(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    login = FakeMicrosoftLogin()
    auth = _auth(login, allow_interactive=True)
    assert auth.token().startswith("eyJ0eXAiOiJKV1Qi.access-1-")


def test_interactive_browser_sign_in(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """MSAL's own loopback redirect listener is real; the browser and Microsoft's page are faked."""
    import webbrowser

    login = FakeMicrosoftLogin()
    opened: list[str] = []

    def fake_browser(url: str, *args: object, **kw: object) -> bool:
        opened.append(url)
        query = parse_qs(url.split("?", 1)[1])
        login.nonce = query.get("nonce", [None])[0]
        redirect, state = query["redirect_uri"][0], query["state"][0]
        # What Microsoft's page does after the user signs in: post the code to MSAL's listener.
        threading.Thread(
            target=lambda: requests.post(redirect, data={"code": "AUTH-CODE", "state": state}, timeout=10),
            daemon=True,
        ).start()
        return True

    monkeypatch.setattr(webbrowser, "open", fake_browser)
    auth = MsalAuth(
        ORG,
        CLIENT_ID,
        cache_store=KeyringTokenCache(CredentialStore("work")),
        prompt="interactive",
        login_hint="anna@contoso.com",
        http_client=login,
        interactive_timeout=20,
    )
    token = auth.sign_in()
    assert opened and opened[0].startswith(f"{LOGIN}/organizations/oauth2/v2.0/authorize?")
    assert "login_hint=anna%40contoso.com" in opened[0]
    assert login.grants() == ["authorization_code"]
    assert _auth(login, login_hint="anna@contoso.com").token() == token


def test_sign_out_removes_the_cache_from_the_keyring(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    login = FakeMicrosoftLogin()
    auth = _auth(login)
    auth.sign_in()
    auth.sign_out()
    assert not [k for k in memory_keyring.store if k[0] == "crm-bridge:work:msal-cache"]
    with pytest.raises(AuthError):
        _auth(login).token()


def test_unreachable_sign_in_service_is_offline(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    login = FakeMicrosoftLogin()
    login.offline = True
    with pytest.raises(OfflineError):
        _auth(login).token()


def test_no_keyring_means_no_token_cache_at_all(tmp_path) -> None:  # type: ignore[no-untyped-def]
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(CredentialStoreError):
        _auth(FakeMicrosoftLogin()).token()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_damaged_cache_costs_a_sign_in_not_a_crash(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    login = FakeMicrosoftLogin()
    _auth(login).sign_in()
    shard = next(k for k in memory_keyring.store if k[0] == "crm-bridge:work:msal-cache" and "#" in k[1])
    memory_keyring.store[shard] = "garbage"
    with pytest.raises(AuthError, match="Sign in with your Microsoft account"):
        _auth(login).token()


def test_scope_variants_and_repr_hide_secrets() -> None:
    auth = MsalAuth(
        f"{ORG}/api/data/v9.2/",
        CLIENT_ID,
        TENANT_ID,
        cache_store=KeyringTokenCache(CredentialStore()),
        scope=".default",
    )
    assert auth.scopes == [f"{ORG}/.default"]
    assert auth.authority == f"{LOGIN}/{TENANT_ID}"
    assert "secret" not in repr(StaticTokenAuth("secret-token"))
    assert "pw" not in repr(NtlmAuth("CONTOSO\\anna", lambda: "pw"))


def test_bearer_tokens_never_go_over_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ConfigError):
        DataverseClient("http://crm.contoso.local", StaticTokenAuth("t0ken"))
    with pytest.raises(ConfigError):
        DataverseClient("https://user:pw@crm.contoso.com", StaticTokenAuth("t0ken"))
    DataverseClient("http://127.0.0.1:9", StaticTokenAuth("t0ken")).close()
    # NTLM on an intranet http server is how on-premises deployments commonly run.
    client = DataverseClient("http://crm.contoso.local/org", NtlmAuth("CONTOSO\\anna", lambda: "Passw0rd!"))
    assert client.service_root == "http://crm.contoso.local/org/api/data/v9.2/"
    assert "Passw0rd!" not in redact("login Passw0rd! failed")


def test_ntlm_without_a_saved_password_asks_for_one() -> None:
    with pytest.raises(AuthError, match="No password"):
        DataverseClient("https://crm.contoso.local", NtlmAuth("CONTOSO\\anna", lambda: None))


def test_client_refreshes_the_token_once_after_a_401(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    """The CRM rejects a token (revoked, clock skew): one silent refresh, then the call succeeds."""
    login = FakeMicrosoftLogin()
    auth = _auth(login)
    stale = auth.sign_in()
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        header = Request(environ).headers.get("Authorization", "")
        seen.append(header)
        if header == f"Bearer {stale}":
            return Response("", status=401)(environ, start_response)
        body = json.dumps({"UserId": "u", "BusinessUnitId": "b", "OrganizationId": "o"})
        return Response(body, mimetype="application/json")(environ, start_response)

    with SandboxServer(app) as server:
        client = DataverseClient(server.origin, auth, sleep=lambda s: None)
        assert client.whoami().user_id == "u"
    assert len(seen) == 2 and seen[0] != seen[1]
    assert login.grants()[-1] == "refresh_token"


def test_abandoned_browser_sign_in_times_out_as_auth_error(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import webbrowser

    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: True)  # the user never signs in
    auth = MsalAuth(
        ORG,
        CLIENT_ID,
        cache_store=KeyringTokenCache(CredentialStore("work")),
        prompt="interactive",
        http_client=FakeMicrosoftLogin(),
        interactive_timeout=1,
    )
    with pytest.raises(AuthError, match="not completed"):
        auth.sign_in()


def test_static_tokens_are_masked_in_logs_when_they_are_real_tokens() -> None:
    StaticTokenAuth("sandbox")
    assert redact("sandbox started on 127.0.0.1") == "sandbox started on 127.0.0.1"
    assert "sandbox" not in redact("Authorization: Bearer sandbox")
    long_token = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
    StaticTokenAuth(long_token)
    assert long_token not in redact(f"server echoed {long_token}")


def test_ntlm_handshake_against_a_loopback_acceptor(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """requests-ntlm negotiates with a real NTLM acceptor (pyspnego) standing in for IIS."""
    import spnego

    users = tmp_path / "ntlm-users"
    users.write_text("CONTOSO:anna:Passw0rd!\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    state: dict[str, Any] = {}
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        header = Request(environ).headers.get("Authorization", "")
        seen.append(header.split(" ", 1)[0])
        challenge = {"WWW-Authenticate": "NTLM"}
        if header.startswith("NTLM "):
            token = base64.b64decode(header[5:])
            if token[8:9] == b"\x01":  # NEGOTIATE: start a fresh acceptor
                state["ctx"] = spnego.server(protocol="ntlm")
            try:
                out = state["ctx"].step(token)
            except spnego.exceptions.SpnegoError:
                return Response("", status=401, headers=challenge)(environ, start_response)
            if out:
                challenge = {"WWW-Authenticate": "NTLM " + base64.b64encode(out).decode()}
                return Response("", status=401, headers=challenge)(environ, start_response)
            if state["ctx"].complete:
                body = json.dumps(
                    {"UserId": state["ctx"].client_principal, "BusinessUnitId": "b", "OrganizationId": "o"}
                )
                return Response(body, mimetype="application/json")(environ, start_response)
        return Response("", status=401, headers=challenge)(environ, start_response)

    with SandboxServer(app) as server:
        good = DataverseClient(
            server.origin, NtlmAuth("CONTOSO\\anna", lambda: "Passw0rd!"), sleep=lambda s: None
        )
        assert good.whoami().user_id.lower() == "contoso\\anna"
        assert seen[:3] == ["", "NTLM", "NTLM"]
        bad = DataverseClient(server.origin, NtlmAuth("CONTOSO\\anna", lambda: "wrong"), sleep=lambda s: None)
        with pytest.raises(AuthError) as info:
            bad.whoami()
        assert "wrong" not in str(info.value)
