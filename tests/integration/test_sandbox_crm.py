"""The sandbox CRM over real HTTP: seed, CRUD, e-mail rules, queries, the Python API and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import requests
from test_sandbox_crm_support import Api, api, crm, error_of

from addin.sandbox.crm import ALEX_EMAIL, ALEX_ID, DEMO_ACCOUNTS, DEMO_CONTACTS, CrmSandbox

__all__ = ["api", "crm"]  # fixtures


def _email_with_parties(contact_id: str, address: str) -> dict[str, object]:
    return {
        "subject": "RE: Quote Q-1042",
        "description": "<p>We accept.</p>",
        "directioncode": False,
        "messageid": "<CAF3x9-abc123@mail.fabrikam.example>",
        "actualend": "2025-05-06T09:15:00Z",
        "email_activity_parties": [
            {
                "participationtypemask": 1,
                "partyid_contact@odata.bind": f"/contacts({contact_id})",
                "addressused": address,
            },
            {"participationtypemask": 2, "partyid_systemuser@odata.bind": f"/systemusers({ALEX_ID})"},
            {"participationtypemask": 3, "addressused": "procurement@fabrikam.example"},
        ],
    }


# -- seed -----------------------------------------------------------------------------------


def test_demo_seed_has_alex_with_outlook_delivery_and_filtering_2(api: Api) -> None:
    who = api.get("WhoAmI").json()
    assert who["UserId"] == ALEX_ID
    user = api.get(
        f"systemusers({ALEX_ID})?$select=internalemailaddress,fullname,_defaultmailbox_value"
    ).json()
    assert user["internalemailaddress"] == ALEX_EMAIL
    assert user["fullname"] == "Alex Wilber"
    mailbox = api.get(
        f"mailboxes({user['_defaultmailbox_value']})"
        "?$select=emailaddress,incomingemaildeliverymethod,outgoingemaildeliverymethod"
    ).json()
    assert (mailbox["incomingemaildeliverymethod"], mailbox["outgoingemaildeliverymethod"]) == (1, 1)
    settings = api.get(f"usersettingscollection({ALEX_ID})?$select=incomingemailfilteringmethod").json()
    assert settings["incomingemailfilteringmethod"] == 2
    org = api.get("organizations?$select=maxuploadfilesize,blockedattachments").json()["value"][0]
    assert org["maxuploadfilesize"] == 5_242_880 and "exe" in org["blockedattachments"].split(";")


def test_demo_seed_is_realistic_and_deterministic(api: Api, tmp_path: Path) -> None:
    colleagues = api.get("systemusers?$select=internalemailaddress").json()["value"]
    assert len(colleagues) >= 4 and all(
        u["internalemailaddress"].endswith("@contoso.example") for u in colleagues
    )
    accounts = api.get("accounts?$select=name,emailaddress1&$count=true").json()
    assert accounts["@odata.count"] == len(DEMO_ACCOUNTS) == 20
    contacts = api.get("contacts?$select=emailaddress1,_parentcustomerid_value").json()["value"]
    assert len(contacts) == len(DEMO_CONTACTS) == 60
    assert {c["emailaddress1"] for c in contacts} == {p.email for p in DEMO_CONTACTS}
    assert not any(c["emailaddress1"].endswith("contoso.example") for c in contacts)
    for name in ("leads", "opportunities", "incidents"):
        rows = api.get(f"{name}?$filter=statecode eq 0").json()["value"]
        assert rows, name
    # Same seed, same ids: a second sandbox has identical records.
    with CrmSandbox(tmp_path / "other") as other:
        assert other.db.get("contacts", DEMO_CONTACTS[5].id)["emailaddress1"] == DEMO_CONTACTS[5].email


def test_empty_seed_keeps_only_the_organisation_and_the_user(tmp_path: Path) -> None:
    with CrmSandbox(tmp_path, seed="empty") as sandbox:
        assert sandbox.db.count("contacts") == 0 and sandbox.db.count("systemusers") == 1
        assert sandbox.db.get("systemusers", ALEX_ID) is not None


def test_data_survives_a_restart_in_the_same_folder(tmp_path: Path) -> None:
    with CrmSandbox(tmp_path) as first:
        rid = Api(first).create("contacts", {"firstname": "Persist", "lastname": "Ence"})
    with CrmSandbox(tmp_path) as second:
        assert second.db.get("contacts", rid)["fullname"] == "Persist Ence"


# -- auth and errors -----------------------------------------------------------------------


def test_missing_or_wrong_token_is_401_in_dataverse_error_shape(crm: CrmSandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic sandbox"}):
        r = requests.get(crm.base_url + "WhoAmI", headers=headers, timeout=10)
        assert r.status_code == 401
        error_of(r)
        assert "WWW-Authenticate" in r.headers


def test_unknown_entity_set_and_property_errors(api: Api) -> None:
    r = api.get("Account")
    assert r.status_code == 404
    assert error_of(r) == {"code": "0x8006088a", "message": "Resource not found for the segment 'Account'."}
    r = api.get("contacts?$select=nosuchcolumn")
    assert r.status_code == 400 and error_of(r)["code"] == "0x80060888"
    missing = uuid.uuid4()
    r = api.get(f"contacts({missing})")
    assert r.status_code == 404
    assert error_of(r)["message"] == f"contact With Id = {missing} Does Not Exist"
    r = api.post("contacts", {"firstname": "X", "nosuch": 1})
    assert r.status_code == 400 and error_of(r)["code"] == "0x80048d19"
    r = api.get("contacts?$skip=10")
    assert r.status_code == 400


# -- CRUD -----------------------------------------------------------------------------------


def test_create_204_with_entity_id_and_201_with_representation(api: Api) -> None:
    r = api.post("contacts", {"firstname": "Rafel", "lastname": "Shillo"})
    assert r.status_code == 204 and r.content == b""
    assert r.headers["OData-EntityId"].startswith(api.base + "contacts(")
    r = api.post("contacts?$select=fullname", {"firstname": "Ana"}, Prefer="return=representation")
    assert r.status_code == 201
    assert r.headers["Preference-Applied"] == "return=representation"
    body = r.json()
    assert body["fullname"] == "Ana" and body["@odata.etag"].startswith('W/"')
    assert body["@odata.context"] == api.base + "$metadata#contacts(fullname)/$entity"


def test_patch_with_representation_and_single_properties(api: Api) -> None:
    rid = api.create("contacts", {"firstname": "Single", "lastname": "Prop", "telephone1": "555"})
    r = api.patch(f"contacts({rid})?$select=jobtitle", {"jobtitle": "CTO"}, Prefer="return=representation")
    assert r.status_code == 200 and r.json()["jobtitle"] == "CTO"
    assert r.headers["Preference-Applied"] == "return=representation"
    assert api.get(f"contacts({rid})/telephone1/$value").text == "555"
    assert api.delete(f"contacts({rid})/telephone1").status_code == 204
    assert api.get(f"contacts({rid})/telephone1").status_code == 204  # null property
    assert api.get(f"contacts({rid})/nosuch").status_code == 404


def test_client_supplied_key_and_duplicate_key_error(api: Api) -> None:
    rid = str(uuid.uuid4())
    assert api.create("contacts", {"contactid": rid, "lastname": "Keyed"}) == rid
    r = api.post("contacts", {"contactid": rid, "lastname": "Again"})
    assert r.status_code == 412
    assert error_of(r) == {"code": "0x80040237", "message": "Cannot insert duplicate key."}


def test_patch_update_and_stale_if_match_412(api: Api) -> None:
    rid = api.create("contacts", {"lastname": "Etag"})
    etag = api.get(f"contacts({rid})?$select=lastname").json()["@odata.etag"]
    assert api.patch(f"contacts({rid})", {"jobtitle": "CFO"}, If_Match=etag).status_code == 204
    r = api.patch(f"contacts({rid})", {"jobtitle": "CEO"}, If_Match=etag)
    assert r.status_code == 412
    assert error_of(r)["message"] == (
        "The version of the existing record doesn't match the RowVersion property provided."
    )
    assert api.crm.db.get("contacts", rid)["jobtitle"] == "CFO"


def test_upsert_guards(api: Api) -> None:
    rid = str(uuid.uuid4())
    r = api.patch(f"contacts({rid})", {"lastname": "Nope"}, If_Match="*")
    assert r.status_code == 404
    assert api.patch(f"contacts({rid})", {"lastname": "Created"}, If_None_Match="*").status_code == 204
    assert api.crm.db.get("contacts", rid)["lastname"] == "Created"
    r = api.patch(f"contacts({rid})", {"lastname": "Twice"}, If_None_Match="*")
    assert r.status_code == 412
    assert error_of(r) == {"code": "", "message": "A record with matching key values already exists."}
    assert api.patch(f"contacts({rid})", {"lastname": "Updated"}, If_Match="*").status_code == 204
    assert api.crm.db.get("contacts", rid)["lastname"] == "Updated"


def test_idempotent_create_by_upsert_with_deep_inserted_parties(api: Api) -> None:
    """The bridge's exactly-once create: PATCH emails(<uuid5>) with If-None-Match: * (reference §4.6)."""
    c = DEMO_CONTACTS[2]
    rid = str(uuid.uuid5(uuid.NAMESPACE_URL, "<idem@fabrikam.example>"))
    body = _email_with_parties(c.id, c.email)
    assert api.patch(f"emails({rid})", body, If_None_Match="*").status_code == 204
    parties = api.get(f"emails({rid})/email_activity_parties?$select=participationtypemask").json()["value"]
    assert sorted(p["participationtypemask"] for p in parties) == [1, 2, 3]
    assert api.patch(f"emails({rid})", body, If_None_Match="*").status_code == 412
    assert len(api.crm.db.query("activityparties", lambda p: p["_activityid_value"] == rid)) == 3


