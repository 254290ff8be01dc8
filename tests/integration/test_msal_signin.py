"""Microsoft sign-in with MSAL's real code against the loopback identity stand-in.

Real: msal.PublicClientApplication (discovery, PKCE, its loopback redirect listener, device-code
polling, refresh, the token cache), HTTPS with a certificate authority made for the test, the
keyring-backed cache (the test's in-memory keyring), the bridge's composition.

Mocked, because it cannot run here: Microsoft's sign-in pages.  The "browser" below performs the
HTTP GET of the authorize URL MSAL opens and follows the stand-in's form_post redirect to MSAL's
loopback listener, as a browser does once the user has signed in; a device code is approved by the
test calling the stand-in, as the user would at the device login page.
"""

from __future__ import annotations

import json
import re
import threading
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from identity_standin import (
    TENANT_ID,
    USERNAME,
    FakeBrowser,
    IdentityStandIn,
    RunningStandIn,
    TestAuthority,
)

from addin.compose import crm_auth, mailbox_secret, microsoft_sign_in
from addin.config import Profile
from addin.credentials import CredentialStore
from addin.crm.auth import MsalAuth
from addin.errors import AuthError, ConfigError
from addin.signin import (
    GRAPH_MAIL_SCOPES,
    KeyringTokenCache,
    MicrosoftSignIn,
    MicrosoftSignInNeeded,
    SignInConfig,
    SignInMethod,
    broker_wanted,
    dataverse_scopes,
    forget_shared,
)

pytestmark = pytest.mark.integration

