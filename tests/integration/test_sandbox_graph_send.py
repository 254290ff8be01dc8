"""Sandbox Exchange, Graph side: drafts, send (202, immutable id on the Sent Items copy, late
copy knob), sendMail, attachments and upload sessions, master categories; mail sent on one
protocol is checked on the other. Plain ``requests`` (and unmodified exchangelib for EWS)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import requests
from exchangelib import Mailbox, Message
from sandbox_graph_helpers import (
    ALEX_TOKEN,
    STAMP_ID,
    Graph,
    ews_account,
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


def colleague(mail: MailSandbox) -> str:
    return next(m for m in mail.mailboxes() if m != ALEX.email)


def draft_body(to: str, message_id: str, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "subject": "Proposal",
        "body": {"contentType": "html", "content": "<p>Our <b>offer</b></p>"},
        "toRecipients": [{"emailAddress": {"address": to, "name": "Colleague"}}],
        "internetMessageId": message_id,
        "singleValueExtendedProperties": [{"id": STAMP_ID, "value": "act-42"}],
    }
    body.update(extra)
    return body


def wait_for(check: object, timeout: float = 20.0) -> object:
    """Poll until ``check()`` is truthy (the late Sent Items copy arrives on a timer)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()  # type: ignore[operator]
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_draft_then_send_keeps_id_stamp_and_message_id_and_delivers(graph: Graph, mail: MailSandbox) -> None:
    to = colleague(mail)
    created = graph.post(
        "/me/messages",
        draft_body(to, "<crm-1@crm.contoso.example>"),
        headers={"Prefer": 'IdType="ImmutableId"'},
    )
    assert created.status_code == 201
    draft = created.json()
    assert draft["isDraft"] is True
    assert draft["internetMessageId"] == "<crm-1@crm.contoso.example>"
    assert draft["parentFolderId"] == graph.get("/me/mailFolders/drafts").json()["id"]
    assert created.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    sent = graph.post(f"/me/messages/{draft['id']}/send")
    assert sent.status_code == 202
    assert sent.content == b""
    assert graph.get("/me/mailFolders/drafts/messages").json()["value"] == []
    copy = graph.get(
        f"/me/messages/{draft['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{STAMP_ID}')"},
    ).json()
    assert copy["parentFolderId"] == graph.get("/me/mailFolders/sentitems").json()["id"]
    assert copy["isDraft"] is False
    assert copy["internetMessageId"] == "<crm-1@crm.contoso.example>"
    assert copy["singleValueExtendedProperties"] == [{"id": STAMP_ID, "value": "act-42"}]
    # Delivered to the sandbox recipient, seen through EWS.
    inbox = ews_account(mail, to).inbox.filter(message_id="<crm-1@crm.contoso.example>")
    assert [m.subject for m in inbox] == ["Proposal"]
    # A second send of the same id is refused: no second message.
    again = graph.post(f"/me/messages/{draft['id']}/send")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "ErrorInvalidOperation"
    assert len([i for i in mail.items(to) if i["message_id"] == "<crm-1@crm.contoso.example>"]) == 1


def test_late_sent_copy_waits_in_outbox_and_cannot_be_sent_twice(graph: Graph, mail: MailSandbox) -> None:
    to = colleague(mail)
    mail.faults.update({"sent_copy_delay_seconds": 600})
    draft = graph.post("/me/messages", draft_body(to, "<crm-late@crm.contoso.example>")).json()
    assert graph.post(f"/me/messages/{draft['id']}/send").status_code == 202
    # Accepted but not done: waiting in Outbox, no longer a draft, nothing delivered or in Sent Items.
    waiting = graph.get(f"/me/messages/{draft['id']}").json()
    assert waiting["parentFolderId"] == graph.get("/me/mailFolders/outbox").json()["id"]
    assert waiting["isDraft"] is False
    assert graph.get("/me/mailFolders/drafts/messages").json()["value"] == []
    assert (
        graph.get(
            "/me/mailFolders/sentitems/messages",
            params={"$filter": "internetMessageId eq '<crm-late@crm.contoso.example>'"},
        ).json()["value"]
        == []
    )
    assert [i for i in mail.items(to) if i["message_id"] == "<crm-late@crm.contoso.example>"] == []
    again = graph.post(f"/me/messages/{draft['id']}/send")
    assert again.status_code == 400
    assert mail.app.graph.sends.flush() == 1
    copy = graph.get(f"/me/messages/{draft['id']}").json()
    assert copy["parentFolderId"] == graph.get("/me/mailFolders/sentitems").json()["id"]
    assert len([i for i in mail.items(to) if i["message_id"] == "<crm-late@crm.contoso.example>"]) == 1


