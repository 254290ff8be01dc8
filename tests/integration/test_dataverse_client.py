"""DataverseClient against the sandbox CRM over real HTTP on loopback."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
import requests

from addin.crm import DataverseClient, StaticTokenAuth, first_error
from addin.crm import records as R
from addin.errors import AuthError, ConflictError, CrmError, NotFoundError
from addin.sandbox.crm import ALEX_ID, DEMO_ACCOUNTS, DEMO_CONTACTS, CrmSandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["http", "https"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[CrmSandbox]:
    """Every test runs over plain HTTP and over TLS (``crm-bridge sandbox crm --tls``)."""
    with CrmSandbox(seed="demo", tls=request.param == "https") as s:
        assert s.base_url.startswith(f"{request.param}://")
        yield s


def _session(sandbox: CrmSandbox) -> requests.Session:
    """The session the client would create, trusting the sandbox's throw-away CA over TLS."""
    session = requests.Session()
    if sandbox.ca_pem is not None:
        session.verify = str(sandbox.ca_pem)
    return session


@pytest.fixture
def client(sandbox: CrmSandbox) -> Iterator[DataverseClient]:
    sandbox.faults.clear()
    sandbox.stats.reset()
    with DataverseClient(
        sandbox.base_url,
        StaticTokenAuth("sandbox"),
        sleep=lambda s: None,
        session_factory=lambda: _session(sandbox),
    ) as c:
        yield c


def _ops(sandbox: CrmSandbox) -> dict[str, int]:
    return dict(sandbox.stats.snapshot()["by_operation"])


def test_whoami(client: DataverseClient, sandbox: CrmSandbox) -> None:
    me = client.whoami()
    assert me.user_id == ALEX_ID
    assert me.organization_id == sandbox.organization_id
    assert me.business_unit_id
    assert client.call_function("WhoAmI")["UserId"] == ALEX_ID


def test_crud_with_etags(client: DataverseClient) -> None:
    cid = client.create(
        "contacts", {"firstname": "Ada", "lastname": "Crud", "emailaddress1": "ada@crud.test"}
    )
    assert isinstance(cid, str) and uuid.UUID(cid)
    row = client.retrieve("contacts", cid, select=["firstname", "lastname"])
    assert (row["firstname"], row["lastname"]) == ("Ada", "Crud")
    etag = row["@odata.etag"]
    assert etag.startswith('W/"')

    client.update("contacts", cid, {"firstname": "Ada2"}, etag=etag)
    with pytest.raises(ConflictError) as stale:
        client.update("contacts", cid, {"firstname": "Ada3"}, etag=etag)
    assert stale.value.status == 412
    assert client.retrieve("contacts", cid)["firstname"] == "Ada2"

    changed = client.update("contacts", cid, {"lastname": "Lovelace"}, return_representation=True)
    assert changed is not None and changed["lastname"] == "Lovelace"

    with pytest.raises(NotFoundError):
        client.update("contacts", str(uuid.uuid4()), {"firstname": "ghost"})  # If-Match: * never creates
    with pytest.raises(ConflictError):
        client.delete("contacts", cid, etag=etag)  # stale
    client.delete("contacts", cid)
    with pytest.raises(NotFoundError) as gone:
        client.retrieve("contacts", cid)
    assert gone.value.status == 404
    with pytest.raises(NotFoundError):
        client.delete("contacts", cid)


def test_create_with_representation(client: DataverseClient) -> None:
    created = client.create(
        "contacts",
        {"firstname": "Rep", "lastname": "Resented"},
        return_representation=True,
        select=["contactid"],
    )
    assert isinstance(created, dict) and uuid.UUID(created["contactid"])


def test_creating_a_chosen_id_twice_gives_one_record(client: DataverseClient) -> None:
    rid = str(uuid.uuid5(uuid.NAMESPACE_URL, "mid:<dedupe-1@fabrikam.test>"))
    body = {
        "activityid": rid,
        "subject": "Quote",
        "messageid": "<dedupe-1@fabrikam.test>",
        "directioncode": False,
    }
    assert client.create("emails", body) == rid
    with pytest.raises(ConflictError):
        client.create("emails", {**body, "subject": "changed?"})
    rows = list(
        client.query("emails", select=["activityid", "subject"], filter=R.eq("activityid", uuid.UUID(rid)))
    )
    assert [(r["activityid"], r["subject"]) for r in rows] == [(rid, "Quote")]