CLIENT_ID = "c0ffee00-1111-4222-8333-444455556666"
ORG = "https://contoso.crm4.dynamics.com"
DATAVERSE = dataverse_scopes(ORG)
CACHE_SERVICE = "crm-bridge:work:msal-cache"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority.create(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture
def running(authority: TestAuthority, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStandIn]:
    # Every requests session in this process (MSAL's, the fake browser's) trusts the test CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_pem))
    server = IdentityStandIn(client_id=CLIENT_ID).serve(authority)
    yield server
    server.stop()
    forget_shared()


@pytest.fixture
def standin(running: RunningStandIn) -> IdentityStandIn:
    return running.standin


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> FakeBrowser:
    fake = FakeBrowser()
    monkeypatch.setattr(webbrowser, "open", fake.open)
    return fake


def make_sign_in(
    running: RunningStandIn,
    method: SignInMethod = SignInMethod.BROWSER,
    messages: list[str] | None = None,
) -> MicrosoftSignIn:
    config = SignInConfig(
        client_id=CLIENT_ID,
        tenant=TENANT_ID,
        authority_host=running.authority_host,
        method=method,
        login_hint=USERNAME,
        interactive_timeout=30,
    )
    return MicrosoftSignIn(
        config,
        KeyringTokenCache(CredentialStore("work")),
        on_device_code=messages.append if messages is not None else None,
    )


def approve_when_polled(standin: IdentityStandIn, messages: list[str]) -> threading.Thread:
    """The user reads the code MSAL shows, and enters it while MSAL is already polling."""

    def approve() -> None:
        assert standin.first_poll.wait(30)
        code = re.search(r"enter the code (\S+) ", messages[0])
        assert code is not None
        standin.approve(code.group(1))

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    return thread


def cache_entries(memory_keyring: Any) -> dict[tuple[str, str], str]:
    return {k: v for k, v in memory_keyring.store.items() if k[0] == CACHE_SERVICE}


def test_browser_sign_in_serves_graph_and_dataverse_with_one_prompt(
    running: RunningStandIn, standin: IdentityStandIn, browser: FakeBrowser
) -> None:
    signin = make_sign_in(running)
    graph = signin.token_source(GRAPH_MAIL_SCOPES, "mailbox")
    crm = MsalAuth(ORG, sign_in=signin)
    assert not broker_wanted(signin.config)  # Linux: the browser, not WAM

    with pytest.raises(MicrosoftSignInNeeded, match="Sign in with your Microsoft account"):
        graph()  # silent only: nobody has signed in yet
    first = signin.sign_in()
    assert browser.errors == []
    assert len(browser.opened) == 1
    opened = browser.opened[0]
    assert opened.startswith(f"{running.authority_host}/{TENANT_ID}/oauth2/v2.0/authorize?")
    assert "code_challenge_method=S256" in opened and "redirect_uri=http%3A%2F%2Flocalhost%3A" in opened

    # The token is for Graph with exactly the mail permissions the backend needs.
    assert graph() == first
    assert set(standin.scopes_of(first)) == {*GRAPH_MAIL_SCOPES, "openid", "profile", "offline_access"}

    # Dataverse: the same account's refresh token, no second prompt.
    crm_token = crm.token()
    assert crm_token != first
    assert f"{ORG}/user_impersonation" in standin.scopes_of(crm_token)
    assert crm.headers() == {"Authorization": f"Bearer {crm_token}"}
    assert standin.prompts == 1
    assert standin.requests["token:authorization_code"] == 1
    assert standin.requests["token:refresh_token"] == 1
    # Both are now cached: asking again costs no request at all.
    before = sum(standin.requests.values())
    assert graph() == first and crm.token() == crm_token
    assert sum(standin.requests.values()) == before
    assert signin.accounts() == [USERNAME]


def test_without_consent_for_the_second_resource_a_sign_in_is_needed(
    running: RunningStandIn, standin: IdentityStandIn, browser: FakeBrowser
) -> None:
    """Why every resource is declared before the first sign-in: consent is asked for all at once."""
    signin = make_sign_in(running)
    signin.sign_in(GRAPH_MAIL_SCOPES)  # only Graph was known then
    with pytest.raises(MicrosoftSignInNeeded) as info:
        signin.token(DATAVERSE, service="crm")
    assert "AADSTS65001" in info.value.message and "consent_required" in info.value.message
    assert info.value.service == "crm"

    # Signing in again with both resources declared fixes it.
    signin.register(DATAVERSE)
    signin.sign_in(GRAPH_MAIL_SCOPES)
    assert DATAVERSE[0] in standin.scopes_of(signin.token(DATAVERSE))


def test_device_code_sign_in_for_headless_use(running: RunningStandIn, standin: IdentityStandIn) -> None:
    standin.admin_consent = True  # the tenant's administrator consented for every user
    messages: list[str] = []
    signin = make_sign_in(running, SignInMethod.DEVICE_CODE, messages)
    signin.register(DATAVERSE)
    signin.register(GRAPH_MAIL_SCOPES)
    approver = approve_when_polled(standin, messages)
    token = signin.sign_in()
    approver.join(5)
    assert messages and f"{running.authority_host}/devicelogin" in messages[0]
    # MSAL polled before the user approved ("authorization_pending"), then got the token.
    assert standin.requests["token:urn:ietf:params:oauth:grant-type:device_code"] >= 2
    assert DATAVERSE[0] in standin.scopes_of(token)
    graph = signin.token(GRAPH_MAIL_SCOPES, service="mailbox")
    assert "https://graph.microsoft.com/Mail.Send" in standin.scopes_of(graph)
    assert standin.prompts == 1 and standin.requests["authorize"] == 0


def test_tokens_survive_a_restart_in_the_keyring_and_never_in_a_file(
    running: RunningStandIn,
    standin: IdentityStandIn,
    browser: FakeBrowser,
    memory_keyring: Any,
    isolated_dirs: Path,
) -> None:
    signin = make_sign_in(running)
    signin.register(GRAPH_MAIL_SCOPES)
    signin.register(DATAVERSE)
    graph = signin.sign_in()
    crm = signin.token(DATAVERSE)

    entries = cache_entries(memory_keyring)
    assert len(entries) > 1  # large enough to be sharded...
    assert all(len(v.encode("utf-16-le")) <= 2560 for v in entries.values())  # ...under Windows' limit
    saved = CredentialStore("work").get_blob("msal-cache")
    assert saved is not None and graph in saved and crm in saved
    refresh_tokens = [rt["secret"] for rt in json.loads(saved)["RefreshToken"].values()]
    assert refresh_tokens

    # A new process: a new MSAL application reads the keyring and needs no request for either token.
    before = sum(standin.requests.values())
    restarted = make_sign_in(running)
    assert restarted.token(GRAPH_MAIL_SCOPES) == graph
    assert restarted.token(DATAVERSE) == crm
    assert sum(standin.requests.values()) - before == 1  # tenant discovery only
    assert standin.prompts == 1

    # No token of any kind in any file under the profile's config, data, state or cache folders.
    files = [p for p in isolated_dirs.rglob("*") if p.is_file()]
    for path in files:
        content = path.read_bytes()
        for secret in (graph, crm, *refresh_tokens):
            assert secret.encode() not in content, path
        assert b"RefreshToken" not in content, path


def test_a_sign_in_in_another_process_is_picked_up_without_a_prompt(
    running: RunningStandIn, standin: IdentityStandIn, browser: FakeBrowser
) -> None:
    """The tray keeps running while the user signs in again with 'crm-bridge sign-in'."""
    standin.access_token_lifetime = 60  # MSAL refreshes tokens this close to expiry on every use
    tray = make_sign_in(running)
    tray.register(DATAVERSE)
    tray.sign_in()
    standin.revoke_all()
    with pytest.raises(MicrosoftSignInNeeded, match="AADSTS50173"):
        tray.token(DATAVERSE)

    cli = make_sign_in(running)  # a second process on the same keyring
    cli.register(DATAVERSE)
    cli.sign_in()
    assert standin.prompts == 2
    # The tray reads the keyring's newer copy and refreshes with the new sign-in.
    token = tray.token(DATAVERSE)
    assert DATAVERSE[0] in standin.scopes_of(token)
    assert standin.prompts == 2
    # And the tray's write kept the CLI's account: a third process still finds it.
    assert make_sign_in(running).accounts() == [USERNAME]


@pytest.mark.parametrize(
    ("what", "code"),
    [("revoked", "AADSTS50173"), ("expired", "AADSTS700082"), ("mfa", "interaction_required")],
)
def test_expired_or_revoked_sign_in_is_sign_in_needed_then_fixed(
    running: RunningStandIn, standin: IdentityStandIn, browser: FakeBrowser, what: str, code: str
) -> None:
    signin = make_sign_in(running)
    crm = MsalAuth(ORG, sign_in=signin)
    first = crm.sign_in()
    if what == "revoked":
        standin.revoke_all()
    elif what == "expired":
        standin.expire_all()
    else:
        standin.refresh_error = "interaction_required"  # e.g. a new MFA policy

    # After a 401 the client forces a refresh; the identity platform refuses it.
    with pytest.raises(AuthError) as info:
        crm.refresh()
    error = info.value
    assert isinstance(error, MicrosoftSignInNeeded) and error.fix_action == "sign_in_microsoft"
    assert error.title == "Sign-in needed" and error.service == "crm"
    assert code in error.message and "sign in again" in error.message
    assert first not in error.message and "1.AQ-rt-" not in error.message

    if what != "mfa":
        # Another process (the CLI, a restarted tray) reaches the same verdict.
        with pytest.raises(MicrosoftSignInNeeded, match="expired or was withdrawn"):
            make_sign_in(running).token(DATAVERSE, force_refresh=True)

    # The Fix: sign in again; silent tokens work afterwards.
    second = crm.sign_in()
    assert second != first and crm.token() == second
    assert standin.prompts == 2


def test_a_profile_with_a_graph_mailbox_shares_one_sign_in_with_the_crm(
    running: RunningStandIn, standin: IdentityStandIn, browser: FakeBrowser
) -> None:
    profile = Profile("work")
    profile.update(
        {
            "mailbox.backend": "graph",
            "mailbox.auth": "oauth",
            "mailbox.email": USERNAME,
            "crm.url": ORG,
            "crm.auth": "oauth",
            "auth.client_id": CLIENT_ID,
            "auth.tenant": TENANT_ID,
            "auth.authority": running.authority_host,
        }
    )
    mailbox_token = mailbox_secret(profile, lambda: "not used for Graph")
    auth = crm_auth(profile, lambda: "unused", lambda: None)
    assert isinstance(auth, MsalAuth)
    signin = microsoft_sign_in(profile)
    assert auth.microsoft is signin  # one MSAL application and one cache for both
    assert signin.resources == [GRAPH_MAIL_SCOPES, DATAVERSE]

    with pytest.raises(MicrosoftSignInNeeded) as info:
        mailbox_token()
    assert info.value.service == "mailbox"
    signin.sign_in()
    graph = mailbox_token()
    assert set(GRAPH_MAIL_SCOPES) <= set(standin.scopes_of(graph))
    assert DATAVERSE[0] in standin.scopes_of(auth.token())
    assert standin.prompts == 1

    # An EWS mailbox keeps its stored password as its secret; a Graph mailbox with another
    # sign-in method (a local Graph sandbox) keeps its stored token.
    ews = Profile("onprem")
    ews.update({"mailbox.backend": "ews", "mailbox.email": USERNAME})
    assert mailbox_secret(ews, lambda: "stored password")() == "stored password"
    sandbox = Profile("sandbox")
    sandbox.update({"mailbox.backend": "graph", "mailbox.auth": "basic"})
    assert mailbox_secret(sandbox, lambda: "sandbox-token")() == "sandbox-token"


def test_no_client_id_is_a_clear_set_up_message(running: RunningStandIn) -> None:
    """There is no silent default application: the organisation's registration must be set."""
    profile = Profile("work")
    profile.update({"crm.url": ORG, "crm.auth": "oauth", "mailbox.email": USERNAME})
    assert profile.get("auth.client_id") == ""
    auth = crm_auth(profile, lambda: "unused", lambda: None)
    with pytest.raises(ConfigError, match=r"auth\.client_id") as info:
        auth.token()
    assert info.value.title == "Set-up needed"


def test_an_unknown_application_is_a_readable_error(
    running: RunningStandIn, standin: IdentityStandIn, browser: FakeBrowser
) -> None:
    standin.client_id = "someone-else"
    messages: list[str] = []
    signin = make_sign_in(running, SignInMethod.DEVICE_CODE, messages)
    with pytest.raises(AuthError, match="AADSTS700016") as info:
        signin.sign_in(DATAVERSE)
    assert "could not start" in info.value.message and "Trace ID" not in info.value.message