def test_late_sent_copy_arrives_on_its_own(graph: Graph, mail: MailSandbox) -> None:
    mail.faults.update({"sent_copy_delay_seconds": 0.2})
    draft = graph.post("/me/messages", draft_body(colleague(mail), "<crm-timer@crm.contoso.example>")).json()
    assert graph.post(f"/me/messages/{draft['id']}/send").status_code == 202
    sent_id = graph.get("/me/mailFolders/sentitems").json()["id"]
    assert wait_for(lambda: graph.get(f"/me/messages/{draft['id']}").json().get("parentFolderId") == sent_id)


def test_send_without_recipients_is_refused_and_the_draft_stays(graph: Graph) -> None:
    draft = graph.post("/me/messages", {"subject": "nobody"}).json()
    r = graph.post(f"/me/messages/{draft['id']}/send")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ErrorInvalidRecipients"
    assert graph.get(f"/me/messages/{draft['id']}").json()["isDraft"] is True


def test_internet_message_id_is_writable_on_drafts_only(graph: Graph, mail: MailSandbox) -> None:
    draft = graph.post("/me/messages", draft_body(colleague(mail), "<a@crm.contoso.example>")).json()
    r = graph.patch(f"/me/messages/{draft['id']}", {"internetMessageId": "<b@crm.contoso.example>"})
    assert r.status_code == 200 and r.json()["internetMessageId"] == "<b@crm.contoso.example>"
    graph.post(f"/me/messages/{draft['id']}/send")
    r = graph.patch(f"/me/messages/{draft['id']}", {"internetMessageId": "<c@crm.contoso.example>"})
    assert r.status_code == 400
    # Categories stay writable on the sent copy.
    assert graph.patch(f"/me/messages/{draft['id']}", {"categories": ["X"]}).status_code == 200


def test_x_headers_only_and_they_reach_the_recipient(graph: Graph, mail: MailSandbox) -> None:
    to = colleague(mail)
    bad = graph.post(
        "/me/messages",
        draft_body(to, "<h0@c.example>", internetMessageHeaders=[{"name": "Subject", "value": "x"}]),
    )
    assert bad.status_code == 400
    draft = graph.post(
        "/me/messages",
        draft_body(
            to, "<h1@c.example>", internetMessageHeaders=[{"name": "x-crm-activity-id", "value": "act-7"}]
        ),
    ).json()
    graph.post(f"/me/messages/{draft['id']}/send")
    received = next(i for i in mail.items(to) if i["message_id"] == "<h1@c.example>")
    assert b"x-crm-activity-id: act-7" in (mail.mime(received["id"]) or b"").lower()


