"""Retry policy: Retry-After, back-off, the wait cap and idempotency, with a fake clock.

The client talks real HTTP to a scripted loopback server (each request consumes the next
scripted answer), so transport failures such as a reset after the request was read are real.
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from addin.crm import DataverseClient, RetryPolicy, StaticTokenAuth, is_idempotent, parse_retry_after
from addin.errors import (
    AuthError,
    ConflictError,
    CrmError,
    NotFoundError,
    OfflineError,
    ThrottledError,
    UnknownOutcomeError,
)
from addin.sandbox.common import DropConnection, SandboxServer, drop_connection

TOKEN = "s3cr3t-bearer-token-value"
ID = "00000000-0000-0000-0000-0000000000e1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@dataclass
class Script:
    answers: deque[tuple[Any, ...]] = field(default_factory=deque)
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        self.seen.append((request.method, request.full_path, dict(request.headers), body))
        answer = self.answers.popleft() if self.answers else (200, {}, {"value": []})
        if answer[0] == "slow":
            time.sleep(answer[1])
            answer = answer[2]
        if answer[0] == "drop":
            try:
                drop_connection(environ)
            except DropConnection:
                return []
        status, headers, payload = answer
        data = json.dumps(payload) if isinstance(payload, dict) else (payload or "")
        response = Response(data, status=status, headers=headers, mimetype="application/json")
        return response(environ, start_response)


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[Script, str]]:
    s = Script()
    with SandboxServer(s.app) as server:
        yield s, server.origin


@pytest.fixture
def script(_server: tuple[Script, str]) -> tuple[Script, str]:
    s, origin = _server
    s.answers.clear()
    s.seen.clear()
    return s, origin


def _client(origin: str, clock: FakeClock, **kw: Any) -> DataverseClient:
    return DataverseClient(origin, StaticTokenAuth(TOKEN), sleep=clock.sleep, clock=clock, **kw)


def test_429_waits_retry_after_then_succeeds(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.extend(
        [
            (
                429,
                {"Retry-After": "7"},
                {"error": {"code": "0x80072322", "message": "Number of requests exceeded"}},
            ),
            (429, {"Retry-After": "3"}, {"error": {"code": "0x80072326", "message": "concurrent"}}),
            (204, {"OData-EntityId": f"{origin}/api/data/v9.2/emails({ID})"}, None),
        ]
    )
    assert _client(origin, clock).create("emails", {"subject": "x"}) == ID
    assert clock.sleeps == [7.0, 3.0]
    assert [m for m, *_ in s.seen] == ["POST"] * 3


def test_throttle_code_counts_whatever_the_status(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.extend(
        [
            (500, {}, {"error": {"code": "0x80072321", "message": "Combined execution time"}}),
            (200, {}, {"value": []}),
        ]
    )
    assert list(_client(origin, clock).query("emails")) == []
    assert clock.sleeps == [1.0]  # no Retry-After: the first back-off step


def test_retry_after_beyond_the_budget_is_not_slept(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.append((429, {"Retry-After": "300"}, {"error": {"code": "0x80072322", "message": "limit"}}))
    with pytest.raises(ThrottledError) as info:
        _client(origin, clock, max_wait=60).create("emails", {"subject": "x"})
    assert info.value.retry_after == 300
    assert clock.sleeps == []
    assert len(s.seen) == 1


def test_total_wait_is_capped(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.extend([(503, {}, "")] * 10)
    with pytest.raises(ThrottledError):
        _client(origin, clock, max_wait=10, max_retries=10).whoami()
    # Back-off 1, 2, 4 fits in 10 s; the next (8) would not.
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert len(s.seen) == 4


def test_retry_after_as_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None


def test_idempotency_rules() -> None:
    assert is_idempotent("GET")
    assert not is_idempotent("POST", {"If-Match": "*"})
    assert not is_idempotent("PATCH", {"If-None-Match": "null"})
    assert is_idempotent("PATCH", {"if-match": 'W/"1"'})
    assert is_idempotent("PATCH", {"If-None-Match": "*"})
    assert is_idempotent("DELETE", {"If-Match": 'W/"2"'})
    assert not is_idempotent("DELETE")


def test_backoff_grows_and_is_bounded() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4)
    assert [policy.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_lost_answer_to_post_is_unknown_and_not_repeated(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.append(("drop",))
    with pytest.raises(UnknownOutcomeError) as info:
        _client(origin, clock).create("emails", {"subject": "x"})
    assert len(s.seen) == 1 and clock.sleeps == []
    assert TOKEN not in str(info.value)


def test_lost_answer_to_get_is_repeated(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.extend([("drop",), (200, {}, {"UserId": "u", "BusinessUnitId": "b", "OrganizationId": "o"})])
    assert _client(origin, clock).whoami().user_id == "u"
    assert len(s.seen) == 2


def test_conditional_patch_repeat_that_hits_412_reports_unknown(script: tuple[Script, str]) -> None:
    """The first PATCH may have applied (its answer was lost): a 412 on the repeat proves nothing."""
    s, origin = script
    clock = FakeClock()
    s.answers.extend(
        [("drop",), (412, {}, {"error": {"code": "", "message": "The version ... doesn't match"}})]
    )
    with pytest.raises(UnknownOutcomeError):
        _client(origin, clock).update("emails", ID, {"statuscode": 7}, etag='W/"5"')
    assert [h.get("If-Match") for _, _, h, _ in s.seen] == ['W/"5"', 'W/"5"']


def test_a_create_repeated_after_a_lost_answer_that_hits_a_duplicate_is_unknown(
    script: tuple[Script, str],
) -> None:
    """A create with a chosen id is never repeated blindly: its lost answer is an unknown outcome."""
    s, origin = script
    clock = FakeClock()
    s.answers.append(("drop",))
    with pytest.raises(UnknownOutcomeError):
        _client(origin, clock).create("emails", {"activityid": ID, "subject": "x"})
    assert len(s.seen) == 1, "a POST is not idempotent: not sent twice"


def test_gateway_error_on_post_is_unknown_but_retried_on_get(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.append((502, {}, "Bad Gateway"))
    with pytest.raises(UnknownOutcomeError):
        _client(origin, clock).call_action("GetTrackingTokenEmail", {"Subject": "x"})
    s.answers.extend([(504, {}, ""), (200, {}, {"value": [{"a": 1}]})])
    assert list(_client(origin, clock).query("emails")) == [{"a": 1}]


def test_refused_connection_is_offline_after_backoff() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FakeClock()
    client = DataverseClient(
        f"http://127.0.0.1:{port}", StaticTokenAuth(TOKEN), sleep=clock.sleep, clock=clock, max_retries=2
    )
    with pytest.raises(OfflineError) as info:
        client.create("emails", {"subject": "x"})
    assert clock.sleeps == [1.0, 2.0]
    assert TOKEN not in str(info.value)


def test_401_fails_fast_without_retries(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.append((401, {"WWW-Authenticate": "Bearer"}, ""))
    with pytest.raises(AuthError) as info:
        _client(origin, clock).whoami()
    assert info.value.service == "crm"
    assert len(s.seen) == 1 and clock.sleeps == []
    assert TOKEN not in str(info.value)


def test_error_statuses_map_to_types(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    client = _client(origin, clock)
    s.answers.append(
        (404, {}, {"error": {"code": "0x80040217", "message": "email With Id = x Does Not Exist"}})
    )
    with pytest.raises(NotFoundError) as nf:
        client.retrieve("emails", ID)
    assert nf.value.status == 404 and nf.value.code == "0x80040217"
    s.answers.append(
        (412, {}, {"error": {"code": "", "message": "The version of the existing record doesn't match"}})
    )
    with pytest.raises(ConflictError) as cf:
        client.update("emails", ID, {"subject": "y"}, etag='W/"1"')
    assert cf.value.status == 412
    s.answers.append((400, {}, {"error": {"code": "0x80040237", "message": "Cannot insert duplicate key"}}))
    with pytest.raises(ConflictError):
        client.create("emails", {"activityid": ID})
    s.answers.append((400, {}, {"error": {"code": "0x80044331", "message": "A validation error occurred."}}))
    with pytest.raises(CrmError) as bad:
        client.create("emails", {"subject": "x" * 900})
    assert type(bad.value) is CrmError and "validation error" in bad.value.message


def test_every_request_carries_the_documented_headers(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.append((200, {}, {"UserId": "u", "BusinessUnitId": "b", "OrganizationId": "o"}))
    _client(origin, clock).whoami()
    method, path, headers, _ = s.seen[0]
    assert (method, path) == ("GET", "/api/data/v9.2/WhoAmI?")
    assert headers["Accept"] == "application/json"
    assert headers["Odata-Maxversion"] == "4.0" and headers["Odata-Version"] == "4.0"
    assert headers["If-None-Match"] == "null"
    assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_read_timeout_is_unknown_for_post_and_repeated_for_get(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    client = _client(origin, clock, timeout=0.3)
    s.answers.append(("slow", 0.6, (204, {}, None)))
    with pytest.raises(UnknownOutcomeError):
        client.create("emails", {"subject": "slow"})
    s.answers.extend([("slow", 0.6, (200, {}, {"value": []})), (200, {}, {"value": [{"n": 1}]})])
    assert list(client.query("emails")) == [{"n": 1}]


def test_a_repeated_get_that_finds_nothing_is_a_plain_not_found(script: tuple[Script, str]) -> None:
    s, origin = script
    clock = FakeClock()
    s.answers.extend([("drop",), (404, {}, {"error": {"code": "0x80040217", "message": "Does Not Exist"}})])
    with pytest.raises(NotFoundError):
        _client(origin, clock).retrieve("emails", ID)
