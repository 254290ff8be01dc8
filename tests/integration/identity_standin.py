"""A loopback stand-in for the Microsoft identity platform, for MSAL's real code to talk to.

It serves, over HTTPS with a certificate authority made at test time (MSAL accepts only https
authorities: graph-msal-testing.md §6.1), the endpoints MSAL 1.39 uses for a public client:

- ``GET  /<tenant>/v2.0/.well-known/openid-configuration`` (tenant discovery)
- ``GET  /<tenant>/oauth2/v2.0/authorize`` (authorization code + PKCE, loopback redirect,
  ``response_mode=form_post`` as an auto-submitting form, ``query`` as a 302)
- ``POST /<tenant>/oauth2/v2.0/devicecode``
- ``POST /<tenant>/oauth2/v2.0/token`` (``authorization_code``, ``refresh_token``,
  ``urn:ietf:params:oauth:grant-type:device_code``) answering ``id_token`` (unsigned; MSAL
  1.38+ only decodes it) and ``client_info`` as Entra does (§6.3).

Entra behaviour it follows: one token is for one resource (a scope list spanning two resources
is refused, AADSTS28000); a refresh token of the account redeems a token for any resource the
user or an administrator consented to (else ``invalid_grant``/``consent_required``, AADSTS65001);
refresh tokens can be revoked (AADSTS50173) or expire (AADSTS700082); polling before the user
approves a device code answers ``authorization_pending``.

What it does NOT reproduce is Microsoft's sign-in pages: ``/authorize`` signs the one test user
in at once, and a device code is approved by the test calling :meth:`IdentityStandIn.approve`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlparse

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from addin.sandbox.tls import LocalAuthority as TestAuthority

TENANT_ID = "5d1c0d3e-0000-4000-8000-00000000c0de"
USER_OID = "0a11ce00-0000-4000-8000-0000000000a1"
USERNAME = "anna@contoso.test"
RESERVED = {"openid", "profile", "offline_access"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def resource_of(scope: str) -> str:
    parsed = urlparse(scope)
    return f"{parsed.scheme}://{parsed.netloc}" if parsed.netloc else "https://graph.microsoft.com"


# -- TLS ---------------------------------------------------------------------------------------


# -- the identity platform ---------------------------------------------------------------------


@dataclass
class Grant:
    """One refresh token: whose, for which app, and what the user consented to."""

    client_id: str
    consented: set[str]
    revoked: bool = False
    expired: bool = False


@dataclass
class PendingCode:
    client_id: str
    scopes: list[str]
    challenge: str
    redirect_uri: str
    nonce: str
    consented: set[str]


@dataclass
class DeviceCode:
    client_id: str
    scopes: list[str]
    user_code: str
    approved: bool = False
    redeemed: bool = False


@dataclass
class IdentityStandIn:
    """State and behaviour; :meth:`serve` puts it on https://localhost:<port>."""

    client_id: str
    tenant: str = TENANT_ID
    admin_consent: bool = False  # True: every resource of the app is consented tenant-wide
    access_token_lifetime: int = 3600
    # The next refresh answers this error (e.g. "interaction_required" for a new MFA policy).
    refresh_error: str | None = None
    requests: Counter[str] = field(default_factory=Counter)
    base: str = ""
    _codes: dict[str, PendingCode] = field(default_factory=dict)
    _devices: dict[str, DeviceCode] = field(default_factory=dict)
    _grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, str] = field(default_factory=dict)  # token -> space-joined scopes
    _lock: threading.Lock = field(default_factory=threading.Lock)
    first_poll: threading.Event = field(default_factory=threading.Event)

    # -- what the tests do on "Microsoft's side" ---------------------------------------------

    @property
    def prompts(self) -> int:
        """Interactive sign-ins a person had to perform: browser visits plus device codes issued."""
        return self.requests["authorize"] + self.requests["devicecode"]

    def approve(self, user_code: str) -> None:
        """The user enters the code at the device login page and signs in."""
        with self._lock:
            for device in self._devices.values():
                if device.user_code == user_code:
                    device.approved = True
                    return
        raise KeyError(user_code)

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            return [d.user_code for d in self._devices.values() if not d.approved]

    def revoke_all(self) -> None:
        """The admin revokes the user's sessions (Revoke-MgUserSignInSession)."""
        with self._lock:
            for grant in self._grants.values():
                grant.revoked = True

    def expire_all(self) -> None:
        """Every refresh token passes its inactivity lifetime."""
        with self._lock:
            for grant in self._grants.values():
                grant.expired = True

    def scopes_of(self, access_token: str) -> list[str]:
        """What a resource server would read from the token (its audience and scopes)."""
        with self._lock:
            return self.access_tokens.get(access_token, "").split()

    # -- HTTP --------------------------------------------------------------------------------

    def discovery(self, tenant: str) -> dict[str, Any]:
        # Like Entra: "organizations" keeps its name in the endpoints; the issuer names the tenant.
        root = f"{self.base}/{tenant}"
        return {
            "issuer": f"{self.base}/{self.tenant}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        tail = "/".join(parts[1:])
        if not parts or parts[0] not in (self.tenant, "organizations", "common"):
            return _error(400, "invalid_tenant", "AADSTS90002: Tenant not found.", [90002])
        if request.method == "GET" and tail == "v2.0/.well-known/openid-configuration":
            self.requests["discovery"] += 1
            return _json(self.discovery(parts[0]))
        if request.method == "GET" and tail == "oauth2/v2.0/authorize":
            self.requests["authorize"] += 1
            return self._authorize(request)
        if request.method == "POST" and tail == "oauth2/v2.0/devicecode":
            self.requests["devicecode"] += 1
            return self._devicecode(request)
        if request.method == "POST" and tail == "oauth2/v2.0/token":
            grant = request.form.get("grant_type", "")
            self.requests[f"token:{grant}"] += 1
            return self._token(request, grant)
        return _error(404, "not_found", f"No endpoint {request.path}.", [])

    def _check_client(self, client_id: str) -> Response | None:
        if client_id != self.client_id:
            return _error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.",
                [700016],
            )
        return None

    def _authorize(self, request: Request) -> Response:
        q = request.args
        refused = self._check_client(q.get("client_id", ""))
        if refused is not None:
            return refused
        redirect = q.get("redirect_uri", "")
        parsed = urlparse(redirect)
        # The registration has the redirect URI http://localhost; Entra accepts any port for it.
        if parsed.scheme != "http" or parsed.hostname != "localhost" or parsed.path not in ("", "/"):
            return _error(400, "invalid_request", "AADSTS50011: The redirect URI does not match.", [50011])
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return _error(
                400, "invalid_request", "AADSTS9002325: Proof Key for Code Exchange is required.", []
            )
        scopes = q.get("scope", "").split()
        code = "code-" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = PendingCode(
                client_id=self.client_id,
                scopes=scopes,
                challenge=q.get("code_challenge", ""),
                redirect_uri=redirect,
                nonce=q.get("nonce", ""),
                # Consent is given at once for every resource named here (extra_scopes_to_consent).
                consented={s for s in scopes if s not in RESERVED},
            )
        values = {"code": code, "state": q.get("state", ""), "client_info": self._client_info()}
        if q.get("response_mode") == "form_post":
            fields = "".join(
                f'<input type="hidden" name="{k}" value="{html.escape(v)}"/>' for k, v in values.items()
            )
            page = (
                "<html><body onload='document.forms[0].submit()'>"
                f'<form method="post" action="{html.escape(redirect)}">{fields}</form></body></html>'
            )
            return Response(page, mimetype="text/html")
        return Response("", status=302, headers={"Location": f"{redirect}?{urlencode(values)}"})

    def _devicecode(self, request: Request) -> Response:
        refused = self._check_client(request.form.get("client_id", ""))
        if refused is not None:
            return refused
        scopes = request.form.get("scope", "").split()
        bad = _one_resource(scopes)
        if bad is not None:
            return bad
        device_code = "DAQABAAEAAAD" + secrets.token_urlsafe(32)
        user_code = f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}"
        with self._lock:
            self._devices[device_code] = DeviceCode(self.client_id, scopes, user_code)
        verify = f"{self.base}/devicelogin"
        return _json(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verify,
                "expires_in": 900,
                "interval": 1,
                "message": f"To sign in, use a web browser to open the page {verify} "
                f"and enter the code {user_code} to authenticate.",
            }
        )

    def _token(self, request: Request, grant: str) -> Response:
        form = request.form
        refused = self._check_client(form.get("client_id", ""))
        if refused is not None:
            return refused
        if grant == "authorization_code":
            return self._redeem_code(form)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self._redeem_device(form)
        if grant == "refresh_token":
            return self._refresh(form)
        return _error(400, "unsupported_grant_type", f"AADSTS70003: grant {grant!r} unsupported.", [70003])

    def _redeem_code(self, form: Any) -> Response:
        with self._lock:
            pending = self._codes.pop(form.get("code", ""), None)
        if pending is None:
            return _error(
                400, "invalid_grant", "AADSTS70008: The provided authorization code has expired.", [70008]
            )
        verifier = form.get("code_verifier", "")
        if _b64(hashlib.sha256(verifier.encode()).digest()) != pending.challenge:
            return _error(400, "invalid_grant", "AADSTS501481: The Code_Verifier does not match.", [501481])
        if form.get("redirect_uri") != pending.redirect_uri:
            return _error(400, "invalid_grant", "AADSTS70001: redirect_uri mismatch.", [70001])
        scopes = form.get("scope", "").split()
        bad = _one_resource(scopes)
        if bad is not None:
            return bad
        return self._issue(scopes, pending.consented, nonce=pending.nonce)

    def _redeem_device(self, form: Any) -> Response:
        code = form.get("device_code", "")
        with self._lock:
            device = self._devices.get(code)
            self.first_poll.set()
            if device is None or device.redeemed:
                return _error(400, "expired_token", "AADSTS70020: The device code has expired.", [70020])
            if not device.approved:
                return _error(400, "authorization_pending", "AADSTS70016: Authorization is pending.", [70016])
            device.redeemed = True
        # The token request carries no scope: echo the one asked for at /devicecode (§6.3).
        return self._issue(device.scopes, {s for s in device.scopes if s not in RESERVED})

    def _refresh(self, form: Any) -> Response:
        with self._lock:
            grant = self._grants.get(form.get("refresh_token", ""))
            forced, self.refresh_error = self.refresh_error, None
        if grant is None:
            return _error(
                400, "invalid_grant", "AADSTS9002313: Invalid request. Malformed refresh token.", [9002313]
            )
        if grant.revoked:
            return _error(
                400,
                "invalid_grant",
                "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth "
                "token is needed. The user might have changed or reset their password.",
                [50173],
            )
        if grant.expired:
            return _error(
                400,
                "invalid_grant",
                "AADSTS700082: The refresh token has expired due to inactivity.",
                [700082],
            )
        if forced:
            return _error(
                400,
                forced,
                "AADSTS50076: you must use multi-factor authentication.",
                [50076],
                suberror="basic_action",
            )
        scopes = form.get("scope", "").split()
        bad = _one_resource(scopes)
        if bad is not None:
            return bad
        wanted = {s for s in scopes if s not in RESERVED}
        if not self.admin_consent and not wanted <= grant.consented:
            return _error(
                400,
                "invalid_grant",
                "AADSTS65001: The user or administrator has not consented to use the application.",
                [65001],
                suberror="consent_required",
            )
        return self._issue(scopes, grant.consented)

    def _issue(self, scopes: list[str], consented: set[str], nonce: str = "") -> Response:
        resource_scopes = [s for s in scopes if s not in RESERVED]
        granted = " ".join([*resource_scopes, "openid", "profile", "offline_access"])
        # Real access tokens are JWTs of 1.5–3 KB: long enough that the keyring cache is sharded.
        access = "eyJ0eXAiOiJKV1QiLCJub25jZSI6.at-" + secrets.token_urlsafe(1200)
        refresh = "1.AQ-rt-" + secrets.token_urlsafe(600)
        with self._lock:
            self.access_tokens[access] = granted
            self._grants[refresh] = Grant(self.client_id, set(consented))
        now = int(time.time())
        claims = {
            "aud": self.client_id,
            "iss": f"{self.base}/{self.tenant}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": "Anna Sales",
            "oid": USER_OID,
            "preferred_username": USERNAME,
            "sub": "sub-" + USER_OID,
            "tid": self.tenant,
            "ver": "2.0",
            **({"nonce": nonce} if nonce else {}),
        }
        id_token = f"{_b64json({'alg': 'none', 'typ': 'JWT'})}.{_b64json(claims)}."
        return _json(
            {
                "token_type": "Bearer",
                "scope": granted,
                "expires_in": self.access_token_lifetime,
                "ext_expires_in": self.access_token_lifetime,
                "access_token": access,
                "refresh_token": refresh,
                "id_token": id_token,
                "client_info": self._client_info(),
            }
        )

    def _client_info(self) -> str:
        return _b64json({"uid": USER_OID, "utid": self.tenant})

    # -- serving -----------------------------------------------------------------------------

    def serve(self, authority: TestAuthority) -> RunningStandIn:
        return RunningStandIn(self, authority).start()


