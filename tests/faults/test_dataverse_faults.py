"""DataverseClient under injected trouble: throttling storms, 5xx, dropped connections, bad sign-in.

Real HTTP against the sandbox CRM.  Sleeping is shortened (the client is handed a sleep that
records the requested delay and waits a quarter of it) so the sandbox's real-time throttle
window still expires between attempts while the test stays fast.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from addin.crm import DataverseClient, StaticTokenAuth
from addin.crm import records as R
from addin.errors import AuthError, ConflictError, CrmError, OfflineError, ThrottledError, UnknownOutcomeError
from addin.sandbox.crm import CrmSandbox

pytestmark = pytest.mark.integration


class ShortSleep:
    def __init__(self, factor: float = 0.25) -> None:
        self.requested: list[float] = []
        self.factor = factor
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.requested.append(seconds)
        time.sleep(seconds * self.factor)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CrmSandbox]:
    with CrmSandbox(seed="empty") as s:
        yield s


@pytest.fixture
def sleeper(sandbox: CrmSandbox) -> ShortSleep:
    sandbox.faults.clear()
    sandbox.stats.reset()
    return ShortSleep()


def _client(
    sandbox: CrmSandbox, sleeper: ShortSleep, token: str = "sandbox", **kw: object
) -> DataverseClient:
    return DataverseClient(sandbox.base_url, StaticTokenAuth(token), sleep=sleeper, **kw)  # type: ignore[arg-type]


def _subjects(client: DataverseClient, prefix: str, n: int = 30) -> list[str]:
    """Every stored e-mail whose subject is ``<prefix>-<i>``, duplicates included."""
    candidates = [f"{prefix}-{i:02d}" for i in range(n)] + [f"{prefix}-{i}" for i in range(10)]
    candidates += [f"{prefix}-{c}" for c in "abx"]
    rows = client.query("emails", select=["subject"], filter=R.in_filter("subject", candidates))
    return sorted(r["subject"] for r in rows)


def test_429_storm_honours_retry_after_and_loses_nothing(sandbox: CrmSandbox, sleeper: ShortSleep) -> None:
    tag = f"storm-{uuid.uuid4().hex[:6]}"
    sandbox.faults.update({"throttle": "4/0.2"})
    client = _client(sandbox, sleeper, max_retries=20, max_wait=120)
    ids = [client.create("emails", {"subject": f"{tag}-{i:02d}"}) for i in range(16)]
    # A batch caught in the storm is retried whole: it was never run.
    batch = client.batch()
    cs = batch.changeset()
    for i in range(16, 20):
        cs.create("emails", {"subject": f"{tag}-{i:02d}"})
    results = batch.execute()
    sandbox.faults.clear()
    assert all(r.ok for r in results)
    assert len(set(ids)) == 16
    assert sleeper.requested, "the storm never throttled: the test proves nothing"
    # The sandbox answers Retry-After: 1 (whole seconds); the client waited exactly that.
    assert set(sleeper.requested) == {1.0}
    ops = sandbox.stats.snapshot()["by_operation"]
    assert ops["POST emails"] + ops["POST $batch"] == 17 + len(sleeper.requested)
    # Every create landed exactly once.
    assert _subjects(client, tag) == [f"{tag}-{i:02d}" for i in range(20)]


def test_throttling_beyond_the_wait_cap_is_reported_not_slept(
    sandbox: CrmSandbox, sleeper: ShortSleep
) -> None:
    sandbox.faults.update({"fail_next": [{"status": 429, "retry_after": 600, "code": "0x80072322"}]})
    with pytest.raises(ThrottledError) as info:
        _client(sandbox, sleeper, max_wait=30).create("emails", {"subject": "never"})
    assert info.value.retry_after == 600
    assert sleeper.requested == []


def test_5xx_is_retried(sandbox: CrmSandbox, sleeper: ShortSleep) -> None:
    tag = f"5xx-{uuid.uuid4().hex[:6]}"
    client = _client(sandbox, sleeper)
    sandbox.faults.update({"fail_next": [{"status": 503}, {"status": 503}], "match": "POST emails"})
    client.create("emails", {"subject": f"{tag}-a"})
    assert sleeper.requested == [1.0, 1.0]  # the sandbox's Retry-After on 503
    sandbox.faults.update({"fail_next": [{"status": 500}, {"status": 502}], "match": "GET emails"})
    assert _subjects(client, tag) == [f"{tag}-a"]
    # A plain 500 on a create is the CRM's own error: reported, not repeated.
    sandbox.faults.update({"fail_next": [{"status": 500}], "match": "POST emails"})
    with pytest.raises(CrmError) as info:
        client.create("emails", {"subject": f"{tag}-b"})
    assert info.value.status == 500
    assert _subjects(client, tag) == [f"{tag}-a"]


def test_connection_dropped_after_a_batch_ran_is_unknown_outcome(
    sandbox: CrmSandbox, sleeper: ShortSleep
) -> None:
    tag = f"drop-{uuid.uuid4().hex[:6]}"
    client = _client(sandbox, sleeper)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}/{i}")) for i in range(3)]

    def make_batch():  # type: ignore[no-untyped-def]
        batch = client.batch()
        for i, rid in enumerate(ids):
            batch.changeset().create("emails", {"activityid": rid, "subject": f"{tag}-{i}"})
        return batch

    sandbox.faults.update({"fail_next": [{"drop": "after"}], "match": "POST $batch"})
    with pytest.raises(UnknownOutcomeError):
        make_batch().execute(continue_on_error=True)
    # Not retried automatically: one batch reached the server, and it did run.
    assert sandbox.stats.snapshot()["by_operation"]["POST $batch"] == 1
    assert _subjects(client, tag) == [f"{tag}-{i}" for i in range(3)]
    # The caller reconciles by repeating the creates with the same ids: every part is a duplicate.
    results = make_batch().execute(continue_on_error=True)
    assert [type(r.error) for r in results if r.error is not None] == [ConflictError] * 3
    assert _subjects(client, tag) == [f"{tag}-{i}" for i in range(3)]


def test_dropped_before_processing(sandbox: CrmSandbox, sleeper: ShortSleep) -> None:
    tag = f"before-{uuid.uuid4().hex[:6]}"
    client = _client(sandbox, sleeper)
    sandbox.faults.update({"fail_next": [{"drop": "before"}], "match": "POST emails"})
    with pytest.raises(UnknownOutcomeError):
        client.create("emails", {"subject": f"{tag}-x"})
    assert _subjects(client, tag) == []  # the client cannot know; here it did not land
    sandbox.faults.update({"fail_next": [{"drop": "before"}], "match": "GET emails"})
    assert _subjects(client, tag) == []  # a GET is simply repeated
    assert sandbox.stats.snapshot()["by_operation"]["GET emails"] == 3


def test_wrong_bearer_fails_fast_without_retries(sandbox: CrmSandbox, sleeper: ShortSleep) -> None:
    secret = f"wrong-{uuid.uuid4().hex}"
    with pytest.raises(AuthError) as info:
        _client(sandbox, sleeper, token=secret).create("emails", {"subject": "x"})
    assert info.value.service == "crm"
    assert sandbox.stats.snapshot()["requests"] == 1
    assert sleeper.requested == []
    assert secret not in str(info.value) and secret not in repr(info.value.to_dict())


def test_no_secret_in_errors_or_logs(
    sandbox: CrmSandbox, sleeper: ShortSleep, caplog: pytest.LogCaptureFixture
) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    messages: list[str] = []
    with caplog.at_level(logging.DEBUG):
        wrong = _client(sandbox, sleeper, token=secret)
        right = _client(sandbox, sleeper)
        attempts = [
            lambda: wrong.whoami(),
            lambda: wrong.batch().execute() or wrong.query_page("emails"),
            lambda: right.retrieve("emails", str(uuid.uuid4())),
            lambda: right.create("emails", {"nosuchcolumn": 1}),
        ]
        sandbox.faults.update({"fail_next": [{"drop": "after"}], "match": "POST emails"})
        attempts.append(lambda: right.create("emails", {"subject": "dropped"}))
        for attempt in attempts:
            try:
                attempt()
            except Exception as exc:  # every one of them must fail
                messages.append(f"{type(exc).__name__}: {exc}")
                cause = exc.__cause__
                while cause is not None:
                    messages.append(str(cause))
                    cause = cause.__cause__
        offline = DataverseClient("http://127.0.0.1:9", StaticTokenAuth(secret), sleep=lambda s: None)
        with pytest.raises(OfflineError) as off:
            offline.whoami()
        messages.append(str(off.value))
    assert len(messages) >= 6
    everything = "\n".join(messages) + "\n" + caplog.text
    assert secret not in everything
    assert "Bearer sandbox" not in everything
    assert any("UnknownOutcomeError" in m for m in messages)
    assert any(r.name.startswith("addin.crm") for r in caplog.records)
