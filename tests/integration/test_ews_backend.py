"""EWS backend against the sandbox Exchange: discovery, hints, busy back-off, auth and
network failures.  Real exchangelib over real HTTP on loopback; only the sleep is injected
(so back-off waits are recorded rather than slept)."""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest
from exchangelib.items.base import BaseItem

from addin.errors import (
    AuthError,
    HeaderInjectionError,
    MailboxError,
    OfflineError,
    ThrottledError,
    UnknownOutcomeError,
)
from addin.mailbox.ews import EwsMailbox
from addin.mailbox.registry import open_mailbox
from addin.mailbox.types import Address, FolderKind, MailboxSettings, OutgoingMessage
from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration

ALEX = "alex@contoso.example"
PASSWORD = "correct horse 7"


@pytest.fixture
def sandbox() -> Iterator[MailSandbox]:
    with MailSandbox(seed="empty") as s:
        s.add_mailbox(ALEX, PASSWORD)
        s.add_mailbox("bob@contoso.example", "bob-pw")
        yield s


@pytest.fixture
def opened() -> Iterator[list[EwsMailbox]]:
    boxes: list[EwsMailbox] = []
    yield boxes
    for box in boxes:
        box.close()


def make(
    opened: list[EwsMailbox],
    settings: MailboxSettings,
    password: str = PASSWORD,
    sleeps: list[float] | None = None,
) -> EwsMailbox:
    box = EwsMailbox.from_settings(
        settings, lambda: password, sleep=sleeps.append if sleeps is not None else None
    )
    opened.append(box)
    return box


def direct(sandbox: MailSandbox, **options: str) -> MailboxSettings:
    return MailboxSettings(backend="ews", email=ALEX, server=sandbox.ews_url, timeout=5.0, options=options)


def ops(sandbox: MailSandbox) -> dict[str, int]:
    return dict(sandbox.stats.snapshot()["by_operation"])


def sample_mime(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "erin@fabrikam.example"
    msg["To"] = ALEX
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="fabrikam.example")
    msg.set_content("hello")
    return msg.as_bytes()


# -- connecting ---------------------------------------------------------------------------


def test_registry_opens_the_ews_backend(sandbox: MailSandbox) -> None:
    box = open_mailbox(direct(sandbox), lambda: PASSWORD)
    try:
        assert isinstance(box, EwsMailbox)
        info = box.check()
        assert info.backend == "ews" and info.address == ALEX and info.server == sandbox.ews_url
        assert info.version.startswith("15.")
    finally:
        box.close()


@pytest.mark.parametrize("which", ["pox", "soap"])
def test_autodiscover_from_the_address_with_an_endpoint_override(
    sandbox: MailSandbox, opened: list[EwsMailbox], which: str
) -> None:
    url = sandbox.autodiscover_url if which == "pox" else sandbox.autodiscover_soap_url
    settings = MailboxSettings(backend="ews", email=ALEX, autodiscover_url=url, timeout=5.0)
    box = make(opened, settings)
    sandbox.stats.reset()

    info = box.check()

    assert info.server == sandbox.ews_url
    assert ops(sandbox).get("GetUserSettings", 0) >= 1
    assert box.hints()["ews_url"] == sandbox.ews_url


