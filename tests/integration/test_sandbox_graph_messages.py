"""Sandbox Exchange, Graph side: reading, finding and changing messages, over the same store
EWS serves (each change made on one protocol is checked on the other). Plain ``requests``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from exchangelib import ExtendedProperty, Message
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

STAMP_FIELD = "graph_test_stamp"


class ActivityStamp(ExtendedProperty):
    # The product's stamp as the EWS backend declares it (addin/mailbox/ews_items.py).
    property_set_id = "f5230414-6a2a-4630-a44d-8e3ee6bf692d"
    property_name = "CrmBridgeActivityId"
    property_type = "String"


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def graph(mail: MailSandbox) -> Iterator[Graph]:
    with session_for(ALEX_TOKEN) as session:
        yield Graph(mail, session)


@pytest.fixture
def stamp_field() -> Iterator[None]:
    Message.register(STAMP_FIELD, ActivityStamp)
    yield
    Message.deregister(STAMP_FIELD)


def mime(
    subject: str, body: str = "Hello there", sender: str = "dana@fabrikam.example", **headers: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Dana Customer <{sender}>"
    msg["To"] = ALEX.email
    msg["Subject"] = subject
    msg["Message-ID"] = headers.pop("message_id", f"<{subject.replace(' ', '-')}@fabrikam.example>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def test_message_has_graphs_fields_and_ids_equal_ews_ids(graph: Graph, mail: MailSandbox) -> None:
    item_id = mail.deliver(ALEX.email, mime("Quote request", "Please send the quote", Sensitivity="Private"))
    r = graph.get(f"/me/messages/{item_id}")
    assert r.status_code == 200
    m = r.json()
    assert m["id"] == item_id
    assert m["subject"] == "Quote request"
    assert m["internetMessageId"] == "<Quote-request@fabrikam.example>"
    assert m["from"] == {"emailAddress": {"name": "Dana Customer", "address": "dana@fabrikam.example"}}
    assert m["toRecipients"][0]["emailAddress"]["address"] == ALEX.email
    assert m["body"]["contentType"] == "text" and "Please send the quote" in m["body"]["content"]
    assert m["bodyPreview"].startswith("Please send the quote")
    assert m["receivedDateTime"].endswith("Z") and m["sentDateTime"].endswith("Z")
    assert m["isDraft"] is False and m["isRead"] is False and m["hasAttachments"] is False
    assert m["parentFolderId"] == graph.get("/me/mailFolders/inbox").json()["id"]
    assert "internetMessageHeaders" not in m  # only when selected
    account = ews_account(mail)
    assert account.inbox.get(id=item_id).subject == "Quote request"
    # Sensitivity through PidTagSensitivity (Graph's message has no sensitivity property).
    sens = graph.get(
        f"/me/messages/{item_id}",
        params={"$select": "id", "$expand": "singleValueExtendedProperties($filter=id eq 'Integer 0x36')"},
    ).json()
    assert sens["singleValueExtendedProperties"] == [{"id": "Integer 0x36", "value": "2"}]


def test_select_limits_fields_and_unknown_names_are_refused(graph: Graph, mail: MailSandbox) -> None:
    item_id = mail.deliver(ALEX.email, mime("Selected", X_Custom="abc"))
    m = graph.get(f"/me/messages/{item_id}", params={"$select": "subject,internetMessageHeaders"}).json()
    assert set(m) - {"@odata.type", "@odata.etag", "@odata.context"} == {
        "id",
        "subject",
        "internetMessageHeaders",
    }
    assert {"name": "X-Custom", "value": "abc"} in m["internetMessageHeaders"]
    bad = graph.get(f"/me/messages/{item_id}", params={"$select": "sensitivity"})
    assert bad.status_code == 400
    assert "sensitivity" in bad.json()["error"]["message"]


def test_list_pages_orders_counts_and_searches(graph: Graph, mail: MailSandbox) -> None:
    folder = graph.post("/me/mailFolders/inbox/childFolders", {"displayName": "Listing"}).json()["id"]
    for n in range(7):
        mail.deliver(
            ALEX.email, mime(f"Order {n}", f"body {n}", Date=f"Mon, 0{n + 1} Jun 2026 10:00:00 +0000"), folder
        )
    first = graph.get(
        f"/me/mailFolders/{folder}/messages",
        params={"$top": "3", "$count": "true", "$orderby": "receivedDateTime desc", "$select": "subject"},
    ).json()
    assert first["@odata.count"] == 7
    subjects = [m["subject"] for m in first["value"]]
    link = first.get("@odata.nextLink")
    while link:
        page = graph.session.get(link, timeout=30).json()
        subjects += [m["subject"] for m in page["value"]]
        link = page.get("@odata.nextLink")
    assert len(subjects) == 7 and len(set(subjects)) == 7
    received = [
        m["receivedDateTime"]
        for m in graph.get(f"/me/mailFolders/{folder}/messages", params={"$top": "10"}).json()["value"]
    ]
    assert received == sorted(received, reverse=True)
    asc = graph.get(
        f"/me/mailFolders/{folder}/messages", params={"$orderby": "receivedDateTime asc", "$top": "10"}
    )
    assert [m["receivedDateTime"] for m in asc.json()["value"]] == sorted(received)
    skipped = graph.get(f"/me/mailFolders/{folder}/messages", params={"$skip": "5", "$top": "10"}).json()
    assert len(skipped["value"]) == 2
    found = graph.get(f"/me/mailFolders/{folder}/messages", params={"$search": '"body 4"'}).json()["value"]
    assert [m["subject"] for m in found] == ["Order 4"]
    by_sender = graph.get(
        "/me/messages", params={"$search": '"from:dana@fabrikam.example"', "$top": "50"}
    ).json()
    assert {m["subject"] for m in by_sender["value"]} >= {f"Order {n}" for n in range(7)}


def test_filter_by_message_id_and_received_date(graph: Graph, mail: MailSandbox) -> None:
    item_id = mail.deliver(ALEX.email, mime("O'Brien deal", message_id="<obrien'1@fabrikam.example>"))
    r = graph.get("/me/messages", params={"$filter": "internetMessageId eq '<obrien''1@fabrikam.example>'"})
    assert [m["id"] for m in r.json()["value"]] == [item_id]
    in_inbox = graph.get(
        "/me/mailFolders/inbox/messages",
        params={"$filter": "internetMessageId eq '<OBRIEN''1@fabrikam.example>'"},
    )
    assert [m["id"] for m in in_inbox.json()["value"]] == [item_id]
    none = graph.get(
        "/me/mailFolders/sentitems/messages",
        params={"$filter": "internetMessageId eq '<obrien''1@fabrikam.example>'"},
    )
    assert none.json()["value"] == []
    recent = graph.get(
        "/me/mailFolders/inbox/messages",
        params={"$filter": "receivedDateTime ge 2099-01-01T00:00:00Z", "$select": "id"},
    ).json()["value"]
    assert recent == []
    bad = graph.get("/me/messages", params={"$filter": "subject eq"})
    assert bad.status_code == 400


def test_stamp_written_by_graph_is_read_by_ews_and_back(
    graph: Graph, mail: MailSandbox, stamp_field: None
) -> None:
    one = mail.deliver(ALEX.email, mime("Stamp one"))
    two = mail.deliver(ALEX.email, mime("Stamp two"))
    r = graph.patch(
        f"/me/messages/{one}",
        {
            "singleValueExtendedProperties": [{"id": STAMP_ID, "value": "act-1"}],
            "categories": ["Tracked to Dynamics 365"],
        },
    )
    assert r.status_code == 200
    assert r.json()["categories"] == ["Tracked to Dynamics 365"]
    account = ews_account(mail)
    ews_one = account.inbox.get(id=one)
    assert getattr(ews_one, STAMP_FIELD) == "act-1"
    assert ews_one.categories == ["Tracked to Dynamics 365"]
    ews_two = account.inbox.get(id=two)
    setattr(ews_two, STAMP_FIELD, "act-2")
    ews_two.save(update_fields=[STAMP_FIELD])
    any_filter = "singleValueExtendedProperties/Any(ep: ep/id eq '{}' and ep/value eq '{}')"
    for value, expected in (("act-1", one), ("ACT-2", two)):
        found = graph.get(
            "/me/mailFolders/inbox/messages",
            params={
                "$filter": any_filter.format(STAMP_ID, value),
                "$select": "id,internetMessageId",
                "$expand": f"singleValueExtendedProperties($filter=id eq '{STAMP_ID}')",
            },
        ).json()["value"]
        assert [m["id"] for m in found] == [expected]
        assert found[0]["singleValueExtendedProperties"][0]["value"].lower() == value.lower()
    # The Name part is case-sensitive: another spelling is another property.
    other = graph.get(
        "/me/messages",
        params={"$filter": any_filter.format(STAMP_ID.replace("CrmBridge", "crmbridge"), "act-1")},
    ).json()["value"]
    assert other == []
    # Cleared by writing "": an any-filter for the old value no longer matches.
    graph.patch(f"/me/messages/{one}", {"singleValueExtendedProperties": [{"id": STAMP_ID, "value": ""}]})
    gone = graph.get("/me/messages", params={"$filter": any_filter.format(STAMP_ID, "act-1")}).json()["value"]
    assert gone == []
    # An unknown property on PATCH is refused, as Graph does.
    assert graph.patch(f"/me/messages/{one}", {"noSuchProperty": 1}).status_code == 400


def test_mime_and_attachments(graph: Graph, mail: MailSandbox) -> None:
    msg = EmailMessage()
    msg["From"] = "dana@fabrikam.example"
    msg["To"] = ALEX.email
    msg["Subject"] = "With files"
    msg["Message-ID"] = "<files@fabrikam.example>"
    msg.set_content("see attached")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="quote.pdf")
    inner = EmailMessage()
    inner["Subject"] = "Forwarded"
    inner.set_content("inner body")
    msg.add_attachment(inner)
    item_id = mail.deliver(ALEX.email, msg.as_bytes())
    raw = graph.get(f"/me/messages/{item_id}/$value")
    assert raw.status_code == 200
    assert b"Message-ID: <files@fabrikam.example>" in raw.content
    atts = graph.get(f"/me/messages/{item_id}/attachments").json()["value"]
    pdf = next(a for a in atts if a["name"] == "quote.pdf")
    assert pdf["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert base64.b64decode(pdf["contentBytes"]) == b"%PDF-1.4 fake"
    assert pdf["size"] == len(b"%PDF-1.4 fake") and pdf["isInline"] is False
    item_att = [a for a in atts if a["@odata.type"] == "#microsoft.graph.itemAttachment"]
    assert len(item_att) == 1 and "contentBytes" not in item_att[0]
    one = graph.get(f"/me/messages/{item_id}/attachments/{pdf['id']}").json()
    assert one["contentBytes"] == pdf["contentBytes"]
    assert graph.get(f"/me/messages/{item_id}/attachments/{pdf['id']}/$value").content == b"%PDF-1.4 fake"
    assert graph.get(f"/me/messages/{item_id}").json()["hasAttachments"] is True
    expanded = graph.get(f"/me/messages/{item_id}", params={"$expand": "attachments", "$select": "id"}).json()
    assert {a["name"] for a in expanded["attachments"]} == {a["name"] for a in atts}


def test_move_keeps_the_id_copy_makes_a_new_one_delete_removes(graph: Graph, mail: MailSandbox) -> None:
    item_id = mail.deliver(ALEX.email, mime("Movable"))
    moved = graph.post(
        f"/me/messages/{item_id}/move",
        {"destinationId": "deleteditems"},
        headers={"Prefer": 'IdType="ImmutableId"'},
    )
    assert moved.status_code == 201
    assert moved.json()["id"] == item_id
    assert moved.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    trash = graph.get("/me/mailFolders/deleteditems").json()["id"]
    assert graph.get(f"/me/messages/{item_id}").json()["parentFolderId"] == trash
    assert [i["id"] for i in mail.items(ALEX.email, "deleteditems") if i["id"] == item_id] == [item_id]
    copied = graph.post(f"/me/messages/{item_id}/copy", {"destinationId": "inbox"})
    assert copied.status_code == 201 and copied.json()["id"] != item_id
    assert copied.json()["subject"] == "Movable"
    assert graph.delete(f"/me/messages/{item_id}").status_code == 204
    assert graph.get(f"/me/messages/{item_id}").status_code == 404
    assert (
        graph.post(f"/me/messages/{copied.json()['id']}/move", {"destinationId": "nowhere"}).status_code
        == 404
    )


def test_another_mailboxs_message_is_not_found(graph: Graph, mail: MailSandbox) -> None:
    other = next(m for m in mail.mailboxes() if m != ALEX.email)
    item_id = mail.deliver(other, mime("Not yours"))
    r = graph.get(f"/me/messages/{item_id}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "ErrorItemNotFound"


def test_filter_lambdas_and_boolean_logic(graph: Graph, mail: MailSandbox) -> None:
    folder = graph.post("/me/mailFolders/inbox/childFolders", {"displayName": "Filters"}).json()["id"]
    a = mail.deliver(ALEX.email, mime("Alpha"), folder)
    b = mail.deliver(ALEX.email, mime("Beta"), folder)
    c = mail.deliver(ALEX.email, mime("Gamma"), folder)
    graph.patch(f"/me/messages/{a}", {"categories": ["Track in CRM"], "isRead": True})
    graph.patch(f"/me/messages/{b}", {"categories": ["Other"]})

    def ids(expr: str) -> set[str]:
        r = graph.get(f"/me/mailFolders/{folder}/messages", params={"$filter": expr, "$select": "id"})
        assert r.status_code == 200, r.text
        return {m["id"] for m in r.json()["value"]}

    assert ids("categories/any(c: c eq 'track in crm')") == {a}
    assert ids("isRead eq false") == {b, c}
    assert ids("not categories/any(c: c eq 'Other') and isRead eq false") == {c}
    assert ids("subject eq 'Alpha' or subject eq 'Gamma'") == {a, c}
    assert ids("(subject eq 'Alpha' or subject eq 'Beta') and categories/any(c: c eq 'Other')") == {b}
    assert ids("from/emailAddress/address eq 'dana@fabrikam.example'") == {a, b, c}


def test_html_body_and_the_text_preference(graph: Graph, mail: MailSandbox) -> None:
    draft = graph.post(
        "/me/messages",
        {"subject": "Html", "body": {"contentType": "html", "content": "<p>Hello <b>world</b></p>"}},
    ).json()
    assert draft["body"] == {"contentType": "html", "content": "<p>Hello <b>world</b></p>"}
    as_text = graph.get(f"/me/messages/{draft['id']}", headers={"Prefer": 'outlook.body-content-type="text"'})
    body = as_text.json()["body"]
    assert body["contentType"] == "text"
    assert "<" not in body["content"] and "Hello" in body["content"] and "world" in body["content"]
    # EWS reads the same draft.
    ews = ews_account(mail).drafts.get(id=draft["id"])
    assert ews.subject == "Html" and "<b>world</b>" in str(ews.body)


def test_stamp_lookup_with_wildcard_quote_and_non_ascii_values(graph: Graph, mail: MailSandbox) -> None:
    any_filter = "singleValueExtendedProperties/any(ep: ep/id eq '{}' and ep/value eq '{}')"
    values = ["50%_off", "o'neil", "café-7", 'say "hi"', "a\\b"]
    ids = {}
    for n, value in enumerate(values):
        ids[value] = mail.deliver(ALEX.email, mime(f"Odd {n}"))
        r = graph.patch(
            f"/me/messages/{ids[value]}",
            {"singleValueExtendedProperties": [{"id": STAMP_ID, "value": value}]},
        )
        assert r.status_code == 200
    decoy = mail.deliver(ALEX.email, mime("Decoy"))
    graph.patch(
        f"/me/messages/{decoy}", {"singleValueExtendedProperties": [{"id": STAMP_ID, "value": "50x-off"}]}
    )
    for value in values:
        literal = value.replace("'", "''")
        found = graph.get(
            "/me/mailFolders/inbox/messages",
            params={"$filter": any_filter.format(STAMP_ID, literal), "$select": "id"},
        ).json()["value"]
        assert [m["id"] for m in found] == [ids[value]], value
        # The same look-up over the whole mailbox.
        everywhere = graph.get(
            "/me/messages", params={"$filter": any_filter.format(STAMP_ID, literal)}
        ).json()
        assert [m["id"] for m in everywhere["value"]] == [ids[value]], value


def test_patch_with_if_match_refuses_a_stale_etag(graph: Graph, mail: MailSandbox) -> None:
    item_id = mail.deliver(ALEX.email, mime("Etag"))
    etag = graph.get(f"/me/messages/{item_id}").json()["@odata.etag"]
    ok = graph.patch(f"/me/messages/{item_id}", {"categories": ["A"]}, headers={"If-Match": etag})
    assert ok.status_code == 200
    stale = graph.patch(f"/me/messages/{item_id}", {"categories": ["B"]}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert graph.get(f"/me/messages/{item_id}").json()["categories"] == ["A"]
