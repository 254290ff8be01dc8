"""Sandbox Exchange, Microsoft Graph side: routing, bearer auth, faults, counters, folders.
Plain ``requests`` over real HTTP on loopback against the same store EWS serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sandbox_graph_helpers import (
    ALEX_TOKEN,
    Graph,
    ews_account,
    running_sandbox,
    session_for,
)

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX, PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def graph(mail: MailSandbox) -> Iterator[Graph]:
    with session_for(ALEX_TOKEN) as session:
        yield Graph(mail, session)


def test_missing_or_unknown_token_gets_graphs_401_shape(mail: MailSandbox) -> None:
    bare = requests.get(f"{mail.graph_url}/me/mailFolders", timeout=30)
    assert bare.status_code == 401
    assert bare.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "innerError" in bare.json()["error"]
    wrong = session_for("not-a-token").get(f"{mail.graph_url}/me/mailFolders", timeout=30)
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "InvalidAuthenticationToken"
    basic = requests.get(f"{mail.graph_url}/me", auth=(ALEX.email, PASSWORD), timeout=30)
    assert basic.status_code == 401  # Graph takes bearer tokens only
    mail.revoke_token(ALEX_TOKEN)
    revoked = session_for(ALEX_TOKEN).get(f"{mail.graph_url}/me", timeout=30)
    assert revoked.status_code == 401


def test_one_token_serves_graph_and_ews_and_the_control_endpoint_registers_it(mail: MailSandbox) -> None:
    # Registered over HTTP, as a sandbox started by `crm-bridge sandbox mail` needs it.
    r = requests.post(
        f"{mail.origin}/_sandbox/tokens", json={"token": "t2", "address": ALEX.email}, timeout=30
    )
    assert r.status_code == 200
    me = session_for("t2").get(f"{mail.graph_url}/me", timeout=30)
    assert me.status_code == 200
    assert me.json()["mail"] == ALEX.email
    # The same bearer token on EWS (exchangelib's OAuth path is covered by test_ews_oauth).
    soap = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>'
        "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>"
        '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>'
        "</s:Body></s:Envelope>"
    )
    ews = session_for("t2").post(mail.ews_url, data=soap, headers={"Content-Type": "text/xml"}, timeout=30)
    assert ews.status_code == 200 and "NoError" in ews.text
    requests.post(f"{mail.origin}/_sandbox/tokens", json={"token": "t2", "revoke": True}, timeout=30)
    assert session_for("t2").get(f"{mail.graph_url}/me", timeout=30).status_code == 401
    unknown = requests.post(
        f"{mail.origin}/_sandbox/tokens", json={"token": "t3", "address": "nobody@x.example"}, timeout=30
    )
    assert unknown.status_code == 400


def test_other_users_mailbox_is_refused_and_own_by_address_works(graph: Graph) -> None:
    own = graph.get(f"/users/{ALEX.email}/mailFolders/inbox")
    assert own.status_code == 200
    other = graph.get("/users/someone.else@contoso.example/mailFolders/inbox")
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "ErrorAccessDenied"


def test_unknown_resource_and_wrong_method_answer_graph_errors(graph: Graph) -> None:
    r = graph.get("/me/noSuchThing")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "BadRequest"
    r = graph.session.put(graph.base + "/me/mailFolders/inbox", json={}, timeout=30)
    assert r.status_code == 405


def test_well_known_folders_and_counts_match_the_store(graph: Graph, mail: MailSandbox) -> None:
    for name in ("inbox", "sentitems", "drafts", "outbox", "deleteditems", "Inbox", "SentItems"):
        r = graph.get(f"/me/mailFolders/{name}")
        assert r.status_code == 200, name
    inbox = graph.get("/me/mailFolders/inbox").json()
    items = mail.items(ALEX.email, "inbox")
    assert inbox["totalItemCount"] == len(items)
    assert inbox["unreadItemCount"] == sum(1 for i in items if not i["is_read"])
    assert inbox["displayName"] == "Inbox"
    # The same folder by id, in both path spellings.
    assert graph.get(f"/me/mailFolders/{inbox['id']}").json()["id"] == inbox["id"]
    assert graph.get(f"/me/mailFolders('{inbox['id']}')").json()["displayName"] == "Inbox"
    missing = graph.get("/me/mailFolders/AQMkADnothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ErrorItemNotFound"


def test_top_level_list_pages_with_next_link(graph: Graph) -> None:
    first = graph.get("/me/mailFolders", params={"$top": "2"}).json()
    assert len(first["value"]) == 2
    names = [f["displayName"] for f in first["value"]]
    link = first["@odata.nextLink"]
    while link:
        page = graph.session.get(link, timeout=30).json()
        names += [f["displayName"] for f in page["value"]]
        link = page.get("@odata.nextLink")
    assert {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Outbox"} <= set(names)
    assert len(names) == len(set(names))
    root_id = graph.get("/me/mailFolders/msgfolderroot").json()["id"]
    assert all(f["parentFolderId"] == root_id for f in first["value"])


def test_child_folder_created_by_graph_is_seen_by_ews(graph: Graph, mail: MailSandbox) -> None:
    inbox = graph.get("/me/mailFolders/inbox").json()
    r = graph.post("/me/mailFolders/inbox/childFolders", {"displayName": "Customers"})
    assert r.status_code == 201
    child = r.json()
    assert child["parentFolderId"] == inbox["id"]
    assert child["totalItemCount"] == 0
    assert graph.get("/me/mailFolders/inbox").json()["childFolderCount"] == inbox["childFolderCount"] + 1
    listed = graph.get("/me/mailFolders/inbox/childFolders").json()["value"]
    assert [f["id"] for f in listed if f["displayName"] == "Customers"] == [child["id"]]
    dup = graph.post(f"/me/mailFolders/{inbox['id']}/childFolders", {"displayName": "customers"})
    assert dup.status_code == 409
    account = ews_account(mail)
    ews_child = [f for f in account.inbox.children if f.name == "Customers"]
    assert [f.id for f in ews_child] == [child["id"]]


def test_graph_requests_are_counted_apart_from_ews(graph: Graph, mail: MailSandbox) -> None:
    mail.stats.reset()
    graph.get("/me/mailFolders/inbox")
    graph.get("/me/mailFolders")
    ews_account(mail).inbox.refresh()
    ops = mail.stats.snapshot()["by_operation"]
    assert ops["graph:GetFolder"] == 1
    assert ops["graph:ListFolders"] == 1
    assert "GetFolder" in ops  # the EWS operation, counted under its own name


def test_injected_429_503_and_dropped_connection(graph: Graph, mail: MailSandbox) -> None:
    mail.faults.update(
        {"match": "graph:", "fail_next": [{"status": 429, "retry_after": 7}, {"status": 503}, {"drop": True}]}
    )
    r = graph.get("/me/mailFolders/inbox")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.json()["error"]["code"] == "TooManyRequests"
    r = graph.get("/me/mailFolders/inbox")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "ServiceUnavailable"
    with pytest.raises(requests.ConnectionError):
        graph.get("/me/mailFolders/inbox")
    assert graph.get("/me/mailFolders/inbox").status_code == 200


def test_rate_throttle_answers_429_with_retry_after(graph: Graph, mail: MailSandbox) -> None:
    mail.faults.update({"throttle": "1/60"})
    assert graph.get("/me").status_code == 200
    r = graph.get("/me")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "ApplicationThrottled"


def test_mailbox_concurrency_limit_answers_429_and_frees_the_slot(graph: Graph, mail: MailSandbox) -> None:
    limiter = mail.app.graph.limiter
    # Four requests of this mailbox "in flight" (held directly: no timing involved).
    for _ in range(4):
        assert limiter.acquire(ALEX.email, 4)
    try:
        r = graph.get("/me/mailFolders/inbox")
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "ApplicationThrottled"
        assert "MailboxConcurrency" in r.json()["error"]["message"]
        assert r.headers["RateLimit-Exceeded"] == "MailboxConcurrency"
        assert "Retry-After" in r.headers
        # Another mailbox is not affected.
        mail.add_token("other", next(m for m in mail.mailboxes() if m != ALEX.email))
        assert session_for("other").get(f"{mail.graph_url}/me", timeout=30).status_code == 200
    finally:
        for _ in range(4):
            limiter.release(ALEX.email)
    # Sequential requests never hold more than one slot.
    for _ in range(10):
        assert graph.get("/me/mailFolders/inbox").status_code == 200


def test_cli_prints_the_graph_url_second_and_serves_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "addin", "sandbox", "mail", "--port", "0", "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ews_url = proc.stdout.readline().strip()
        graph_url = proc.stdout.readline().strip()
        assert ews_url.endswith("/EWS/Exchange.asmx")
        origin = ews_url[: -len("/EWS/Exchange.asmx")]
        assert graph_url == origin + "/v1.0"
        r = requests.post(
            f"{origin}/_sandbox/tokens", json={"token": "cli", "address": ALEX.email}, timeout=30
        )
        assert r.status_code == 200
        inbox = session_for("cli").get(f"{graph_url}/me/mailFolders/inbox", timeout=30)
        assert inbox.status_code == 200 and inbox.json()["totalItemCount"] > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_parallel_requests_never_run_more_than_four_per_mailbox(graph: Graph, mail: MailSandbox) -> None:
    # Eight requests at once, each holding its slot while the injected latency passes: whatever
    # the scheduling, every answer is a success or the concurrency 429, and the server never ran
    # more than four of this mailbox's requests together.
    mail.faults.update({"latency_ms": 300})
    barrier = threading.Barrier(8)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with session_for(ALEX_TOKEN) as s:
            barrier.wait()
            r = s.get(f"{mail.graph_url}/me/mailFolders/inbox", timeout=60)
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8
    for r in answers:
        assert r.status_code in (200, 429)
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "ApplicationThrottled"
            assert r.headers["RateLimit-Exceeded"] == "MailboxConcurrency"
    assert any(r.status_code == 200 for r in answers)
    assert 1 <= mail.app.graph.limiter.peak[ALEX.email] <= 4
