"""Service protection, injected faults and request counters of the sandbox CRM."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from test_sandbox_crm_support import Api, api, crm, error_of

from addin.sandbox.crm import DEMO_CONTACTS, CrmSandbox

__all__ = ["api", "crm"]  # fixtures


def test_throttle_answers_429_with_retry_after(tmp_path: Path) -> None:
    """Service protection limits: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
    (429, ``Retry-After`` in seconds, error code 0x80072322 for the number of requests)."""
    with CrmSandbox(tmp_path, throttle="3/60") as sandbox:
        a = Api(sandbox)
        assert [a.get("WhoAmI").status_code for _ in range(3)] == [200, 200, 200]
        r = a.get("WhoAmI")
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert error_of(r) == {
            "code": "0x80072322",
            "message": "Number of requests exceeded the limit of 3 over time window of 60 seconds.",
        }


def test_throttle_window_passes(tmp_path: Path) -> None:
    with CrmSandbox(tmp_path, throttle="1/0.2") as sandbox:
        a = Api(sandbox)
        assert a.get("WhoAmI").status_code == 200
        r = a.get("WhoAmI")
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        time.sleep(0.25)
        assert a.get("WhoAmI").status_code == 200


def test_injected_status_is_answered_once_in_error_shape(api: Api) -> None:
    api.crm.faults.update({"fail_next": [{"status": 503}]})
    r = api.get("WhoAmI")
    assert r.status_code == 503 and "Retry-After" in r.headers
    error_of(r)
    assert api.get("WhoAmI").status_code == 200


def test_faults_through_the_control_endpoint_match_an_operation(api: Api) -> None:
    control = requests.post(
        api.crm.origin + "/_sandbox/faults",
        json={"fail_next": [{"status": 500}], "match": "PATCH emails"},
        timeout=10,
    )
    assert control.status_code == 200
    eid = api.create("emails", {"subject": "x"})  # POST emails: not matched
    assert api.patch(f"emails({eid})", {"subject": "y"}).status_code == 500
    assert api.patch(f"emails({eid})", {"subject": "y"}).status_code == 204


def test_drop_before_closes_the_connection_without_processing(api: Api) -> None:
    rid = str(uuid.uuid4())
    api.crm.faults.update({"fail_next": [{"drop": "before"}]})
    with pytest.raises(requests.ConnectionError):
        api.post("contacts", {"contactid": rid, "lastname": "Lost"})
    assert api.crm.db.get("contacts", rid) is None
    assert api.create("contacts", {"contactid": rid, "lastname": "Again"}) == rid


def test_drop_after_commits_then_closes_unknown_outcome(api: Api) -> None:
    """The unknown outcome: the create is committed but the client sees a reset. A retry with the same
    key and ``If-None-Match: *`` then answers 412, so the caller learns it was done."""
    rid = str(uuid.uuid4())
    api.crm.faults.update({"fail_next": [{"drop": "after"}]})
    with pytest.raises(requests.ConnectionError):
        api.patch(f"emails({rid})", {"subject": "Tracked once", "messageid": "<u1@x>"}, If_None_Match="*")
    assert api.crm.db.get("emails", rid)["subject"] == "Tracked once"
    r = api.patch(f"emails({rid})", {"subject": "Tracked once", "messageid": "<u1@x>"}, If_None_Match="*")
    assert r.status_code == 412
    assert len(api.crm.db.query("emails", lambda e: e.get("messageid") == "<u1@x>")) == 1


def test_latency_is_added_to_api_requests(tmp_path: Path) -> None:
    with CrmSandbox(tmp_path, latency_ms=80) as sandbox:
        started = time.monotonic()
        Api(sandbox).get("WhoAmI")
        assert time.monotonic() - started >= 0.08


def test_stats_count_requests_by_operation(api: Api) -> None:
    eid = api.create("emails", {"subject": "count me"})
    api.patch(f"emails({eid})", {"subject": "again"})
    api.get("emails?$select=subject")
    api.get(f"emails({eid})")
    api.get("WhoAmI")
    api.post(f"emails({eid})/Microsoft.Dynamics.CRM.SendEmail", {"IssueSend": False})
    stats = requests.get(api.crm.origin + "/_sandbox/stats", timeout=10).json()
    assert stats["by_operation"] == {
        "POST emails": 1,
        "PATCH emails": 1,
        "GET emails": 2,
        "GET WhoAmI": 1,
        "POST SendEmail": 1,
    }
    assert stats["requests"] == 6
    requests.post(api.crm.origin + "/_sandbox/stats/reset", timeout=10)
    assert api.crm.stats.snapshot()["requests"] == 0


def test_concurrent_claims_with_the_same_etag_let_exactly_one_win(api: Api) -> None:
    """The outbox claim: two machines PATCH Pending Send → Sending with the same If-Match."""
    eid = api.crm.queue_email(DEMO_CONTACTS[0].email, "Claim me", "x")
    etag = api.get(f"emails({eid})?$select=statuscode").json()["@odata.etag"]
    results: list[int] = []
    barrier = threading.Barrier(8)

    def claim(n: int) -> None:
        other = Api(api.crm)
        barrier.wait()
        r = other.patch(
            f"emails({eid})", {"statuscode": 7, "messageid": f"<claim-{n}@contoso.example>"}, If_Match=etag
        )
        results.append(r.status_code)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [204] + [412] * 7
    assert api.crm.db.get("emails", eid)["statuscode"] == 7


def test_drop_after_a_batch_keeps_the_committed_change_set(api: Api) -> None:
    rid = str(uuid.uuid4())
    boundary = "batch_drop"
    body = (
        f"--{boundary}\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n"
        "--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
        f"PATCH /api/data/v9.2/emails({rid}) HTTP/1.1\r\n"
        "Content-Type: application/json\r\nIf-None-Match: *\r\n\r\n"
        '{"subject": "in a dropped batch"}\r\n--cs--\r\n'
        f"--{boundary}--\r\n"
    )
    headers = {"Authorization": "Bearer sandbox", "Content-Type": f"multipart/mixed; boundary={boundary}"}
    api.crm.faults.update({"fail_next": [{"drop": "after"}], "match": "POST $batch"})
    with pytest.raises(requests.ConnectionError):
        requests.post(api.base + "$batch", data=body.encode(), headers=headers, timeout=10)
    assert api.crm.db.get("emails", rid)["subject"] == "in a dropped batch"
    again = requests.post(api.base + "$batch", data=body.encode(), headers=headers, timeout=10)
    assert again.status_code == 412  # the retry learns the e-mail exists
