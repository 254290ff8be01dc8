"""Pure parts of the Graph backend: JSON <-> port types, batch building, retry decisions.

The HTTP decisions are checked with a scripted ``requests`` session (no server): what is
retried, after how long, and which core error a Graph answer becomes.  The backend against
a real server on loopback is covered by the contract suite.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from addin.errors import AuthError, HeaderInjectionError, MessageError, ThrottledError, UnknownOutcomeError
from addin.mailbox import graph_items
from addin.mailbox.ews_items import STAMP_PROPERTY_NAME, STAMP_PROPERTY_SET
from addin.mailbox.graph_errors import SyncStateGone, convert_status, retry_after
from addin.mailbox.graph_http import BATCH_LIMIT, GraphClient, Part, batch_body
from addin.mailbox.graph_limits import SEND_LIMIT, SendRate, Slots
from addin.mailbox.graph_sync import State, changes_of, next_link
from addin.mailbox.types import Address, Attachment, ChangeKind, OutgoingMessage, Sensitivity


def test_the_stamp_is_the_same_mapi_property_as_on_ews() -> None:
    assert f"String {{{STAMP_PROPERTY_SET}}} Name {STAMP_PROPERTY_NAME}" == graph_items.STAMP_PROPERTY_ID
    flt = graph_items.stamp_filter("it's")
    assert flt.startswith("singleValueExtendedProperties/any(ep: ep/id eq 'String {")
    assert "ep/value eq 'it''s'" in flt  # quotes doubled, never closing the literal


def test_summary_maps_graph_json_with_stamp_and_sensitivity() -> None:
    data = {
        "id": "AAMk1",
        "parentFolderId": "inbox-id",
        "subject": "Hello",
        "internetMessageId": "<a@b>",
        "from": {"emailAddress": {"address": "carol@fabrikam.example", "name": "Carol"}},
        "receivedDateTime": "2026-11-30T10:00:00Z",
        "categories": ["Track in CRM"],
        "hasAttachments": True,
        "isRead": False,
        "singleValueExtendedProperties": [
            {"id": graph_items.STAMP_PROPERTY_ID.upper(), "value": "act-1"},
            {"id": "Integer 0x36", "value": "2"},
        ],
    }
    s = graph_items.summary(data)
    assert s.id == "AAMk1" and s.folder_id == "inbox-id" and s.message_id == "<a@b>"
    assert s.sender == Address("carol@fabrikam.example", "Carol")
    assert s.received is not None and s.received.tzinfo is not None and s.received.hour == 10
    assert s.categories == ("Track in CRM",) and s.has_attachments and not s.is_read
    assert s.stamp == "act-1"
    assert s.sensitivity is Sensitivity.PRIVATE


def test_a_cleared_stamp_reads_as_none_and_missing_sensitivity_is_normal() -> None:
    s = graph_items.summary(
        {"id": "x", "singleValueExtendedProperties": [{"id": graph_items.STAMP_PROPERTY_ID, "value": ""}]}
    )
    assert s.stamp is None and s.sensitivity is Sensitivity.NORMAL and s.sender is None


def test_message_maps_bodies_headers_and_attachments() -> None:
    blob = bytes(range(256))
    data = {
        "id": "m1",
        "subject": "S",
        "body": {"contentType": "html", "content": "<p>Hi <b>there</b></p>"},
        "toRecipients": [{"emailAddress": {"address": "a@x.example", "name": "a@x.example"}}],
        "internetMessageHeaders": [
            {"name": "In-Reply-To", "value": "<p@q>"},
            {"name": "References", "value": "<o@q> <p@q>"},
        ],
    }
    att = graph_items.attachment(
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "b.bin",
            "contentType": "application/octet-stream",
            "contentBytes": base64.b64encode(blob).decode(),
        }
    )
    assert att is not None and att.content == blob
    assert graph_items.attachment({"@odata.type": "#microsoft.graph.itemAttachment", "name": "x"}) is None
    msg = graph_items.message(data, (att,))
    assert msg.html_body == "<p>Hi <b>there</b></p>" and "Hi there" in msg.text_body
    assert msg.to == (Address("a@x.example"),)  # a name repeating the address is no name
    assert msg.in_reply_to == "<p@q>" and msg.references == ("<o@q>", "<p@q>")
    with pytest.raises(MessageError):
        graph_items.attachment({"name": "bad", "contentBytes": "!!not base64!!"})


def test_draft_carries_message_id_stamp_and_recipients_and_refuses_injection() -> None:
    out = OutgoingMessage(
        message_id="<crm.1@crm.example>",
        subject="Quote",
        to=(Address("bob@contoso.example", "Bob"),),
        html_body="<p>x</p>",
        stamp="act-9",
    )
    d = graph_items.draft(out)
    assert d["internetMessageId"] == "<crm.1@crm.example>"
    assert d["singleValueExtendedProperties"] == [{"id": graph_items.STAMP_PROPERTY_ID, "value": "act-9"}]
    assert d["toRecipients"] == [{"emailAddress": {"address": "bob@contoso.example", "name": "Bob"}}]
    assert d["body"] == {"contentType": "html", "content": "<p>x</p>"}
    with pytest.raises(HeaderInjectionError):
        graph_items.draft(OutgoingMessage(message_id="<a@b>", subject="x\r\nBcc: e@vil", to=out.to))
    with pytest.raises(MessageError):
        graph_items.draft(OutgoingMessage(message_id="<a@b>", subject="x", to=()))


def test_large_attachments_go_to_upload_sessions() -> None:
    small = Attachment("s.bin", "application/octet-stream", b"x" * 10)
    large = Attachment("l.bin", "application/octet-stream", b"x" * (graph_items.UPLOAD_SESSION_THRESHOLD + 1))
    assert graph_items.split_attachments([small, large]) == ([small], [large])
    req = graph_items.upload_session_request(large)
    assert req["AttachmentItem"]["size"] == large.size and req["AttachmentItem"]["attachmentType"] == "file"
    assert graph_items.UPLOAD_CHUNK % (320 * 1024) == 0


def test_mark_body_clears_a_stamp_with_an_empty_value() -> None:
    body = graph_items.mark_body(["A", "A", "", "B"], None, set_stamp=True)
    assert body["categories"] == ["A", "B"]
    assert body["singleValueExtendedProperties"][0]["value"] == ""
    assert "singleValueExtendedProperties" not in graph_items.mark_body(["A"], None, set_stamp=False)


def test_batch_body_numbers_parts_and_refuses_a_21st() -> None:
    parts = [Part("GET", f"/me/messages/{i}") for i in range(3)] + [Part("PATCH", "/me/messages/x", body={})]
    body = batch_body(parts)
    assert [r["id"] for r in body["requests"]] == ["0", "1", "2", "3"]
    assert body["requests"][3]["headers"]["Content-Type"] == "application/json"
    assert body["requests"][0]["headers"] == {"Prefer": 'IdType="ImmutableId"'}  # parts inherit nothing
    paged = batch_body([Part("GET", "/d", headers={"prefer": "odata.maxpagesize=5"})])
    assert paged["requests"][0]["headers"] == {"Prefer": 'IdType="ImmutableId", odata.maxpagesize=5'}
    with pytest.raises(ValueError):
        batch_body([Part("GET", "/me")] * (BATCH_LIMIT + 1))


def test_retry_after_and_status_conversion() -> None:
    assert retry_after({"Retry-After": "7"}, 1) == 7.0
    assert retry_after({"retry-after": "bogus"}, 3) == 8.0  # exponential default: 2, 4, 8
    assert isinstance(convert_status(401, {}, server="s"), AuthError)
    assert isinstance(convert_status(403, {}, server="s"), AuthError)
    assert isinstance(convert_status(410, {}, server="s"), SyncStateGone)
    expired = convert_status(400, {"error": {"code": "SyncStateNotFound"}}, server="s")
    assert isinstance(expired, SyncStateGone)
    gone = convert_status(404, {"error": {"code": "ErrorItemNotFound", "message": "Not found."}}, server="s")
    assert isinstance(gone, MessageError) and "ErrorItemNotFound" in gone.message
    assert isinstance(convert_status(429, {}, server="s"), ThrottledError)


def test_delta_state_round_trip_and_changes() -> None:
    state = State("https://g/v1.0/a?$deltatoken=1", "https://g/v1.0/n?$deltatoken=2", ["p"])
    assert State.load(state.dump()) == state
    assert State.load("an EWS sync state") is None
    assert next_link({"@odata.nextLink": "n"}) == ("n", False)
    assert next_link({"@odata.deltaLink": "d"}) == ("d", True)
    changes = changes_of(
        [{"id": "new"}, {"id": "old", "subject": "x"}, {"id": "gone", "@removed": {"reason": "deleted"}}],
        "f",
        {"new"},
    )
    assert [(c.kind, c.id) for c in changes] == [
        (ChangeKind.CREATED, "new"),
        (ChangeKind.UPDATED, "old"),
        (ChangeKind.DELETED, "gone"),
    ]


def test_send_rate_waits_for_the_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    rate = SendRate(sleep, clock=lambda: now[0])
    for _ in range(SEND_LIMIT):
        rate.wait_turn()
    assert slept == []
    now[0] = 10.0
    rate.wait_turn()  # the 31st within a minute waits until the first leaves the window
    assert slept == [50.0]


def test_slots_never_exceed_the_limit() -> None:
    slots = Slots(4)
    assert slots.acquire(20) == 4  # a batch of 20 parts takes every slot, never more
    slots.release(4)
    assert slots.acquire(1) == 1 and slots.used == 1


class _Script(requests.Session):
    """A session that answers from a script instead of the network."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any] | Exception]) -> None:
        super().__init__()
        self.answers = answers
        self.seen: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.seen.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, headers, body = answer
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = json.dumps(body).encode() if body is not None else b""
        return response


