"""The bridge on Dynamics 365 "online": Microsoft sign-in, "Sign-in needed" and its Fix, end to end.

The sandbox CRM sits behind a loopback HTTPS front that plays Dataverse's token check: it accepts
only access tokens the identity stand-in issued for ``https://localhost:<port>/user_impersonation``
and answers 401 otherwise.  The bridge, its scheduler, DataverseClient, MSAL and the EWS sandbox are
all real.  Mocked: Microsoft's sign-in pages only (the fake browser, see identity_standin.py).
"""

from __future__ import annotations

import threading
import time
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from identity_standin import TENANT_ID, FakeBrowser, IdentityStandIn, RunningStandIn, TestAuthority
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from addin.bridge import Bridge
from addin.config import Profile
from addin.demo import DEMO_PASSWORD, USER
from addin.headless_signin import HeadlessSignIn
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox
from addin.secrets import MemorySecrets
from addin.signin import forget_shared
from addin.state import BridgeState

pytestmark = pytest.mark.integration

CLIENT_ID = "b1d9e000-1111-4222-8333-444455556666"
HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}


class DataverseFront:
    """HTTPS in front of the sandbox CRM; checks the bearer token's audience like Dataverse does."""

    def __init__(self, standin: IdentityStandIn, crm_origin: str, authority: TestAuthority) -> None:
        self.standin = standin
        self.crm_origin = crm_origin
        self.refused = 0
        self._server = make_server(
            "127.0.0.1", 0, self, threaded=True, ssl_context=authority.server_context()
        )
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.origin = f"https://localhost:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        if f"{self.origin}/user_impersonation" not in self.standin.scopes_of(token):
            self.refused += 1
            answer = Response("", status=401, headers={"WWW-Authenticate": "Bearer"})
            return answer(environ, start_response)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "authorization")}
        upstream = requests.request(
            request.method,
            self.crm_origin + request.full_path.rstrip("?"),
            data=request.get_data(),
            headers={**headers, "Authorization": "Bearer sandbox"},
            timeout=30,
            allow_redirects=False,
        )
        kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        return Response(upstream.content, status=upstream.status_code, headers=kept)(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Bridge, RunningStandIn, DataverseFront]]:
    authority = TestAuthority.create(tmp_path / "test-ca")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_pem))
    # The CRM client ignores the environment for loopback hosts (no proxies, no .netrc), so the
    # test CA also stands in for the machine's trust store, as a company CA would be installed.
    monkeypatch.setattr("requests.adapters.DEFAULT_CA_BUNDLE_PATH", str(authority.ca_pem))
    browser = FakeBrowser()
    monkeypatch.setattr(webbrowser, "open", browser.open)
    running = IdentityStandIn(client_id=CLIENT_ID, access_token_lifetime=60).serve(authority)
    crm = CrmSandbox(data_dir=tmp_path / "crm", seed="demo").start()
    mail = MailSandbox(data_dir=tmp_path / "mail", seed="demo").start()
    front = DataverseFront(running.standin, crm.origin, authority)
    profile = Profile("online")
    profile.update(
        {
            "mailbox.email": USER,
            "mailbox.server": mail.ews_url,
            "mailbox.auth": "basic",
            "crm.url": front.origin,
            "crm.auth": "oauth",
            "auth.client_id": CLIENT_ID,
            "auth.tenant": TENANT_ID,
            "auth.authority": running.authority_host,
        }
    )
    bridge = Bridge(profile, secrets=MemorySecrets({"mailbox": DEMO_PASSWORD}), data_dir=tmp_path / "bridge")
    try:
        yield bridge, running, front
    finally:
        bridge.stop()
        front.stop()
        mail.stop()
        crm.stop()
        running.stop()
        forget_shared()


def wait_for(bridge: Bridge, state: BridgeState, what: str, limit: float = 90.0) -> None:
    """Wait for a state the engine reaches by itself (generous: the machine is shared and slow)."""
    deadline = time.monotonic() + limit
    while (status := bridge.status()).state is not state:
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; state {status.state}: {status.detail}")
        time.sleep(0.05)


def test_sign_in_needed_has_a_fix_that_signs_in_and_resumes(
    world: tuple[Bridge, RunningStandIn, DataverseFront],
) -> None:
    bridge, running, front = world
    standin = running.standin
    bridge.start()

    # Nobody signed in yet: the engine waits in "Sign-in needed" and offers "Sign in…".
    wait_for(bridge, BridgeState.CREDENTIALS_NEEDED, "sign-in needed")
    (issue,) = [i for i in bridge.issues() if i.key == "credentials"]
    assert issue.action == "sign_in_microsoft" and "Sign in with your Microsoft account" in issue.message
    assert standin.prompts == 0  # the engine never opens a browser by itself

    # The Fix.
    assert bridge.sign_in() == "anna@contoso.test"
    wait_for(bridge, BridgeState.IDLE, "the engine to resume")
    assert not [i for i in bridge.issues() if i.key == "credentials"]
    assert bridge.status().crm_url.startswith(front.origin)
    assert standin.prompts == 1

    # The administrator revokes the user's sessions; the next refresh is refused.
    standin.revoke_all()
    bridge.sync_now()
    wait_for(bridge, BridgeState.CREDENTIALS_NEEDED, "sign-in needed again")
    (issue,) = [i for i in bridge.issues() if i.key == "credentials"]
    assert issue.action == "sign_in_microsoft"
    assert "AADSTS50173" in issue.message and "expired or was withdrawn" in issue.message
    assert "1.AQ-rt-" not in issue.message and "eyJ" not in issue.message

    bridge.sign_in()
    wait_for(bridge, BridgeState.IDLE, "the engine to resume again")
    assert standin.prompts == 2
    # Every request that reached the CRM carried a valid Dataverse token from the stand-in.
    assert front.refused == 0


def test_headless_run_offers_a_device_code_and_resumes_once_approved(
    world: tuple[Bridge, RunningStandIn, DataverseFront],
) -> None:
    """``crm-bridge run`` has no tray: the sign-in it needs is a device code on the terminal."""
    bridge, running, front = world
    standin = running.standin
    standin.admin_consent = True
    said: list[str] = []
    signed_in = threading.Event()

    def say(text: str) -> None:
        said.append(text)
        if text.startswith("Signed in as"):
            signed_in.set()

    headless = HeadlessSignIn(bridge, say)
    bridge.subscribe(headless.on_event)

    def approve() -> None:
        assert standin.first_poll.wait(60)  # MSAL is polling: the user enters the code now
        for code in standin.pending_user_codes():
            standin.approve(code)

    approver = threading.Thread(target=approve, daemon=True)
    approver.start()
    bridge.start()
    assert signed_in.wait(90), said
    wait_for(bridge, BridgeState.IDLE, "the engine to resume after the device-code sign-in")
    approver.join(10)
    headless.close()
    assert any("/devicelogin" in line and "enter the code" in line for line in said)
    assert said[-1] == "Signed in as anna@contoso.test."
    assert standin.requests["devicecode"] == 1 and standin.requests["authorize"] == 0
    assert front.refused == 0