def test_delete_cascades_to_parties_and_attachments(api: Api) -> None:
    c = DEMO_CONTACTS[0]
    eid = api.create("emails", _email_with_parties(c.id, c.email))
    api.create(
        "activitymimeattachments",
        {
            "objectid_email@odata.bind": f"/emails({eid})",
            "objecttypecode": "email",
            "filename": "a.txt",
            "body": "aGk=",
        },
    )
    assert api.delete(f"emails({eid})").status_code == 204
    assert api.get(f"emails({eid})").status_code == 404
    assert not api.crm.db.query("activityparties", lambda p: p.get("_activityid_value") == eid)
    assert not api.crm.db.query("activitymimeattachments", lambda a: a.get("_objectid_value") == eid)
    assert api.delete(f"emails({eid})").status_code == 404


# -- e-mail rules -------------------------------------------------------------------------


def test_email_deep_insert_binds_and_lookup_annotations(api: Api) -> None:
    c = DEMO_CONTACTS[0]
    opp = api.crm.db.query("opportunities")[0]["opportunityid"]
    body = _email_with_parties(c.id, c.email)
    body["regardingobjectid_opportunity_email@odata.bind"] = f"/opportunities({opp})"
    body["ownerid@odata.bind"] = f"/systemusers({ALEX_ID})"
    eid = api.create("emails", body)
    r = api.get(
        f"emails({eid})?$select=subject,statuscode,_regardingobjectid_value,_emailsender_value,sender,torecipients"
        "&$expand=email_activity_parties($select=participationtypemask,addressused,_partyid_value)",
        Prefer='odata.include-annotations="*"',
    )
    assert r.status_code == 200
    e = r.json()
    assert e["statuscode"] == 1 and e["statuscode@OData.Community.Display.V1.FormattedValue"] == "Draft"
    assert e["_regardingobjectid_value"] == opp
    assert e["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "opportunity"
    assert e["_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == (
        "regardingobjectid_opportunity_email"
    )
    assert e["_emailsender_value"] == c.id and e["sender"] == c.email
    assert e["torecipients"] == ALEX_EMAIL  # filled from the to party's own address
    parties = sorted(e["email_activity_parties"], key=lambda p: p["participationtypemask"])
    assert [p["participationtypemask"] for p in parties] == [1, 2, 3]
    assert (
        parties[2]["_partyid_value"] is None and parties[2]["addressused"] == "procurement@fabrikam.example"
    )


def test_email_read_only_columns_and_statecode_on_create_are_refused(api: Api) -> None:
    for column, value in (
        ("statecode", 1),
        ("inreplyto", "<x@y>"),
        ("conversationindex", "AQ=="),
        ("senton", "2025-01-01T00:00:00Z"),
        ("correlationmethod", 3),
    ):
        r = api.post("emails", {"subject": "x", column: value})
        assert r.status_code == 400, column
        assert error_of(r)["code"] == "0x80044331"
    r = api.post(
        "emails", {"subject": "x", "emailsender_contact@odata.bind": f"/contacts({DEMO_CONTACTS[0].id})"}
    )
    assert r.status_code == 400
    r = api.post("emails", {"subject": "x" * 801})
    assert r.status_code == 400 and "maximum allowed length of '800'" in error_of(r)["message"]


def test_email_state_rules(api: Api) -> None:
    eid = api.create("emails", {"subject": "state", "directioncode": False})
    r = api.patch(f"emails({eid})", {"statecode": 0, "statuscode": 4})
    assert r.status_code == 400 and "is not a valid status code" in error_of(r)["message"]
    assert api.patch(f"emails({eid})", {"statecode": 1, "statuscode": 4}).status_code == 204
    r = api.patch(f"emails({eid})", {"subject": "edited"})
    assert r.status_code == 400  # a completed e-mail is read-only
    # Status alone implies its state: Pending Send 6 and Sending 7 belong to statecode 1, Failed 8 to 0.
    assert api.patch(f"emails({eid})", {"statuscode": 8}).status_code == 204
    assert api.crm.db.get("emails", eid)["statecode"] == 0
    assert api.patch(f"emails({eid})", {"subject": "open again"}).status_code == 204
    assert api.patch(f"emails({eid})", {"statuscode": 6}).status_code == 204
    claim = api.patch(f"emails({eid})", {"statuscode": 7, "messageid": "<m1@contoso.example>"})
    assert claim.status_code == 204
    rec = api.crm.db.get("emails", eid)
    assert (rec["statecode"], rec["statuscode"], rec["messageid"]) == (1, 7, "<m1@contoso.example>")


def test_attachment_limits(api: Api) -> None:
    eid = api.create("emails", {"subject": "att"})
    ok = {"objectid_email@odata.bind": f"/emails({eid})", "objecttypecode": "email", "body": "aGVsbG8="}
    aid = api.create("activitymimeattachments", {**ok, "filename": "hello.txt", "mimetype": "text/plain"})
    assert api.get(f"activitymimeattachments({aid})?$select=filesize").json()["filesize"] == 5
    r = api.post("activitymimeattachments", {**ok, "filename": "setup.exe"})
    assert r.status_code == 400
    api.crm.db.update("organizations", api.crm.organization_id, {"maxuploadfilesize": 3})
    r = api.post("activitymimeattachments", {**ok, "filename": "big.txt"})
    assert r.status_code == 400
    listing = api.get(f"emails({eid})/email_activity_mime_attachment?$select=filename").json()["value"]
    assert [a["filename"] for a in listing] == ["hello.txt"]


# -- queries --------------------------------------------------------------------------------


def test_filter_operators_and_functions(api: Api) -> None:
    def names(flt: str) -> set[str]:
        r = api.get(f"contacts?$select=fullname&$filter={requests.utils.quote(flt)}")
        assert r.status_code == 200, r.text
        return {c["fullname"] for c in r.json()["value"]}

    jane = DEMO_CONTACTS[0]
    assert names(f"emailaddress1 eq '{jane.email.upper()}'") == {jane.fullname}  # case-insensitive
    assert names("startswith(fullname,'Jane') and endswith(emailaddress1,'fabrikam.example')") == {
        jane.fullname
    }
    assert jane.fullname not in names("not contains(emailaddress1,'fabrikam')")
    both = names(f"emailaddress1 eq '{jane.email}' or emailaddress1 eq '{DEMO_CONTACTS[1].email}'")
    assert both == {jane.fullname, DEMO_CONTACTS[1].fullname}
    in_ = names(
        "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues="
        f"['{jane.email}','{DEMO_CONTACTS[2].email}','nobody@x.example'])"
    )
    assert in_ == {jane.fullname, DEMO_CONTACTS[2].fullname}
    assert names("telephone1 eq null") == set()
    assert len(names("jobtitle ne 'CFO'")) + len(names("jobtitle eq 'CFO'")) == 60
    assert names(f"_parentcustomerid_value eq {DEMO_ACCOUNTS[0].id}") == {
        p.fullname for p in DEMO_CONTACTS[:3]
    }
    # Query functions, also with parameter aliases (Web API query function reference).
    assert len(names("Microsoft.Dynamics.CRM.Last7Days(PropertyName='createdon')")) == 60
    assert names("Microsoft.Dynamics.CRM.OlderThanXDays(PropertyName='createdon',PropertyValue=1)") == set()
    assert names("Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2000-01-01')") == set()
    r = api.get(
        "contacts?$select=fullname&$filter=Microsoft.Dynamics.CRM.LastXHours(PropertyName=@p1,PropertyValue=@p2)"
        "&@p1='createdon'&@p2='1'"
    )
    assert len(r.json()["value"]) == 60
    r = api.get("contacts?$select=fullname&$filter=emailaddress1 eq @e&@e='" + jane.email + "'")
    assert [c["fullname"] for c in r.json()["value"]] == [jane.fullname]
    r = api.get("contacts?$filter=fullname eq")
    assert r.status_code == 400 and error_of(r)["code"] == "0x80060888"


def test_any_lambda_over_email_activity_parties(api: Api) -> None:
    c = DEMO_CONTACTS[3]
    eid = api.crm.queue_email(c.email, "Offer", "Hello")
    flt = f"email_activity_parties/any(p: p/participationtypemask eq 2 and p/_partyid_value eq {c.id})"
    r = api.get(f"emails?$select=subject,statuscode&$filter={requests.utils.quote(flt)}")
    assert [e["activityid"] for e in r.json()["value"]] == [eid]
    flt = f"email_activity_parties/any(p: p/participationtypemask eq 1 and p/_partyid_value eq {c.id})"
    assert api.get(f"emails?$filter={requests.utils.quote(flt)}").json()["value"] == []


def test_orderby_top_count_and_expand(api: Api) -> None:
    r = api.get("accounts?$select=name&$orderby=name desc&$top=3&$count=true")
    body = r.json()
    names = [a["name"] for a in body["value"]]
    assert names == sorted((a.fullname for a in DEMO_ACCOUNTS), reverse=True)[:3]
    assert body["@odata.count"] == 20
    r = api.get(f"accounts({DEMO_ACCOUNTS[0].id})?$select=name&$expand=primarycontactid($select=fullname)")
    assert r.json()["primarycontactid"]["fullname"] == DEMO_CONTACTS[0].fullname
    r = api.get(
        f"accounts({DEMO_ACCOUNTS[0].id})?$select=name&$expand=contact_customer_accounts($select=fullname)"
    )
    assert {c["fullname"] for c in r.json()["contact_customer_accounts"]} == {
        p.fullname for p in DEMO_CONTACTS[:3]
    }


def test_paging_with_maxpagesize_and_next_link(api: Api) -> None:
    seen: list[str] = []
    url = "contacts?$select=fullname"
    pages = 0
    while url:
        r = api.get(url, Prefer="odata.maxpagesize=25")
        assert r.status_code == 200
        assert r.headers["Preference-Applied"] == "odata.maxpagesize=25"
        body = r.json()
        assert len(body["value"]) <= 25
        seen += [c["contactid"] for c in body["value"]]
        url = body.get("@odata.nextLink", "")
        assert not url or "$skiptoken=" in url
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 60


def test_if_none_match_gives_304_unless_annotations(api: Api) -> None:
    rid = DEMO_CONTACTS[0].id
    etag = api.get(f"contacts({rid})?$select=fullname").json()["@odata.etag"]
    assert api.get(f"contacts({rid})?$select=fullname", If_None_Match=etag).status_code == 304
    r = api.get(
        f"contacts({rid})?$select=fullname", If_None_Match=etag, Prefer='odata.include-annotations="*"'
    )
    assert r.status_code == 200


# -- Python API and CLI ---------------------------------------------------------------------


def test_queue_email_creates_pending_send_for_alex(crm: CrmSandbox) -> None:
    c = DEMO_CONTACTS[4]
    opp = crm.db.query("opportunities")[1]["opportunityid"]
    eid = crm.queue_email(c.email, "Your quote", "<p>Hi</p>", regarding=f"opportunities({opp})")
    rec = crm.db.get("emails", eid)
    assert (rec["statecode"], rec["statuscode"], rec["directioncode"]) == (1, 6, True)
    assert rec["subject"].startswith("Your quote CRM:") and rec["trackingtoken"] in rec["subject"]
    assert rec["_regardingobjectid_value"] == opp
    mailbox = crm.db.get("systemusers", ALEX_ID)["_defaultmailbox_value"]
    assert rec["_sendermailboxid_value"] == mailbox and rec["_emailsender_value"] == ALEX_ID
    parties = crm.db.query("activityparties", lambda p: p["_activityid_value"] == eid)
    assert {(p["participationtypemask"], p["addressused"]) for p in parties} == {
        (1, ALEX_EMAIL),
        (2, c.email),
    }


def test_cli_prints_url_first_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "addin",
            "sandbox",
            "crm",
            "--port",
            "0",
            "--seed",
            "demo",
            "--data",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("http://127.0.0.1:") and first.endswith("/api/data/v9.2/")
        r = requests.get(first + "WhoAmI", headers={"Authorization": "Bearer sandbox"}, timeout=10)
        assert r.json()["UserId"] == ALEX_ID
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "crm-sandbox.sqlite3").exists()


