"""``$batch`` against the sandbox CRM, shaped as in
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from test_sandbox_crm_support import BASE_HEADERS, Api, api, crm

from addin.sandbox.crm import ALEX_ID, DEMO_ACCOUNTS, DEMO_CONTACTS

__all__ = ["api", "crm"]  # fixtures

ACCOUNT = DEMO_ACCOUNTS[0].id


@dataclass
class Part:
    method: str
    url: str
    body: Any = None
    content_id: str | None = None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str
    content_id: str | None

    def json(self) -> Any:
        return json.loads(self.body)


def _http(part: Part) -> str:
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if part.content_id:
        head.append(f"Content-ID: {part.content_id}")
    lines = [f"{part.method} {part.url} HTTP/1.1"]
    payload = ""
    if part.body is not None:
        lines.append("Content-Type: application/json; type=entry")
        payload = json.dumps(part.body, indent=2)
    return "\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n" + payload + "\r\n"


def build(items: list[Part | list[Part]]) -> tuple[str, bytes]:
    """A batch body; a nested list is a change set."""
    boundary = f"batch_{uuid.uuid4()}"
    out = []
    for item in items:
        if isinstance(item, list):
            cs = f"changeset_{uuid.uuid4()}"
            inner = "".join(f"--{cs}\r\n{_http(p)}" for p in item) + f"--{cs}--\r\n"
            out.append(f'--{boundary}\r\nContent-Type: multipart/mixed; boundary="{cs}"\r\n\r\n{inner}\r\n')
        else:
            out.append(f"--{boundary}\r\n{_http(item)}")
    return boundary, ("".join(out) + f"--{boundary}--\r\n").encode()


def send(api: Api, items: list[Part | list[Part]], **headers: str) -> tuple[requests.Response, list[Answer]]:
    boundary, body = build(items)
    hdrs = {**BASE_HEADERS, "Content-Type": f'multipart/mixed; boundary="{boundary}"'}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    r = api.session.post(api.base + "$batch", data=body, headers=hdrs, timeout=60)
    return r, parse(r) if r.headers["Content-Type"].startswith("multipart/") else []


def parse(r: requests.Response) -> list[Answer]:
    """Flatten the multipart/mixed response (change sets included) with the stdlib email parser."""
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        b"Content-Type: " + r.headers["Content-Type"].encode() + b"\r\n\r\n" + r.content
    )
    answers: list[Answer] = []

    def walk(m: Any) -> None:
        for part in m.get_payload():
            if part.is_multipart():
                walk(part)
                continue
            raw = part.get_payload(decode=True).decode()
            head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
            status_line, *header_lines = head.split("\n")
            headers = {k.strip(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
            answers.append(Answer(int(status_line.split()[1]), headers, body.strip(), part.get("Content-ID")))

    walk(msg)
    return answers


def _task(subject: str) -> dict[str, str]:
    return {"subject": subject, "regardingobjectid_account_task@odata.bind": f"accounts({ACCOUNT})"}


def test_batch_without_change_sets(api: Api) -> None:
    """The first request/response pair of "Batch requests": three task creates and a GET of Account_Tasks."""
    parts: list[Part | list[Part]] = [
        Part("POST", "/api/data/v9.2/tasks", _task(f"Task {i} in batch")) for i in (1, 2, 3)
    ]
    parts.append(Part("GET", f"/api/data/v9.2/accounts({ACCOUNT})/Account_Tasks?$select=subject"))
    r, answers = send(api, parts)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert [a.status for a in answers] == [204, 204, 204, 200]
    ids = []
    for a in answers[:3]:
        assert a.headers["OData-Version"] == "4.0"
        assert a.headers["Location"] == a.headers["OData-EntityId"]
        ids.append(re.search(r"tasks\(([^)]+)\)", a.headers["OData-EntityId"]).group(1))
    listing = answers[3].json()
    assert listing["@odata.context"] == f"{api.base}$metadata#tasks(subject)"
    assert [(t["subject"], t["activityid"]) for t in listing["value"]] == [
        (f"Task {i} in batch", ids[i - 1]) for i in (1, 2, 3)
    ]
    assert api.crm.stats.snapshot()["by_operation"]["POST $batch"] == 1


def test_change_set_with_content_ids(api: Api) -> None:
    """ "Change sets": three creates in one change set, each answered with its Content-ID, then a GET."""
    changeset = [Part("POST", "/api/data/v9.2/tasks", _task(f"Task {i} in batch"), str(i)) for i in (1, 2, 3)]
    r, answers = send(
        api, [changeset, Part("GET", f"/api/data/v9.2/accounts({ACCOUNT})/Account_Tasks?$select=subject")]
    )
    assert r.status_code == 200
    assert [(a.status, a.content_id) for a in answers] == [(204, "1"), (204, "2"), (204, "3"), (200, None)]
    assert "changesetresponse_" in r.text
    assert len(answers[3].json()["value"]) == 3


def test_content_id_references_in_body_and_url(api: Api) -> None:
    """ "Reference URIs in an operation": ``$1``/``$2`` in ``@odata.bind``, ``PUT $1/lastname``,
    ``PUT $1/primarycontactid/$ref`` with ``@odata.id`` and ``PATCH $1``."""
    base = api.base
    r, answers = send(
        api,
        [
            [
                Part("POST", f"{base}leads", {"firstname": "first name", "lastname": "last name"}, "1"),
                Part("POST", f"{base}contacts", {"firstname": "first name"}, "2"),
                Part(
                    "POST",
                    f"{base}accounts",
                    {
                        "name": "IcM Account",
                        "originatingleadid@odata.bind": "$1",
                        "primarycontactid@odata.bind": "$2",
                    },
                    "3",
                ),
            ]
        ],
    )
    assert r.status_code == 200 and [a.status for a in answers] == [204, 204, 204]
    lead, contact, account = (
        re.search(r"\(([^)]+)\)$", a.headers["OData-EntityId"]).group(1) for a in answers
    )
    rec = api.crm.db.get("accounts", account)
    assert (rec["_originatingleadid_value"], rec["_primarycontactid_value"]) == (lead, contact)

    r, answers = send(
        api,
        [
            [
                Part("POST", f"{base}contacts", {"firstname": "First Name", "lastname": "Last name"}, "1"),
                Part("PUT", "$1/lastname", {"value": "BBBBB"}, "2"),
            ]
        ],
    )
    assert [a.status for a in answers] == [204, 204]
    new_contact = re.search(r"\(([^)]+)\)$", answers[0].headers["OData-EntityId"]).group(1)
    assert api.crm.db.get("contacts", new_contact)["lastname"] == "BBBBB"

    r, answers = send(
        api,
        [
            [
                Part("POST", f"{base}accounts", {"name": "Account Name"}, "1"),
                Part("POST", f"{base}contacts", {"firstname": "Contact first name"}, "2"),
                Part("PUT", "$1/primarycontactid/$ref", {"@odata.id": "$2"}, "3"),
            ]
        ],
    )
    assert [a.status for a in answers] == [204, 204, 204]
    acc, con = (re.search(r"\(([^)]+)\)$", a.headers["OData-EntityId"]).group(1) for a in answers[:2])
    assert api.crm.db.get("accounts", acc)["_primarycontactid_value"] == con

    r, answers = send(
        api,
        [
            [
                Part("POST", f"{base}accounts", {"name": "Account name"}, "1"),
                Part("POST", f"{base}contacts", {"firstname": "Contact first name"}, "2"),
                Part("PATCH", "$1", {"primarycontactid@odata.bind": "$2"}, "3"),
            ]
        ],
    )
    assert [a.status for a in answers] == [204, 204, 204]
    assert answers[2].headers["OData-EntityId"] == answers[0].headers["OData-EntityId"]


def test_undeclared_content_id_is_400_and_nothing_is_kept(api: Api) -> None:
    """The note in "Reference URIs in an operation": referencing ``$1`` before it is declared gives 400."""
    before = api.crm.db.count("accounts")
    r, answers = send(
        api,
        [
            [
                Part(
                    "POST",
                    f"{api.base}tasks",
                    {"subject": "911", "regardingobjectid_account_task@odata.bind": "$1"},
                    "2",
                ),
                Part("POST", f"{api.base}accounts", {"name": "QQQQ", "revenue": 1.50}, "1"),
            ]
        ],
    )
    assert r.status_code == 400
    assert "Content-ID Reference: '$1' does not exist in the batch context." in answers[0].body
    assert api.crm.db.count("accounts") == before


def test_batch_stops_at_first_error_without_continue_on_error(api: Api) -> None:
    """ "Handling errors": without ``odata.continue-on-error`` the batch answers the first failure's status
    and the remaining requests are not processed."""
    too_long = "Subject is too long " + "x" * 200
    parts: list[Part | list[Part]] = [
        Part("POST", "/api/data/v9.2/tasks", _task(too_long)),
        Part("POST", "/api/data/v9.2/tasks", _task("Task 2 in batch")),
        Part("POST", "/api/data/v9.2/tasks", _task("Task 3 in batch")),
    ]
    r, answers = send(api, parts)
    assert r.status_code == 400
    assert len(answers) == 1 and answers[0].status == 400
    assert answers[0].headers["Content-Type"] == "application/json; odata.metadata=minimal"
    assert answers[0].json() == {
        "error": {
            "code": "0x80044331",
            "message": "A validation error occurred.  The length of the 'subject' attribute of the 'task' "
            "entity exceeded the maximum allowed length of '200'.",
        }
    }
    assert api.crm.db.count("tasks") == 0

    r, answers = send(api, parts, Prefer="odata.continue-on-error")
    assert r.status_code == 200
    assert [a.status for a in answers] == [400, 204, 204]
    assert api.crm.db.count("tasks") == 2


def test_failed_change_set_rolls_back_every_part(api: Api) -> None:
    """Change sets are atomic: a failing part rolls back the e-mail, parties and attachment before it."""
    emails_before = api.crm.db.count("emails")
    parties_before = api.crm.db.count("activityparties")
    email_body = {
        "subject": "atomic",
        "email_activity_parties": [{"participationtypemask": 1, "addressused": DEMO_CONTACTS[0].email}],
    }
    attachment = {
        "objectid_email@odata.bind": "$1",
        "objecttypecode": "email",
        "filename": "a.txt",
        "body": "aGk=",
    }
    r, answers = send(
        api,
        [
            [
                Part("POST", f"{api.base}emails", email_body, "1"),
                Part("POST", f"{api.base}activitymimeattachments", attachment, "2"),
                Part("PATCH", "$1", {"statecode": 0, "statuscode": 4}, "3"),  # inconsistent state: fails
            ]
        ],
    )
    assert r.status_code == 400 and len(answers) == 1
    assert api.crm.db.count("emails") == emails_before
    assert api.crm.db.count("activityparties") == parties_before
    assert api.crm.db.count("activitymimeattachments") == 0


def test_get_is_not_allowed_in_a_change_set(api: Api) -> None:
    r, answers = send(api, [[Part("GET", f"{api.base}accounts?$select=name")]])
    assert r.status_code == 400 and answers[0].status == 400


def test_more_than_1000_requests_is_refused(api: Api) -> None:
    parts: list[Part | list[Part]] = [Part("GET", "/api/data/v9.2/WhoAmI")] * 1001
    r = send(api, parts)[0]
    assert r.status_code == 400 and "1000" in r.json()["error"]["message"]


def test_track_1000_messages_in_ten_batches(api: Api) -> None:
    """The bridge's bulk path: per message one change set (create with parties, attachment, close as
    Received), 100 messages per batch; plus one dedupe query with ``In`` per batch."""
    contacts = DEMO_CONTACTS
    for batch_no in range(10):
        message_ids = [f"<bulk-{batch_no}-{i}@fabrikam.example>" for i in range(100)]
        quoted = ",".join(f"'{m}'" for m in message_ids)
        flt = f"Microsoft.Dynamics.CRM.In(PropertyName='messageid',PropertyValues=[{quoted}])"
        seen = api.get(f"emails?$select=messageid&$filter={requests.utils.quote(flt)}")
        assert seen.status_code == 200 and seen.json()["value"] == []
        items: list[Part | list[Part]] = []
        for i, message_id in enumerate(message_ids):
            sender = contacts[(batch_no * 100 + i) % len(contacts)]
            activity = str(uuid.uuid5(uuid.NAMESPACE_URL, message_id))
            body = {
                "activityid": activity,
                "subject": f"Bulk {batch_no}/{i}",
                "directioncode": False,
                "messageid": message_id,
                "email_activity_parties": [
                    {
                        "participationtypemask": 1,
                        "partyid_contact@odata.bind": f"/contacts({sender.id})",
                        "addressused": sender.email,
                    },
                    {"participationtypemask": 2, "partyid_systemuser@odata.bind": f"/systemusers({ALEX_ID})"},
                ],
            }
            att = {
                "objectid_email@odata.bind": "$1",
                "objecttypecode": "email",
                "filename": "n.txt",
                "body": "aGk=",
            }
            items.append(
                [
                    Part("POST", "/api/data/v9.2/emails", body, "1"),
                    Part("POST", "/api/data/v9.2/activitymimeattachments", att, "2"),
                    Part("PATCH", "$1", {"statecode": 1, "statuscode": 4}, "3"),
                ]
            )
        r, answers = send(api, items, Prefer="odata.continue-on-error")
        assert r.status_code == 200 and all(a.status == 204 for a in answers), r.text[:500]
    stats = api.crm.stats.snapshot()["by_operation"]
    assert stats["POST $batch"] == 10 and stats["GET emails"] == 10
    received = api.crm.db.query("emails", lambda e: str(e.get("messageid", "")).startswith("<bulk-"))
    assert len(received) == 1000 and all(e["statuscode"] == 4 for e in received)