def test_send_mail_json_and_mime(graph: Graph, mail: MailSandbox) -> None:
    to = colleague(mail)
    r = graph.post(
        "/me/sendMail",
        {
            "message": {
                "subject": "One shot",
                "body": {"contentType": "text", "content": "hi"},
                "toRecipients": [{"emailAddress": {"address": to}}],
                "attachments": [
                    {
                        "@odata.type": "#microsoft.graph.fileAttachment",
                        "name": "a.txt",
                        "contentBytes": base64.b64encode(b"abc").decode(),
                    }
                ],
            },
            "saveToSentItems": True,
        },
    )
    assert r.status_code == 202 and r.content == b""
    assert "One shot" in [i["subject"] for i in mail.items(ALEX.email, "sentitems")]
    got = next(i for i in mail.items(to) if i["subject"] == "One shot")
    assert got["attachments"][0][0] == "a.txt"
    msg = EmailMessage()
    msg["From"] = ALEX.email
    msg["To"] = to
    msg["Subject"] = "As MIME"
    msg["Message-ID"] = "<mime-1@contoso.example>"
    msg.set_content("mime body")
    r = graph.session.post(
        f"{graph.base}/me/sendMail",
        data=base64.b64encode(msg.as_bytes()),
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert r.status_code == 202
    assert [i["subject"] for i in mail.items(to) if i["message_id"] == "<mime-1@contoso.example>"] == [
        "As MIME"
    ]
    nosave = graph.post(
        "/me/sendMail",
        {
            "message": {"subject": "No copy", "toRecipients": [{"emailAddress": {"address": to}}]},
            "saveToSentItems": False,
        },
    )
    assert nosave.status_code == 202
    assert "No copy" not in [i["subject"] for i in mail.items(ALEX.email, "sentitems")]


def test_mail_sent_through_ews_is_read_through_graph(graph: Graph, mail: MailSandbox) -> None:
    account = ews_account(mail)
    to = colleague(mail)
    Message(
        account=account, subject="Via EWS", body="b", to_recipients=[Mailbox(email_address=to)]
    ).send_and_save()
    sent = graph.get("/me/mailFolders/sentitems/messages", params={"$select": "subject"}).json()["value"]
    assert "Via EWS" in [m["subject"] for m in sent]
    with session_for("colleague-token") as s:
        mail.add_token("colleague-token", to)
        inbox = s.get(
            f"{mail.graph_url}/me/mailFolders/inbox/messages", params={"$top": "50"}, timeout=30
        ).json()
    assert "Via EWS" in [m["subject"] for m in inbox["value"]]


def test_small_attachment_post_and_large_through_upload_session(graph: Graph, mail: MailSandbox) -> None:
    draft = graph.post("/me/messages", draft_body(colleague(mail), "<att@c.example>")).json()
    small = graph.post(
        f"/me/messages/{draft['id']}/attachments",
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "s.txt",
            "contentBytes": base64.b64encode(b"small").decode(),
        },
    )
    assert small.status_code == 201 and small.json()["size"] == 5
    big = bytes(range(256)) * (4 * 1024 * 16 + 7)  # ~4 MB, over the 3 MB single-POST limit
    too_big = graph.post(
        f"/me/messages/{draft['id']}/attachments",
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "b.bin",
            "contentBytes": base64.b64encode(big).decode(),
        },
    )
    assert too_big.status_code == 413
    session = graph.post(
        f"/me/messages/{draft['id']}/attachments/createUploadSession",
        {
            "AttachmentItem": {
                "attachmentType": "file",
                "name": "b.bin",
                "size": len(big),
                "contentType": "application/octet-stream",
            }
        },
    )
    assert session.status_code == 201
    url = session.json()["uploadUrl"]
    assert session.json()["nextExpectedRanges"] == ["0-"]
    chunk = 320 * 1024 * 6
    # With the Authorization header the upload URL refuses (the doc says not to send it).
    refused = graph.session.put(
        url, data=big[:chunk], headers={"Content-Range": f"bytes 0-{chunk - 1}/{len(big)}"}, timeout=30
    )
    assert refused.status_code == 401
    # Out of order: the session says where to continue.
    wrong = requests.put(
        url,
        data=big[chunk : 2 * chunk],
        headers={"Content-Range": f"bytes {chunk}-{2 * chunk - 1}/{len(big)}"},
        timeout=30,
    )
    assert wrong.status_code == 416
    start, last = 0, None
    while start < len(big):
        end = min(start + chunk, len(big))
        last = requests.put(
            url,
            data=big[start:end],
            headers={"Content-Range": f"bytes {start}-{end - 1}/{len(big)}"},
            timeout=30,
        )
        if end < len(big):
            assert last.status_code == 200
            assert last.json()["nextExpectedRanges"] == [f"{end}-"]
        start = end
    assert last is not None and last.status_code == 201
    assert "attachments(" in last.headers["Location"]
    atts = graph.get(f"/me/messages/{draft['id']}/attachments").json()["value"]
    uploaded = next(a for a in atts if a["name"] == "b.bin")
    assert base64.b64decode(uploaded["contentBytes"]) == big
    assert graph.post(f"/me/messages/{draft['id']}/send").status_code == 202
    copy_atts = graph.get(f"/me/messages/{draft['id']}/attachments").json()["value"]
    assert {a["name"] for a in copy_atts} == {"s.txt", "b.bin"}


