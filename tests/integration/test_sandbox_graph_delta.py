"""Sandbox Exchange, Graph side: per-folder delta -- first round, paging, later rounds with
changes made through Graph and EWS, ``@removed``, ``changeType``, token validation and expiry,
tokens across a restart. Plain ``requests`` over loopback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

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

SELECT = "subject,internetMessageId,categories,isRead"


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    with running_sandbox(seed="empty") as sandbox:
        sandbox.add_mailbox(ALEX.email, PASSWORD, ALEX.name)
        sandbox.add_mailbox("colleague@contoso.example", "pw")
        yield sandbox


@pytest.fixture
def graph(mail: MailSandbox) -> Iterator[Graph]:
    with session_for(ALEX_TOKEN) as session:
        yield Graph(mail, session)


def deliver(mail: MailSandbox, subject: str, folder: str = "inbox") -> str:
    msg = EmailMessage()
    msg["From"] = "dana@fabrikam.example"
    msg["To"] = ALEX.email
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@fabrikam.example>"
    msg.set_content("body of " + subject)
    return mail.deliver(ALEX.email, msg.as_bytes(), folder)


def round_trip(graph: Graph, url: str, page: int = 3) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink: (entries, deltaLink, pages)."""
    entries: list[dict[str, Any]] = []
    pages = 0
    while True:
        r = graph.session.get(url, headers={"Prefer": f"odata.maxpagesize={page}"}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        assert len(body["value"]) <= page
        entries += body["value"]
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return entries, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def first(graph: Graph, folder: str = "inbox", **query: str) -> str:
    params = {"$select": SELECT, **query}
    return (
        graph.base
        + f"/me/mailFolders/{folder}/messages/delta?"
        + "&".join(f"{k}={v}" for k, v in params.items())
    )


def test_first_round_pages_the_current_messages_then_only_changes(graph: Graph, mail: MailSandbox) -> None:
    ids = [deliver(mail, f"Old {n}") for n in range(7)]
    entries, link, pages = round_trip(graph, first(graph))
    assert sorted(e["id"] for e in entries) == sorted(ids)
    assert pages == 3
    assert set(entries[0]) >= {"id", "subject", "internetMessageId", "categories", "isRead"}
    assert "body" not in entries[0]  # $select carried in the tokens
    # Nothing changed: the next round is empty.
    again, link, _ = round_trip(graph, link)
    assert again == []
    # Changes through Graph and EWS, a new message, a move out and a delete.
    new = deliver(mail, "New one")
    graph.patch(f"/me/messages/{ids[0]}", {"categories": ["Track in CRM"]})
    account = ews_account(mail)
    ews_item = account.inbox.get(id=ids[1])
    ews_item.is_read = True
    ews_item.save(update_fields=["is_read"])
    graph.post(f"/me/messages/{ids[2]}/move", {"destinationId": "deleteditems"})
    graph.delete(f"/me/messages/{ids[3]}")
    changes, link, _ = round_trip(graph, link)
    by_id = {e["id"]: e for e in changes}
    assert set(by_id) == {new, ids[0], ids[1], ids[2], ids[3]}
    assert by_id[new]["subject"] == "New one"
    assert by_id[ids[0]]["categories"] == ["Track in CRM"]
    assert by_id[ids[1]]["isRead"] is True
    for gone in (ids[2], ids[3]):
        assert by_id[gone] == {
            "@odata.type": "#microsoft.graph.message",
            "id": gone,
            "@removed": {"reason": "deleted"},
        }
    # The moved message shows up as new in its new folder's first round.
    trash, _, _ = round_trip(graph, first(graph, "deleteditems"))
    assert [e["id"] for e in trash] == [ids[2]]


def test_created_and_gone_within_a_window_is_left_out(graph: Graph, mail: MailSandbox) -> None:
    _, link, _ = round_trip(graph, first(graph))
    brief = deliver(mail, "Brief")
    graph.delete(f"/me/messages/{brief}")
    changes, _, _ = round_trip(graph, link)
    assert changes == []


def test_change_type_created_chain_sees_new_and_moved_in_only(graph: Graph, mail: MailSandbox) -> None:
    old = deliver(mail, "Existing")
    elsewhere = deliver(mail, "Elsewhere", "junkemail")
    entries, link, _ = round_trip(graph, first(graph, changeType="created"))
    assert [e["id"] for e in entries] == [old]  # the first round lists what is there
    graph.patch(f"/me/messages/{old}", {"categories": ["X"]})
    new = deliver(mail, "Arrived")
    graph.post(f"/me/messages/{elsewhere}/move", {"destinationId": "inbox"})
    changes, link, _ = round_trip(graph, link)
    assert {e["id"] for e in changes} == {new, elsewhere}
    graph.delete(f"/me/messages/{new}")
    changes, _, _ = round_trip(graph, link)
    assert changes == []
    updated, _, _ = round_trip(graph, first(graph, changeType="updated"))
    assert updated == []  # an updated-only chain starts empty
    bad = graph.get("/me/mailFolders/inbox/messages/delta", params={"changeType": "sometimes"})
    assert bad.status_code == 400


def test_path_spellings_and_parameters_outside_the_first_call(graph: Graph, mail: MailSandbox) -> None:
    deliver(mail, "Spelled")
    inbox = graph.get("/me/mailFolders/inbox").json()["id"]
    for path in (
        "/me/mailFolders/inbox/messages/delta()",
        f"/me/mailfolders('{inbox}')/messages/microsoft.graph.delta()",
        f"/users/{ALEX.email}/mailFolders/{inbox}/messages/delta",
    ):
        r = graph.get(path, params={"$select": "subject"})
        assert r.status_code == 200, path
        assert [m["subject"] for m in r.json()["value"]] == ["Spelled"]
    assert graph.get("/me/mailFolders/inbox/messages/delta", params={"$search": '"x"'}).status_code == 400
    assert (
        graph.get("/me/mailFolders/inbox/messages/delta", params={"$filter": "subject eq 'x'"}).status_code
        == 400
    )
    r = graph.get(
        "/me/mailFolders/inbox/messages/delta", params={"$filter": "receivedDateTime ge 2099-01-01T00:00:00Z"}
    )
    assert r.json()["value"] == []
    assert graph.get("/me/mailFolders/nothing/messages/delta").status_code == 404


def test_garbage_other_folder_and_expired_tokens_answer_410(graph: Graph, mail: MailSandbox) -> None:
    _, link, _ = round_trip(graph, first(graph))
    base = graph.base + "/me/mailFolders/inbox/messages/delta"
    for token in ("garbage", "GRD1" + base64.urlsafe_b64encode(b"{}").decode()):
        r = graph.session.get(base, params={"$deltatoken": token}, timeout=30)
        assert r.status_code == 410
        assert r.json()["error"]["code"] == "SyncStateInvalid"
        assert r.headers["Location"].endswith("/messages/delta")
    # A real token of Inbox used on Drafts.
    token = link.partition("$deltatoken=")[2]
    r = graph.get("/me/mailFolders/drafts/messages/delta", params={"$deltatoken": token})
    assert r.status_code == 410
    # A token naming a position the log has not reached is not trusted.
    state = json.loads(base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4)))
    state["s"] = state["u"] = 10**9
    forged = "GRD1" + base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
    assert graph.session.get(base, params={"$deltatoken": forged}, timeout=30).status_code == 410
    # Another mailbox cannot use Alex's token.
    mail.add_token("colleague", "colleague@contoso.example")
    with session_for("colleague") as other:
        r = other.get(
            f"{mail.graph_url}/me/mailFolders/inbox/messages/delta", params={"$deltatoken": token}, timeout=30
        )
    assert r.status_code == 410
    # Expiry: every token issued so far answers 410 SyncStateNotFound; a fresh round works.
    requests.post(f"{mail.origin}/_sandbox/faults", json={"expire_delta_tokens": True}, timeout=30)
    r = graph.session.get(link, timeout=30)
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "SyncStateNotFound"
    _, link2, _ = round_trip(graph, first(graph))
    assert graph.session.get(link2, timeout=30).status_code == 200