def test_autodiscover_standard_steps_from_the_address_alone(
    sandbox: MailSandbox, opened: list[EwsMailbox], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """No server, no override: exchangelib's own steps (https://<domain>/autodiscover/...).

    DNS and a TLS server for contoso.example cannot exist here, so only those two are
    stood in for: the A-record lookup is answered, and an HTTP adapter routes
    https://contoso.example to the sandbox.  Everything else is the real discovery code.
    """
    import dns.resolver
    import requests.adapters
    from exchangelib.autodiscover import cache as ad_cache
    from exchangelib.protocol import BaseProtocol

    monkeypatch.setattr(ad_cache, "AUTODISCOVER_PERSISTENT_STORAGE", str(tmp_path) + "/ad-cache")
    ad_cache.autodiscover_cache._protocols.clear()
    real_resolve = dns.resolver.Resolver.resolve

    def resolve(self: dns.resolver.Resolver, qname: str, rdtype: str = "A", **kw: object) -> object:
        if str(qname).rstrip(".") == "contoso.example" and rdtype == "A":
            return ["127.0.0.1"]
        if "contoso.example" in str(qname):
            raise dns.resolver.NXDOMAIN()
        return real_resolve(self, qname, rdtype, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(dns.resolver.Resolver, "resolve", resolve)
    seen: list[str] = []

    class RouteToSandbox(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kw: object) -> requests.Response:  # type: ignore[override]
            url = str(request.url)
            seen.append(url)
            if url.startswith("https://contoso.example/"):
                request.url = sandbox.origin + url[len("https://contoso.example") :]
            return super().send(request, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", RouteToSandbox)

    box = make(opened, MailboxSettings(backend="ews", email=ALEX, timeout=5.0))
    info = box.check()

    assert seen[0] == "https://contoso.example/autodiscover/autodiscover.svc"
    assert info.server == sandbox.ews_url


def test_remembered_hints_skip_discovery_and_probing(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    first = make(
        opened,
        MailboxSettings(
            backend="ews", email=ALEX, autodiscover_url=sandbox.autodiscover_soap_url, timeout=5.0
        ),
    )
    sandbox.stats.reset()
    first_info = first.check()
    cold = ops(sandbox)
    hints = first.hints()
    first.close()
    assert cold.get("ConvertId", 0) >= 1, "the first connect probes auth type and version"
    assert cold.get("GetUserSettings", 0) >= 1
    assert set(hints) >= {"ews_for", "ews_url", "ews_auth_type", "ews_build", "ews_api_version"}
    assert all(PASSWORD not in v for v in hints.values())
    assert hints["ews_build"] == first_info.version == "15.2.1544.4"  # the server's, not a guess

    # The caller persists hints as plain strings and hands them back through options.
    settings = MailboxSettings(
        backend="ews",
        email=ALEX,
        autodiscover_url=sandbox.autodiscover_soap_url,
        timeout=5.0,
        options=dict(hints),
    )
    second = make(opened, settings)
    sandbox.stats.reset()
    info = second.check()
    warm = ops(sandbox)
    assert info.server == sandbox.ews_url
    assert "ConvertId" not in warm and "GetUserSettings" not in warm, warm
    assert warm == {"GetFolder": warm["GetFolder"]}

    # Hints recorded for another address are ignored, never misapplied.
    other = MailboxSettings(
        backend="ews", email="bob@contoso.example", server=sandbox.ews_url, options=dict(hints)
    )
    assert make(opened, other, password="bob-pw").check().address == "bob@contoso.example"


# -- authentication -----------------------------------------------------------------------


def test_wrong_password_fails_fast_with_auth_error(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    wrong = "not-the-password-5"
    box = make(opened, direct(sandbox), password=wrong)
    sandbox.stats.reset()
    with pytest.raises(AuthError) as caught:
        box.check()
    assert caught.value.service == "mailbox"
    assert wrong not in str(caught.value) and wrong not in repr(caught.value.__dict__)
    assert sandbox.stats.snapshot()["requests"] <= 3, ops(sandbox)


def test_wrong_password_with_hints_costs_one_request(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    good = make(opened, direct(sandbox))
    good.check()
    box = make(opened, direct(sandbox, **good.hints()), password="nope")
    sandbox.stats.reset()
    with pytest.raises(AuthError):
        box.check()
    assert sandbox.stats.snapshot()["requests"] == 1


def test_401_in_the_middle_of_a_session_is_an_auth_error(
    sandbox: MailSandbox, opened: list[EwsMailbox]
) -> None:
    sleeps: list[float] = []
    box = make(opened, direct(sandbox), sleeps=sleeps)
    inbox = box.folder(FolderKind.INBOX)
    sandbox.faults.update({"fail_next": [{"status": 401}]})
    sandbox.stats.reset()
    with pytest.raises(AuthError):
        box.list_messages(inbox.id)
    assert sandbox.stats.snapshot()["requests"] == 1, "a password login is not retried after 401"
    assert sleeps == []
    assert box.list_messages(inbox.id).items == ()  # the session recovers once the server does


def test_403_is_an_auth_error_without_retry(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    sleeps: list[float] = []
    box = make(opened, direct(sandbox), sleeps=sleeps)
    inbox = box.folder(FolderKind.INBOX)
    sandbox.faults.update({"fail_next": [{"status": 403}]})
    sandbox.stats.reset()
    with pytest.raises(AuthError):
        box.list_messages(inbox.id)
    assert sandbox.stats.snapshot()["requests"] == 1 and sleeps == []


def test_secret_source_failure_is_an_auth_error(sandbox: MailSandbox) -> None:
    def locked_keyring() -> str:
        raise RuntimeError("keyring locked")

    box = EwsMailbox.from_settings(direct(sandbox), locked_keyring)
    with pytest.raises(AuthError):
        box.check()


# -- busy and throttling ------------------------------------------------------------------


def test_server_busy_backs_off_as_the_server_asks(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    sleeps: list[float] = []
    box = make(opened, direct(sandbox), sleeps=sleeps)
    inbox = box.folder(FolderKind.INBOX)
    sandbox.deliver(ALEX, sample_mime("after the storm"))

    sandbox.faults.update({"busy": 2})
    sandbox.stats.reset()
    page = box.list_messages(inbox.id)

    assert [s.subject for s in page.items] == ["after the storm"]
    assert sleeps == [1.0, 1.0]  # the sandbox answers BackOffMilliseconds=1000
    # FindItem retried after each busy answer; summaries need one GetItem (complex fields).
    assert ops(sandbox) == {"FindItem": 3, "GetItem": 1}


def test_busy_waits_follow_each_back_off_value(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    sleeps: list[float] = []
    box = make(opened, direct(sandbox), sleeps=sleeps)
    inbox = box.folder(FolderKind.INBOX)
    sandbox.faults.update(
        {"fail_next": [{"busy_ms": 250}, {"busy_ms": 1700}, {"status": 503, "retry_after": 3}]}
    )
    box.list_messages(inbox.id)
    assert sleeps == [0.25, 1.7, 3.0]


def test_a_back_off_beyond_the_cap_is_reported_not_slept(
    sandbox: MailSandbox, opened: list[EwsMailbox]
) -> None:
    sleeps: list[float] = []
    box = make(opened, direct(sandbox, busy_max_wait="5"), sleeps=sleeps)
    inbox = box.folder(FolderKind.INBOX)
    sandbox.faults.update({"fail_next": [{"busy_ms": 600_000}]})
    with pytest.raises(ThrottledError) as caught:
        box.list_messages(inbox.id)
    assert caught.value.retry_after == 600.0
    assert sleeps == []


def test_endless_busy_gives_up_after_the_retry_budget(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    sleeps: list[float] = []
    box = make(opened, direct(sandbox, busy_max_retries="3"), sleeps=sleeps)
    inbox = box.folder(FolderKind.INBOX)
    sandbox.faults.update({"busy": 100})
    sandbox.stats.reset()
    with pytest.raises(ThrottledError):
        box.list_messages(inbox.id)
    assert sleeps == [1.0, 1.0, 1.0]
    assert sandbox.stats.snapshot()["requests"] == 4


# -- network failures ---------------------------------------------------------------------


def test_dropped_connection_is_an_error_not_a_hang(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    box = make(opened, direct(sandbox))
    inbox = box.folder(FolderKind.INBOX)
    sandbox.faults.update({"fail_next": [{"drop": True}]})
    with pytest.raises((OfflineError, MailboxError)):
        box.list_messages(inbox.id)
    assert box.list_messages(inbox.id).items == ()


def test_server_gone_is_offline(opened: list[EwsMailbox]) -> None:
    with MailSandbox(seed="empty") as s:
        url = s.ews_url
    box = make(opened, MailboxSettings(backend="ews", email=ALEX, server=url, timeout=3.0))
    with pytest.raises(OfflineError):
        box.check()


def test_connection_lost_while_sending_is_an_unknown_outcome(
    sandbox: MailSandbox, opened: list[EwsMailbox]
) -> None:
    box = make(opened, direct(sandbox))
    sent = box.folder(FolderKind.SENT)
    mid = email.utils.make_msgid(domain="crm.contoso.example")
    stamp = str(uuid.uuid4())
    sandbox.faults.update({"fail_next": [{"drop": "after"}], "match": "CreateItem"})
    with pytest.raises(UnknownOutcomeError):
        box.send(
            OutgoingMessage(
                message_id=mid, subject="Offer", to=(Address("bob@contoso.example"),), stamp=stamp
            )
        )
    sandbox.faults.clear()
    # The Sent Items copy settles the question, as the outbox protocol relies on.
    assert [s.message_id for s in box.find_by_stamp(sent.id, stamp)] == [mid]


def test_header_injection_is_refused_before_any_request(
    sandbox: MailSandbox, opened: list[EwsMailbox]
) -> None:
    box = make(opened, direct(sandbox))
    box.check()
    sandbox.stats.reset()
    with pytest.raises(HeaderInjectionError):
        box.send(
            OutgoingMessage(
                message_id="<x@crm.example>",
                subject="Hi\r\nBcc: everyone@example.com",
                to=(Address("bob@contoso.example"),),
            )
        )
    assert sandbox.stats.snapshot()["requests"] == 0


# -- sync from "now" ----------------------------------------------------------------------


def test_sync_from_none_walks_ids_in_pages_and_returns_nothing(
    sandbox: MailSandbox, opened: list[EwsMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(600):
        sandbox.deliver(ALEX, sample_mime(f"old {i}"))
    box = make(opened, direct(sandbox))
    inbox = box.folder(FolderKind.INBOX)
    sandbox.stats.reset()
    # Every item object exchangelib builds from an answer goes through BaseItem.from_xml.
    built: list[str] = []
    original = BaseItem.from_xml.__func__  # type: ignore[attr-defined]

    def counting(cls: type, elem: object, account: object) -> object:
        built.append(cls.__name__)
        return original(cls, elem=elem, account=account)

    monkeypatch.setattr(BaseItem, "from_xml", classmethod(counting))

    page = box.sync(inbox.id, None)

    assert page.changes == () and not page.more
    assert ops(sandbox) == {"SyncFolderItems": 2}  # 512 ids per page, bodies never requested
    assert built == []  # the 600 id-only entries are skipped, never built into Message objects
    new_id = sandbox.deliver(ALEX, sample_mime("new"))
    nxt = box.sync(inbox.id, page.sync_state)
    assert [c.id for c in nxt.changes] == [new_id]


def test_many_threads_share_one_backend(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    import threading

    box = make(opened, direct(sandbox))
    errors: list[BaseException] = []
    results: list[str] = []

    def worker(call: Callable[[], str]) -> None:
        try:
            results.append(call())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(lambda: box.folder(FolderKind.INBOX).id,)) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 6


def test_after_an_auth_error_the_secret_is_read_again(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    keyring = {"password": "typo"}
    box = EwsMailbox.from_settings(direct(sandbox), lambda: keyring["password"])
    opened.append(box)
    with pytest.raises(AuthError):
        box.check()
    keyring["password"] = PASSWORD  # the user fixed it in the settings dialog
    assert box.check().address == ALEX


def test_an_invalid_sync_state_says_to_start_again(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    box = make(opened, direct(sandbox))
    inbox = box.folder(FolderKind.INBOX)
    with pytest.raises(MailboxError) as caught:
        box.sync(inbox.id, "bm90IGEgc3luYyBzdGF0ZQ==")
    assert "sync again from the start" in str(caught.value)


def test_fetch_of_many_is_one_getitem_and_one_getattachment(
    sandbox: MailSandbox, opened: list[EwsMailbox]
) -> None:
    ids = []
    for i in range(20):
        msg = EmailMessage()
        msg["From"] = "erin@fabrikam.example"
        msg["To"] = ALEX
        msg["Subject"] = f"bulk {i}"
        msg.set_content("see attached")
        msg.add_attachment(
            bytes([i]) * 100, maintype="application", subtype="octet-stream", filename=f"f{i}.bin"
        )
        ids.append(sandbox.deliver(ALEX, msg.as_bytes()))
    box = make(opened, direct(sandbox))
    box.folder(FolderKind.INBOX)
    sandbox.stats.reset()

    results = box.fetch([*ids, "AAMkAGJvZ3Vz"])

    assert ops(sandbox) == {"GetItem": 1, "GetAttachment": 1}
    assert [r.attachments[0].content for r in results[:-1]] == [bytes([i]) * 100 for i in range(20)]  # type: ignore[union-attr]
    assert results[-1].id == "AAMkAGJvZ3Vz" and not hasattr(results[-1], "attachments")


def test_a_debug_log_holds_no_secret(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    import base64
    import io
    import logging

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        box = make(opened, direct(sandbox))
        box.check()
        sandbox.faults.update({"fail_next": [{"status": 401}]})
        with pytest.raises(AuthError):
            box.list_messages(box.folder(FolderKind.INBOX).id)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    text = buffer.getvalue()
    basic = base64.b64encode(f"{ALEX}:{PASSWORD}".encode()).decode()
    assert text, "the run should have logged something"
    assert PASSWORD not in text and basic not in text


def test_hints_for_another_server_are_ignored(sandbox: MailSandbox, opened: list[EwsMailbox]) -> None:
    with MailSandbox(seed="empty") as old_server:
        old_server.add_mailbox(ALEX, PASSWORD)
        first = make(opened, direct(old_server))
        first.check()
        stale = first.hints()
    box = make(opened, direct(sandbox, **stale))  # settings now name the new server
    assert box.check().server == sandbox.ews_url