def _one_resource(scopes: list[str]) -> Response | None:
    resources = {resource_of(s) for s in scopes if s not in RESERVED}
    if len(resources) > 1:
        return _error(
            400,
            "invalid_scope",
            "AADSTS28000: Provided value for the input parameter scope is not valid because it "
            "contains more than one resource.",
            [28000],
        )
    return None


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _error(status: int, code: str, description: str, codes: list[int], suberror: str = "") -> Response:
    body: dict[str, Any] = {
        "error": code,
        "error_description": f"{description}\r\nTrace ID: {secrets.token_hex(8)}\r\nTimestamp: now",
        "error_codes": codes,
        "trace_id": secrets.token_hex(8),
        "correlation_id": secrets.token_hex(8),
    }
    if suberror:
        body["suberror"] = suberror
    return _json(body, status)


class RunningStandIn:
    """The stand-in on https://localhost:<ephemeral port>, in a background thread."""

    def __init__(self, standin: IdentityStandIn, authority: TestAuthority) -> None:
        self.standin = standin
        self._server = make_server(
            "127.0.0.1", 0, standin, threaded=True, ssl_context=authority.server_context()
        )
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.port = self._server.server_port
        standin.base = f"https://localhost:{self.port}"
        self._thread: threading.Thread | None = None

    @property
    def authority_host(self) -> str:
        return self.standin.base

    def start(self) -> RunningStandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="identity-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class FakeBrowser:
    """Stands in for the user's browser on Microsoft's sign-in page (the one mocked part).

    Install it with ``monkeypatch.setattr(webbrowser, "open", browser.open)``: it performs the GET
    of the authorize URL MSAL opens and follows the form_post redirect to MSAL's loopback listener.
    """

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.errors: list[BaseException] = []

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        import re

        import requests

        self.opened.append(url)

        def sign_in() -> None:
            try:
                page = requests.get(url, timeout=20)  # the authorize endpoint
                page.raise_for_status()
                action = re.search(r'action="([^"]+)"', page.text)
                assert action is not None, page.text
                fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
                requests.post(html.unescape(action.group(1)), data=fields, timeout=20)
            except BaseException as exc:  # reported by the test, not lost in a thread
                self.errors.append(exc)

        threading.Thread(target=sign_in, daemon=True).start()
        return True
