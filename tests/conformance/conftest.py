"""The conformance suite's two targets: the sandbox CRM (always, over TLS) and, when
``CRM_BRIDGE_LIVE_CRM_URL`` is set, a real Dynamics 365 organisation (docs/CONFORMANCE.md).

Against a live organisation the suite only reads, except for records it creates itself; each
carries the run's unique tag and is deleted when the run ends, even after a failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest
import requests
from conformance_target import Target

from addin.sandbox.crm import CrmSandbox

LIVE_URL = os.environ.get("CRM_BRIDGE_LIVE_CRM_URL", "").strip().rstrip("/")
TARGETS = ["sandbox"] + (["live"] if LIVE_URL else [])


class _MemoryCache:
    """The live run's MSAL cache lives in memory only: nothing is written to disk or keyring."""

    def __init__(self) -> None:
        self.data: str | None = None

    def version(self) -> str | None:
        return str(hash(self.data)) if self.data else None

    def load(self) -> str | None:
        return self.data

    def save(self, data: str) -> None:
        self.data = data

    def clear(self) -> None:
        self.data = None


def _live_token() -> Callable[[], str]:
    """A device-code sign-in once per run with the bridge's own Microsoft sign-in code."""
    from addin.signin import MicrosoftSignIn, SignInConfig, SignInMethod, dataverse_scopes

    client_id = os.environ.get("CRM_BRIDGE_LIVE_CLIENT_ID", "").strip()
    if not client_id:
        pytest.fail(
            "CRM_BRIDGE_LIVE_CRM_URL is set but CRM_BRIDGE_LIVE_CLIENT_ID is not (docs/CONFORMANCE.md)"
        )
    config = SignInConfig(
        client_id=client_id,
        tenant=os.environ.get("CRM_BRIDGE_LIVE_TENANT", "organizations"),
        method=SignInMethod.DEVICE_CODE,
    )
    # The device code goes to the real terminal even while pytest captures output.
    sign_in = MicrosoftSignIn(
        config, _MemoryCache(), on_device_code=lambda text: print(text, file=sys.__stderr__)
    )
    scopes = dataverse_scopes(LIVE_URL)
    sign_in.sign_in(scopes, method=SignInMethod.DEVICE_CODE, service="conformance")
    return lambda: sign_in.token(scopes, service="conformance")


@pytest.fixture(scope="session", params=TARGETS)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "sandbox":
        with CrmSandbox(seed="demo", tls=True) as crm:
            session = requests.Session()
            session.trust_env = False
            session.verify = str(crm.ca_pem)
            t = Target("sandbox", crm.base_url, session, lambda: crm.token)
            try:
                yield t
            finally:
                t.clean_up()
        return
    session = requests.Session()
    t = Target("live", f"{LIVE_URL}/api/data/v9.2/", session, _live_token())
    try:
        yield t
    finally:
        t.clean_up()


@pytest.fixture
def api(target: Target) -> Iterator[Target]:
    """The target, with this test's records deleted after it."""
    yield target
    target.clean_up()