def test_tokens_survive_a_restart_with_a_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "mail"
    with running_sandbox(seed="empty", data_dir=data) as mail:
        mail.add_mailbox(ALEX.email, "pw")
        deliver(mail, "Before restart")
        with session_for(ALEX_TOKEN) as s:
            graph = Graph(mail, s)
            _, link, _ = round_trip(graph, first(graph))
            origin = mail.graph_url
    with running_sandbox(seed="empty", data_dir=data) as mail:
        after = deliver(mail, "After restart")
        with session_for(ALEX_TOKEN) as s:
            graph = Graph(mail, s)
            changes, _, _ = round_trip(graph, link.replace(origin, mail.graph_url))
    assert [e["id"] for e in changes] == [after]


def test_delta_pages_inside_a_batch(graph: Graph, mail: MailSandbox) -> None:
    deliver(mail, "In batch")
    _, inbox_link, _ = round_trip(graph, first(graph))
    _, sent_link, _ = round_trip(graph, first(graph, "sentitems"))
    new = deliver(mail, "Batched change")
    r = graph.post(
        "/$batch",
        {
            "requests": [
                {
                    "id": "inbox",
                    "method": "GET",
                    "url": inbox_link[len(graph.base) :],
                    "headers": {"Prefer": "odata.maxpagesize=50"},
                },
                {"id": "sent", "method": "GET", "url": sent_link[len(graph.base) :]},
            ]
        },
    )
    parts = {p["id"]: p for p in r.json()["responses"]}
    assert [m["id"] for m in parts["inbox"]["body"]["value"]] == [new]
    assert parts["sent"]["body"]["value"] == []
    assert "@odata.deltaLink" in parts["sent"]["body"]
