"""Sandbox Exchange, Graph side: JSON ``$batch`` -- limits, per-part status, faults and
throttling per part, ``dependsOn``, counters. Plain ``requests`` over loopback."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sandbox_graph_helpers import (
    ALEX_TOKEN,
    STAMP_ID,
    Graph,
    running_sandbox,
    session_for,
)

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX

pytestmark = pytest.mark.integration


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def graph(mail: MailSandbox) -> Iterator[Graph]:
    with session_for(ALEX_TOKEN) as session:
        yield Graph(mail, session)


def deliver(mail: MailSandbox, subject: str) -> str:
    msg = EmailMessage()
    msg["From"] = "dana@fabrikam.example"
    msg["To"] = ALEX.email
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@fabrikam.example>"
    msg.set_content("body of " + subject)
    return mail.deliver(ALEX.email, msg.as_bytes())


def by_id(answer: dict[str, object]) -> dict[str, dict[str, object]]:
    return {r["id"]: r for r in answer["responses"]}  # type: ignore[index,union-attr,misc]


def test_parts_answer_each_with_own_status_and_body(graph: Graph, mail: MailSandbox) -> None:
    item = deliver(mail, "Batched one")
    r = graph.post(
        "/$batch",
        {
            "requests": [
                {"id": "1", "method": "GET", "url": "/me/mailFolders/inbox"},
                {"id": "2", "method": "GET", "url": f"/me/messages/{item}?$select=subject,internetMessageId"},
                {"id": "3", "method": "GET", "url": "/me/messages/AAMkADnothing"},
                {
                    "id": "4",
                    "method": "PATCH",
                    "url": f"/me/messages/{item}",
                    "headers": {"Content-Type": "application/json"},
                    "body": {
                        "categories": ["Tracked to Dynamics 365"],
                        "singleValueExtendedProperties": [{"id": STAMP_ID, "value": "act-9"}],
                    },
                },
                {"id": "5", "method": "GET", "url": f"/me/messages/{item}/$value"},
            ]
        },
    )
    assert r.status_code == 200
    parts = by_id(r.json())
    assert parts["1"]["status"] == 200 and parts["1"]["body"]["displayName"] == "Inbox"  # type: ignore[index]
    assert parts["2"]["body"]["subject"] == "Batched one"  # type: ignore[index]
    assert parts["3"]["status"] == 404
    assert parts["3"]["body"]["error"]["code"] == "ErrorItemNotFound"  # type: ignore[index]
    assert parts["4"]["status"] == 200
    assert mail.items(ALEX.email)[0]["categories"] == ["Tracked to Dynamics 365"]
    assert b"Subject: Batched one" in base64.b64decode(parts["5"]["body"])  # type: ignore[arg-type]


def test_more_than_20_parts_or_duplicate_ids_fail_the_whole_batch(graph: Graph) -> None:
    many = [{"id": str(n), "method": "GET", "url": "/me"} for n in range(21)]
    r = graph.post("/$batch", {"requests": many})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "BadRequest"
    assert graph.post("/$batch", {"requests": many[:20]}).status_code == 200
    dup = graph.post(
        "/$batch",
        {
            "requests": [
                {"id": "a", "method": "GET", "url": "/me"},
                {"id": "A", "method": "GET", "url": "/me"},
            ]
        },
    )
    assert dup.status_code == 400


def test_depends_on_orders_parts_and_failed_dependency_is_424(graph: Graph) -> None:
    r = graph.post(
        "/$batch",
        {
            "requests": [
                {
                    "id": "read",
                    "method": "GET",
                    "url": "/me/mailFolders/inbox/childFolders",
                    "dependsOn": ["make"],
                },
                {
                    "id": "make",
                    "method": "POST",
                    "url": "/me/mailFolders/inbox/childFolders",
                    "headers": {"content-type": "application/json"},
                    "body": {"displayName": "From batch"},
                },
                {"id": "bad", "method": "GET", "url": "/me/mailFolders/nothing"},
                # msgraph-core's spelling.
                {"id": "after-bad", "method": "GET", "url": "/me", "depends_on": ["bad"]},
            ]
        },
    )
    parts = by_id(r.json())
    assert parts["make"]["status"] == 201
    names = [f["displayName"] for f in parts["read"]["body"]["value"]]  # type: ignore[index]
    assert "From batch" in names
    assert parts["after-bad"]["status"] == 424


def test_a_throttled_part_gets_its_own_429_and_parts_are_counted(graph: Graph, mail: MailSandbox) -> None:
    mail.faults.update({"match": "graph:GetFolder", "fail_next": [{"status": 429, "retry_after": 5}]})
    mail.stats.reset()
    r = graph.post(
        "/$batch",
        {
            "requests": [
                {"id": "1", "method": "GET", "url": "/me/mailFolders/inbox"},
                {"id": "2", "method": "GET", "url": "/me/mailFolders/drafts"},
                {"id": "3", "method": "GET", "url": "/me/messages?$top=1"},
            ]
        },
    )
    assert r.status_code == 200
    parts = by_id(r.json())
    assert parts["1"]["status"] == 429
    assert parts["1"]["headers"]["Retry-After"] == "5"  # type: ignore[index]
    assert parts["2"]["status"] == 200 and parts["3"]["status"] == 200
    snap = mail.stats.snapshot()
    assert snap["requests"] == 1  # one HTTP request...
    assert snap["by_operation"]["graph:Batch"] == 1
    assert snap["by_operation"]["graph:GetFolder"] == 2  # ...and each part under its own name
    assert snap["by_operation"]["graph:ListMessages"] == 1


def test_parts_need_the_envelopes_token_and_respect_the_mailbox_limit(
    graph: Graph, mail: MailSandbox
) -> None:
    limiter = mail.app.graph.limiter
    for _ in range(4):
        limiter.acquire(ALEX.email, 4)
    try:
        r = graph.post(
            "/$batch", {"requests": [{"id": "1", "method": "GET", "url": "/me/mailFolders/inbox"}]}
        )
        part = r.json()["responses"][0]
        assert part["status"] == 429
        assert part["body"]["error"]["code"] == "ApplicationThrottled"
    finally:
        for _ in range(4):
            limiter.release(ALEX.email)
    with session_for("nobody") as anon:
        r = anon.post(
            f"{mail.graph_url}/$batch",
            json={"requests": [{"id": "1", "method": "GET", "url": "/me"}]},
            timeout=30,
        )
    assert r.status_code == 401


def test_absolute_next_links_work_as_part_urls(graph: Graph, mail: MailSandbox) -> None:
    for n in range(3):
        deliver(mail, f"Link {n}")
    first = graph.get("/me/mailFolders/inbox/messages", params={"$top": "2", "$select": "subject"}).json()
    link = first["@odata.nextLink"]
    r = graph.post(
        "/$batch",
        {
            "requests": [
                {"id": "1", "method": "GET", "url": link[len(graph.base) :]},
                {"id": "2", "method": "GET", "url": link},
            ]
        },
    )
    parts = by_id(r.json())
    assert parts["1"]["status"] == 200 and parts["2"]["status"] == 200
    assert parts["1"]["body"]["value"] == parts["2"]["body"]["value"]  # type: ignore[index]
    assert len(parts["1"]["body"]["value"]) == 2  # type: ignore[index,arg-type]