def _client(answers: list[Any], tokens: list[str] | None = None) -> tuple[GraphClient, _Script, list[float]]:
    slept: list[float] = []
    supply = iter(tokens or ["t1", "t2", "t3"])
    script = _Script(answers)
    client = GraphClient(
        "https://graph.example/v1.0", lambda: next(supply), sleep=slept.append, session_factory=lambda: script
    )
    return client, script, slept


def test_throttling_is_retried_after_retry_after_and_gives_up_when_asked_for_too_long() -> None:
    client, script, slept = _client([(429, {"Retry-After": "3"}, {}), (200, {}, {"ok": 1})])
    assert client.json("GET", "/me") == {"ok": 1}
    assert slept == [3.0]
    assert script.seen[0]["headers"]["Prefer"] == 'IdType="ImmutableId"'
    client, _, slept = _client([(503, {"Retry-After": "600"}, {"error": {"code": "ServiceUnavailable"}})])
    with pytest.raises(ThrottledError):
        client.json("GET", "/me")
    assert slept == []  # longer than the cap: reported, not slept through


def test_a_401_refreshes_the_token_once_then_is_an_auth_error() -> None:
    client, script, _ = _client([(401, {}, {}), (200, {}, {"ok": 1})])
    assert client.json("GET", "/me") == {"ok": 1}
    assert [s["headers"]["Authorization"] for s in script.seen] == ["Bearer t1", "Bearer t2"]
    client, _, _ = _client([(401, {}, {}), (401, {}, {"error": {"code": "InvalidAuthenticationToken"}})])
    with pytest.raises(AuthError) as caught:
        client.json("GET", "/me")
    assert "t1" not in caught.value.message and "t2" not in caught.value.message


