"""Sandbox Exchange: injected faults, authentication, autodiscover and the CLI, driven by
unmodified exchangelib (and plain HTTP where exchangelib has no client for it)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import exchangelib
import pytest
import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    Account,
    Build,
    Configuration,
    Credentials,
    FailFast,
    FaultTolerance,
    Message,
    Version,
)
from exchangelib.autodiscover import clear_cache
from exchangelib.autodiscover.cache import autodiscover_cache
from exchangelib.autodiscover.protocol import AutodiscoverProtocol
from exchangelib.errors import (
    ErrorServerBusy,
    ErrorTimeoutExpired,
    MalformedResponseError,
    UnauthorizedError,
)
from lxml import etree

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX, PASSWORD

pytestmark = pytest.mark.integration

VERSION = Version(build=Build(15, 2, 1544, 4))
BACKOFF_MS = 200


@pytest.fixture(autouse=True)
def _quiet_server_log() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    with MailSandbox(seed="demo", busy_backoff_ms=BACKOFF_MS) as sandbox:
        yield sandbox
    exchangelib.close_connections()


def account(mail: MailSandbox, password: str = PASSWORD, retry: object = None) -> Account:
    config = Configuration(
        service_endpoint=mail.ews_url,
        credentials=Credentials(ALEX.email, password),
        auth_type=BASIC,
        version=VERSION,
        retry_policy=retry or FailFast(),
    )
    return Account(ALEX.email, config=config, autodiscover=False, access_type=DELEGATE)


def ops(mail: MailSandbox) -> dict[str, int]:
    return dict(mail.stats.snapshot()["by_operation"])


# -- throttling -------------------------------------------------------------------------------------


def test_busy_is_retried_after_back_off_with_fault_tolerance(mail: MailSandbox) -> None:
    acct = account(mail, retry=FaultTolerance(max_wait=30))
    inbox = acct.inbox
    mail.faults.busy = 1
    started = time.monotonic()
    count = inbox.all().count()
    waited = time.monotonic() - started
    assert count == inbox.total_count
    assert ops(mail)["FindItem"] == 2  # the busy answer, then the retry
    assert waited >= BACKOFF_MS / 1000  # it honoured BackOffMilliseconds before retrying


def test_busy_fails_fast_with_the_servers_back_off(mail: MailSandbox) -> None:
    acct = account(mail)
    inbox = acct.inbox
    mail.faults.busy = 1
    with pytest.raises(ErrorServerBusy) as caught:
        inbox.all().count()
    assert caught.value.back_off == BACKOFF_MS / 1000
    assert inbox.all().count() == inbox.total_count  # the next request goes through


def test_busy_option_of_the_constructor() -> None:
    with MailSandbox(seed="demo", busy=2, busy_backoff_ms=50) as sandbox:
        acct = account(sandbox, retry=FaultTolerance(max_wait=30))
        assert acct.inbox.total_count > 0
        assert ops(sandbox)["GetFolder"] == 4  # root and inbox, each once busy then answered
    exchangelib.close_connections()


def test_throttle_window_answers_busy(mail: MailSandbox) -> None:
    acct = account(mail, retry=FaultTolerance(max_wait=30))
    inbox = acct.inbox
    # A window long enough that four quick look-ups always fall inside it, however loaded the
    # machine (a 0.3 s window could pass with no request over the limit); the busy answer's
    # back-off is the rest of the window, so the test still takes seconds, not minutes.
    mail.faults.set_throttle("2/3")
    for _ in range(4):
        inbox.all().count()
    assert ops(mail)["FindItem"] > 4  # some were answered busy and retried


# -- authentication ---------------------------------------------------------------------------------


def test_wrong_password_is_an_auth_error_before_any_soap_work(mail: MailSandbox) -> None:
    acct = account(mail, password="not-the-password")
    with pytest.raises(UnauthorizedError):
        _ = acct.inbox
    assert ops(mail) == {"GetFolder": 1}  # one attempt, no retries
    other = Account(
        "megan@contoso.example",
        config=Configuration(
            service_endpoint=mail.ews_url,
            credentials=Credentials("megan@contoso.example", PASSWORD),
            auth_type=BASIC,
            version=VERSION,
        ),
        autodiscover=False,
    )
    assert other.inbox.name == "Inbox"


def test_unauthenticated_request_gets_401_with_basic_challenge(mail: MailSandbox) -> None:
    r = requests.post(mail.ews_url, data=b"<x/>", timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_domain_style_login(mail: MailSandbox) -> None:
    config = Configuration(
        service_endpoint=mail.ews_url,
        credentials=Credentials("CONTOSO\\alex", PASSWORD),
        auth_type=BASIC,
        version=VERSION,
    )
    acct = Account(ALEX.email, config=config, autodiscover=False, access_type=DELEGATE)
    assert acct.inbox.total_count > 0


def test_other_mailboxes_folders_are_not_reachable(mail: MailSandbox) -> None:
    acct = account(mail)
    megan = Account(
        "megan@contoso.example",
        config=Configuration(
            service_endpoint=mail.ews_url,
            credentials=Credentials("megan@contoso.example", PASSWORD),
            auth_type=BASIC,
            version=VERSION,
        ),
        autodiscover=False,
    )
    megan_item = megan.inbox.all()[0]
    fetched = list(acct.fetch(ids=[(megan_item.id, megan_item.changekey)]))
    assert isinstance(fetched[0], exchangelib.errors.ErrorItemNotFound)
    assert megan.inbox.id != acct.inbox.id


# -- injected failures ------------------------------------------------------------------------------


def _send(acct: Account, subject: str) -> None:
    Message(
        account=acct, folder=acct.sent, subject=subject, body="b", to_recipients=["megan@contoso.example"]
    ).send_and_save()


def _stored(mail: MailSandbox, subject: str) -> bool:
    return any(i["subject"] == subject for i in mail.items(ALEX.email, "sentitems"))


def test_drop_before_processing_loses_the_request(mail: MailSandbox) -> None:
    acct = account(mail)
    sent = acct.sent
    mail.faults.update({"fail_next": [{"drop": "before"}], "match": "CreateItem"})
    with pytest.raises(ErrorTimeoutExpired):
        _send(acct, "dropped before")
    assert not _stored(mail, "dropped before")
    assert sent.total_count is not None


def test_drop_after_processing_keeps_the_effect_without_an_answer(mail: MailSandbox) -> None:
    acct = account(mail)
    _ = acct.sent
    mail.faults.update({"fail_next": [{"drop": "after"}], "match": "CreateItem"})
    with pytest.raises(ErrorTimeoutExpired):
        _send(acct, "dropped after")
    assert _stored(mail, "dropped after")  # sent, though the client never heard so
    assert any(i["subject"] == "dropped after" for i in mail.items("megan@contoso.example", "inbox"))


def test_http_500_and_401_injection(mail: MailSandbox) -> None:
    acct = account(mail)
    inbox = acct.inbox
    mail.faults.update({"fail_next": [{"status": 500}, {"status": 401}], "match": "FindItem"})
    with pytest.raises(MalformedResponseError):
        inbox.all().count()
    with pytest.raises(UnauthorizedError):
        inbox.all().count()
    assert inbox.all().count() == inbox.total_count


def test_control_endpoints_over_http(mail: MailSandbox) -> None:
    acct = account(mail)
    inbox = acct.inbox
    r = requests.post(f"{mail.origin}/_sandbox/faults", json={"busy": 1}, timeout=5)
    assert r.status_code == 200
    with pytest.raises(ErrorServerBusy):
        inbox.all().count()
    stats = requests.get(f"{mail.origin}/_sandbox/stats", timeout=5).json()
    assert stats["by_operation"]["FindItem"] == 1
    requests.post(f"{mail.origin}/_sandbox/stats/reset", timeout=5)
    assert requests.get(f"{mail.origin}/_sandbox/stats", timeout=5).json()["requests"] == 0


def test_unimplemented_operation_is_exchanges_invalid_operation(mail: MailSandbox) -> None:
    acct = account(mail)
    with pytest.raises(exchangelib.errors.ErrorInvalidOperation):
        list(acct.protocol.get_roomlists())
    # One request: the fault must not make exchangelib walk every API version.
    assert ops(mail).get("GetRoomLists") == 1


def test_user_configuration_other_than_the_category_list_is_not_found(mail: MailSandbox) -> None:
    acct = account(mail)
    with pytest.raises(exchangelib.errors.ErrorItemNotFound):
        acct.inbox.get_user_configuration("OWA.UserOptions")
    with pytest.raises(exchangelib.errors.ErrorItemNotFound):  # no category list written yet
        acct.inbox.get_user_configuration("CategoryList")


def test_invalid_sync_state_is_reported(mail: MailSandbox) -> None:
    acct = account(mail)
    with pytest.raises(exchangelib.errors.ErrorInvalidSyncStateData):
        list(acct.inbox.sync_items(sync_state="not-a-state"))


# -- autodiscover -----------------------------------------------------------------------------------


def test_soap_autodiscover_with_exchangelib_protocol(mail: MailSandbox) -> None:
    protocol = AutodiscoverProtocol(
        config=Configuration(
            service_endpoint=mail.autodiscover_soap_url, credentials=Credentials(ALEX.email, PASSWORD)
        )
    )
    response = protocol.get_user_settings(user=ALEX.email)
    assert response.ews_url == mail.ews_url
    assert response.autodiscover_smtp_address == ALEX.email
    assert response.version is not None and response.version.api_version == "Exchange2016"
    assert protocol.auth_type == BASIC  # detected from the unauthenticated probe's 401


def test_account_autodiscover_resolves_to_the_sandbox(mail: MailSandbox) -> None:
    """Point exchangelib's discovery at the sandbox by priming its autodiscover cache with the
    sandbox's SOAP endpoint for the domain: ``discover()`` then asks that endpoint (no DNS)."""
    credentials = Credentials(ALEX.email, PASSWORD)
    clear_cache()
    try:
        autodiscover_cache[("contoso.example", credentials)] = AutodiscoverProtocol(
            config=Configuration(service_endpoint=mail.autodiscover_soap_url, credentials=credentials)
        )
        acct = Account(ALEX.email, credentials=credentials, autodiscover=True, access_type=DELEGATE)
        assert acct.protocol.service_endpoint == mail.ews_url
        assert acct.ad_response.autodiscover_smtp_address == ALEX.email
        assert acct.inbox.total_count > 0
        assert ops(mail)["GetUserSettings"] >= 1
    finally:
        clear_cache()