def test_entity_definitions_expose_regarding_navigation_names(api: Api) -> None:
    """The discovery query of reference §1.4 ("Robust approach")."""
    r = api.get(
        "EntityDefinitions(LogicalName='email')/ManyToOneRelationships"
        "?$select=ReferencedEntity,ReferencingEntityNavigationPropertyName"
        "&$filter=ReferencingAttribute eq 'regardingobjectid'"
    )
    assert r.status_code == 200
    navs = {
        row["ReferencedEntity"]: row["ReferencingEntityNavigationPropertyName"] for row in r.json()["value"]
    }
    assert navs == {
        t: f"regardingobjectid_{t}_email" for t in ("account", "contact", "lead", "opportunity", "incident")
    }
    r = api.get("EntityDefinitions(LogicalName='email')?$select=IsOptimisticConcurrencyEnabled,EntitySetName")
    assert r.json()["IsOptimisticConcurrencyEnabled"] is True and r.json()["EntitySetName"] == "emails"
    assert api.get("EntityDefinitions(LogicalName='nosuch')").status_code == 404


def test_cli_refuses_a_bad_throttle_with_a_clear_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "addin", "sandbox", "crm", "--throttle", "often"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "--throttle must be N/SECONDS" in done.stderr
    assert done.stdout == ""