def test_a_lost_answer_to_a_draft_is_an_unknown_outcome_and_not_repeated() -> None:
    client, script, _ = _client([(504, {}, {})])
    with pytest.raises(UnknownOutcomeError):
        client.json("POST", "/me/messages", json={}, safe_to_repeat=False, unknown_outcome=True)
    assert len(script.seen) == 1
    client, _, _ = _client([requests.exceptions.ReadTimeout("read timed out")])
    with pytest.raises(UnknownOutcomeError):
        client.json("POST", "/me/messages/x/send", unknown_outcome=True)


def test_batch_repeats_only_throttled_parts_in_order() -> None:
    first = {
        "responses": [
            {"id": "1", "status": 429, "headers": {"Retry-After": "2"}, "body": {}},
            {"id": "0", "status": 200, "body": {"n": 0}},
        ]
    }
    second = {"responses": [{"id": "0", "status": 200, "body": {"n": 1}}]}
    client, script, slept = _client([(200, {}, first), (200, {}, second)])
    answers = client.batch([Part("GET", "/me/messages/a"), Part("GET", "/me/messages/b")])
    assert [a.body for a in answers] == [{"n": 0}, {"n": 1}]
    assert slept == [2.0]
    assert [r["url"] for r in script.seen[1]["json"]["requests"]] == ["/me/messages/b"]
    assert client.requests_sent == 2


def test_batches_hold_at_most_20_parts() -> None:
    def ok(n: int) -> tuple[int, dict[str, str], Any]:
        return 200, {}, {"responses": [{"id": str(i), "status": 204} for i in range(n)]}

    client, script, _ = _client([ok(20), ok(5)])
    answers = client.batch([Part("PATCH", f"/me/messages/{i}", body={}) for i in range(25)])
    assert len(answers) == 25 and all(a.ok for a in answers)
    assert [len(s["json"]["requests"]) for s in script.seen] == [20, 5]