def test_query_follows_next_link_with_page_size(client: DataverseClient, sandbox: CrmSandbox) -> None:
    tag = f"Pager{uuid.uuid4().hex[:6]}"
    for i in range(23):
        client.create("contacts", {"firstname": f"P{i:02d}", "lastname": tag})
    sandbox.stats.reset()
    rows = list(
        client.query(
            "contacts", select=["firstname"], filter=R.eq("lastname", tag), orderby="firstname", page_size=10
        )
    )
    assert [r["firstname"] for r in rows] == [f"P{i:02d}" for i in range(23)]
    assert _ops(sandbox) == {"GET contacts": 3}
    first = client.query_page("contacts", filter=R.eq("lastname", tag), page_size=10, count=True)
    assert len(first.records) == 10 and first.next_link and first.count == 23
    with pytest.raises(ValueError):
        client.query_page("contacts", top=5, page_size=10)


def test_filters_with_quotes_and_in(client: DataverseClient) -> None:
    client.create(
        "contacts", {"firstname": "Pat", "lastname": "O'Brien", "emailaddress1": "pat+o@brien.test"}
    )
    rows = list(client.query("contacts", select=["lastname"], filter=R.eq("lastname", "O'Brien")))
    assert rows and all(r["lastname"] == "O'Brien" for r in rows)
    wanted = [p.email for p in DEMO_CONTACTS[:5]] + ["pat+o@brien.test", "nobody@nowhere.test"]
    (flt,) = R.in_filters("emailaddress1", wanted)
    found = {
        r["emailaddress1"].lower() for r in client.query("contacts", select=["emailaddress1"], filter=flt)
    }
    assert found == {w.lower() for w in wanted[:-1]}


def test_batch_change_set_with_references(client: DataverseClient, sandbox: CrmSandbox) -> None:
    contact = DEMO_CONTACTS[0]
    account = DEMO_ACCOUNTS[0]
    mid = f"<batch-{uuid.uuid4().hex}@fabrikam.test>"
    batch = client.batch()
    cs = batch.changeset()
    ref = cs.create(
        "emails",
        {
            "subject": "Batch tracked",
            "messageid": mid,
            "directioncode": False,
            R.ACCOUNT.regarding_bind_key: R.ACCOUNT.bind(account.id),
            R.EMAIL_PARTIES: [
                R.party(R.PARTY_SENDER, table="contact", id=contact.id, address=contact.email),
                R.party(R.PARTY_TO, table="systemuser", id=ALEX_ID, address="alex@contoso.example"),
                R.party(R.PARTY_CC, address="someone@elsewhere.test"),
            ],
        },
    )
    cs.create(
        R.EMAIL_ATTACHMENTS,
        {
            R.ATTACHMENT_TO_EMAIL_BIND: ref,
            "objecttypecode": "email",
            "filename": "note.txt",
            "mimetype": "text/plain",
            "body": base64.b64encode(b"hello").decode(),
        },
    )
    cs.update(ref, None, {"statecode": 1, "statuscode": R.STATUS_RECEIVED})
    lookup = batch.query("emails", select=["activityid"], filter=R.eq("messageid", mid))
    sandbox.stats.reset()
    results = batch.execute()
    assert _ops(sandbox) == {"POST $batch": 1}
    assert first_error(results) is None, first_error(results)
    assert [r.status for r in results] == [204, 204, 204, 200]
    email_id = results[0].entity_id
    assert email_id and results[1].entity_id and results[1].entity_id != email_id
    assert results[lookup].json["value"][0]["activityid"] == email_id
    email = client.retrieve(
        "emails",
        email_id,
        select=["statuscode", "_regardingobjectid_value"],
        expand="email_activity_parties($select=participationtypemask,addressused)",
    )
    assert email["statuscode"] == R.STATUS_RECEIVED
    assert email["_regardingobjectid_value"] == account.id
    masks = sorted(p["participationtypemask"] for p in email["email_activity_parties"])
    assert masks == [1, 2, 3]
    attachments = client.get(f"emails({email_id})/email_activity_mime_attachment", {"$select": "filename"})
    assert [a["filename"] for a in attachments["value"]] == ["note.txt"]


def test_batch_continue_on_error_isolates_change_sets(client: DataverseClient) -> None:
    existing = client.create("emails", {"subject": "already there"})
    assert isinstance(existing, str)
    batch = client.batch()
    bad = batch.changeset()
    bad.create("emails", {"subject": "rolled back"})
    bad.create("emails", {"activityid": existing, "subject": "duplicate"})
    good = batch.changeset()
    good.create("emails", {"subject": "kept"})
    results = batch.execute(continue_on_error=True)
    assert results[0].status is None and "rolled back" in str(results[0].error)
    assert isinstance(results[1].error, ConflictError)
    assert results[2].ok and results[2].entity_id
    assert list(client.query("emails", select=["subject"], filter=R.eq("subject", "rolled back"))) == []
    assert client.retrieve("emails", existing)["subject"] == "already there"