def test_pox_autodiscover(mail: MailSandbox) -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
        b'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alex@contoso.example</EMailAddress>'
        b"<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/"
        b"2006a</AcceptableResponseSchema></Request></Autodiscover>"
    )
    assert requests.post(mail.autodiscover_url, data=body, timeout=5).status_code == 401
    r = requests.post(mail.autodiscover_url, data=body, auth=(ALEX.email, PASSWORD), timeout=5)
    assert r.status_code == 200
    root = etree.fromstring(r.content)
    urls = {e.text for e in root.iter("{*}EwsUrl")}
    assert urls == {mail.ews_url}
    unknown = requests.post(
        mail.autodiscover_url, data=body.replace(b"alex@", b"nobody@"), auth=(ALEX.email, PASSWORD), timeout=5
    )
    assert etree.fromstring(unknown.content).findtext(".//{*}ErrorCode") == "500"


# -- command line -----------------------------------------------------------------------------------


def test_cli_prints_url_first_serves_and_exits_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "addin",
            "sandbox",
            "mail",
            "--port",
            "0",
            "--data",
            str(tmp_path),
            "--busy",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("http://127.0.0.1:") and first.endswith("/EWS/Exchange.asmx")
        acct = Account(
            ALEX.email,
            config=Configuration(
                service_endpoint=first,
                credentials=Credentials(ALEX.email, PASSWORD),
                auth_type=BASIC,
                version=VERSION,
            ),
            autodiscover=False,
        )
        assert acct.inbox.total_count > 0
        exchangelib.close_connections()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "mail.sqlite3").exists()


def test_oauth_bearer_tokens(mail: MailSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from exchangelib import OAUTH2, OAuth2AuthorizationCodeCredentials
    from oauthlib.oauth2 import OAuth2Token

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # requests-oauthlib refuses http otherwise
    mail.add_token("token-1", ALEX.email)
    creds = OAuth2AuthorizationCodeCredentials(
        access_token=OAuth2Token({"access_token": "token-1", "token_type": "Bearer", "expires_in": 3600})
    )
    config = Configuration(
        service_endpoint=mail.ews_url, credentials=creds, auth_type=OAUTH2, version=VERSION
    )
    acct = Account(ALEX.email, config=config, autodiscover=False, access_type=DELEGATE)
    assert acct.inbox.total_count > 0
    mail.revoke_token("token-1")
    exchangelib.close_connections()
    again = Account(ALEX.email, config=config, autodiscover=False, access_type=DELEGATE)
    with pytest.raises(UnauthorizedError):
        _ = again.sent


def test_refuses_to_bind_beyond_loopback() -> None:
    from addin.errors import ConfigError

    with pytest.raises(ConfigError, match="loopback only"):
        MailSandbox(seed="empty", host="0.0.0.0")