def test_master_categories_per_mailbox(graph: Graph, mail: MailSandbox) -> None:
    assert graph.get("/me/outlook/masterCategories").json()["value"] == []
    r = graph.post(
        "/me/outlook/masterCategories", {"displayName": "Tracked to Dynamics 365", "color": "preset9"}
    )
    assert r.status_code == 201 and r.json()["color"] == "preset9"
    dup = graph.post(
        "/me/outlook/masterCategories", {"displayName": "tracked to dynamics 365", "color": "preset1"}
    )
    assert dup.status_code == 409
    assert (
        graph.post("/me/outlook/masterCategories", {"displayName": "Bad", "color": "purple"}).status_code
        == 400
    )
    names = [c["displayName"] for c in graph.get("/me/outlook/masterCategories").json()["value"]]
    assert names == ["Tracked to Dynamics 365"]
    with session_for("colleague-token") as s:
        mail.add_token("colleague-token", colleague(mail))
        assert s.get(f"{mail.graph_url}/me/outlook/masterCategories", timeout=30).json()["value"] == []
    assert graph.delete(f"/me/outlook/masterCategories/{r.json()['id']}").status_code == 204
    assert graph.get("/me/outlook/masterCategories").json()["value"] == []


def test_send_answered_with_an_error_after_it_went_out(graph: Graph, mail: MailSandbox) -> None:
    # Graph can answer 429/5xx for a send that still goes out; the sandbox plays that with "after".
    to = colleague(mail)
    draft = graph.post("/me/messages", draft_body(to, "<crm-amb@crm.contoso.example>")).json()
    mail.faults.update({"match": "graph:SendDraft", "fail_next": [{"status": 503, "after": True}]})
    r = graph.post(f"/me/messages/{draft['id']}/send")
    assert r.status_code == 503
    state = graph.get(f"/me/messages/{draft['id']}", params={"$select": "isDraft,parentFolderId"}).json()
    assert state["isDraft"] is False
    assert state["parentFolderId"] == graph.get("/me/mailFolders/sentitems").json()["id"]
    assert len([i for i in mail.items(to) if i["message_id"] == "<crm-amb@crm.contoso.example>"]) == 1
    # A lost answer (connection reset after the send) leaves the same evidence.
    second = graph.post("/me/messages", draft_body(to, "<crm-lost@crm.contoso.example>")).json()
    mail.faults.update({"match": "graph:SendDraft", "fail_next": [{"drop": "after"}]})
    with pytest.raises(requests.ConnectionError):
        graph.post(f"/me/messages/{second['id']}/send")
    assert graph.get(f"/me/messages/{second['id']}").json()["isDraft"] is False


def test_send_rate_limit_knob(graph: Graph, mail: MailSandbox) -> None:
    to = colleague(mail)
    mail.faults.update({"send_limit_per_minute": 2})
    message = {"message": {"subject": "rate", "toRecipients": [{"emailAddress": {"address": to}}]}}
    assert graph.post("/me/sendMail", message).status_code == 202
    draft = graph.post("/me/messages", draft_body(to, "<rate@c.example>")).json()
    assert graph.post(f"/me/messages/{draft['id']}/send").status_code == 202
    third = graph.post("/me/sendMail", message)
    assert third.status_code == 429
    assert 1 <= int(third.headers["Retry-After"]) <= 61
    assert len([i for i in mail.items(to) if i["subject"] == "rate"]) == 1
    mail.faults.clear()
    assert graph.post("/me/sendMail", message).status_code == 202