def test_batch_stops_at_first_error_without_continue(client: DataverseClient) -> None:
    batch = client.batch()
    batch.request("POST", "contacts", {"firstname": "x", "nosuchcolumn": 1})
    batch.request("POST", "contacts", {"firstname": "never", "lastname": "StopTest"})
    results = batch.execute()
    assert isinstance(results[0].error, CrmError) and results[0].status == 400
    assert results[1].status is None
    assert list(client.query("contacts", filter=R.eq("lastname", "StopTest"))) == []


def test_actions_and_functions(client: DataverseClient) -> None:
    token = client.call_action("GetTrackingTokenEmail", {"Subject": "Hello"})
    assert isinstance(token, dict) and token.get("TrackingToken")
    check = client.call_function(
        "CheckPromoteEmail", {"MessageId": "<never-seen@x.test>", "Subject": "O'Hara", "DirectionCode": 0}
    )
    assert check["ShouldPromote"] is True


def test_tls_refuses_a_client_that_does_not_trust_the_sandbox_ca() -> None:
    """Over TLS the certificate is really checked: without the CA the client gets a clear error."""
    with (
        CrmSandbox(seed="empty", tls=True) as tls,
        DataverseClient(
            tls.base_url, StaticTokenAuth("sandbox"), sleep=lambda s: None, max_retries=0
        ) as untrusting,
        pytest.raises(CrmError) as refused,
    ):
        untrusting.whoami()
    assert "certificate" in str(refused.value).lower() or "ssl" in str(refused.value).lower()


def test_wrong_bearer_is_auth_error(sandbox: CrmSandbox) -> None:
    with (
        DataverseClient(
            sandbox.base_url, StaticTokenAuth("not-the-token"), session_factory=lambda: _session(sandbox)
        ) as bad,
        pytest.raises(AuthError) as info,
    ):
        bad.whoami()
    assert info.value.service == "crm" and "not-the-token" not in str(info.value)


def test_bad_column_is_crm_error_with_code(client: DataverseClient) -> None:
    with pytest.raises(CrmError) as info:
        client.create("contacts", {"nosuchcolumn": 1})
    assert info.value.status == 400 and info.value.code


def test_outbox_poll_and_claim_with_etag(client: DataverseClient, sandbox: CrmSandbox) -> None:
    """The outbox's critical path: one query finds Pending Send mail; a stale claim gets 412."""
    from addin.sandbox.crm.seed import ALEX_MAILBOX_ID

    queued = sandbox.queue_email(DEMO_CONTACTS[1].email, "Your quote", "<p>Hello</p>")
    sandbox.stats.reset()
    page = client.query_page(
        R.EMAIL_SET,
        select=R.OUTBOX_SELECT,
        filter=R.email_filter_pending_send(ALEX_MAILBOX_ID),
        expand=R.PARTIES_EXPAND,
        page_size=50,
        annotations=True,
    )
    assert _ops(sandbox) == {"GET emails": 1}
    row = next(r for r in page.records if r["activityid"] == queued)
    assert row["statuscode"] == R.STATUS_PENDING_SEND
    assert [p["participationtypemask"] for p in row[R.EMAIL_PARTIES] if p["participationtypemask"] == 2] == [
        2
    ]
    etag = row["@odata.etag"]
    client.update(R.EMAIL_SET, queued, {"statuscode": R.STATUS_SENDING}, etag=etag)
    with pytest.raises(ConflictError):  # the second machine's claim with the same (now stale) etag
        client.update(R.EMAIL_SET, queued, {"statuscode": R.STATUS_SENDING}, etag=etag)


def test_many_change_sets_each_calling_their_email_1(client: DataverseClient) -> None:
    """One batch, one change set per message, each using Content-ID 1 for its own e-mail."""
    tag = uuid.uuid4().hex[:8]
    batch = client.batch()
    for n in range(5):
        cs = batch.changeset()
        cs.create("emails", {"subject": f"{tag}-{n}"}, content_id="1")
        cs.create(
            R.EMAIL_ATTACHMENTS,
            {
                R.ATTACHMENT_TO_EMAIL_BIND: "$1",
                "objecttypecode": "email",
                "filename": f"{tag}-{n}.txt",
                "mimetype": "text/plain",
                "body": base64.b64encode(b"x").decode(),
            },
        )
        cs.update("$1", None, {"statecode": 1, "statuscode": R.STATUS_RECEIVED})
    results = batch.execute(continue_on_error=True)
    assert first_error(results) is None, first_error(results)
    for n in range(5):
        email_id = results[3 * n].entity_id
        row = client.retrieve("emails", str(email_id), select=["subject", "statuscode"])
        assert (row["subject"], row["statuscode"]) == (f"{tag}-{n}", R.STATUS_RECEIVED)
        files = client.get(f"emails({email_id})/email_activity_mime_attachment", {"$select": "filename"})
        assert [f["filename"] for f in files["value"]] == [f"{tag}-{n}.txt"]
