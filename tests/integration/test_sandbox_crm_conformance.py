"""Conformance: Microsoft's published Web API request/response pairs replayed against the sandbox.

Each test sends the documented request (``[Organization Uri]`` replaced by the sandbox) and checks the
documented status, headers and body shape. Values the server assigns (ids, ETag numbers) are compared
by form, not by value.
"""

from __future__ import annotations

import re
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sandbox_crm_support import Api, api, crm, error_of

__all__ = ["api", "crm"]  # fixtures

ETAG = re.compile(r'^W/"\d+"$')
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _id_from(entity_id: str, entity_set: str) -> str:
    m = re.fullmatch(rf".*/api/data/v9\.2/{entity_set}\(({GUID})\)", entity_id)
    assert m, entity_id
    return m.group(1)


def test_basic_operations_section_1_create_update_retrieve(api: Api) -> None:
    """Section 1 of https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-basic-operations-sample
    (create 204 + OData-EntityId, PATCH with If-Match: *, GET with annotations, PUT/GET one property)."""
    r = api.post("contacts", {"firstname": "Rafel", "lastname": "Shillo"})
    assert r.status_code == 204
    assert r.headers["OData-Version"] == "4.0"
    contact = _id_from(r.headers["OData-EntityId"], "contacts")

    r = api.patch(
        f"contacts({contact})", {"annualincome": 80000, "jobtitle": "Junior Developer"}, If_Match="*"
    )
    assert r.status_code == 204
    assert r.headers["OData-EntityId"] == f"{api.base}contacts({contact})"

    r = api.get(
        f"contacts({contact})?$select=fullname,annualincome,jobtitle,description",
        Prefer='odata.include-annotations="*"',
    )
    assert r.status_code == 200
    assert ETAG.match(r.headers["ETag"])
    assert r.headers["Preference-Applied"] == 'odata.include-annotations="*"'
    body = r.json()
    assert body["@odata.context"] == (
        f"{api.base}$metadata#contacts(fullname,annualincome,jobtitle,description)/$entity"
    )
    assert body["@odata.etag"] == r.headers["ETag"]
    assert body["fullname"] == "Rafel Shillo"
    assert body["annualincome"] == 80000.0
    assert body["annualincome@OData.Community.Display.V1.FormattedValue"] == "$80,000.00"
    assert body["jobtitle"] == "Junior Developer"
    assert body["description"] is None
    assert body["contactid"] == contact

    r = api.patch(
        f"contacts({contact})",
        {"jobtitle": "Senior Developer", "annualincome": 95000, "description": "Assignment to-be-determined"},
        If_Match="*",
    )
    assert r.status_code == 204

    r = api.request("PUT", f"contacts({contact})/telephone1", {"value": "555-0105"})
    assert r.status_code == 204
    r = api.get(f"contacts({contact})/telephone1")
    assert r.status_code == 200
    assert r.json() == {
        "@odata.context": f"{api.base}$metadata#contacts({contact})/telephone1",
        "value": "555-0105",
    }


def test_basic_operations_section_2_create_with_association(api: Api) -> None:
    """Section 2 of https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-basic-operations-sample
    (``primarycontactid@odata.bind`` on create, then ``$expand`` of the single-valued property)."""
    contact = api.create(
        "contacts", {"firstname": "Rafel", "lastname": "Shillo", "jobtitle": "Senior Developer"}
    )
    r = api.post(
        "accounts",
        {
            "name": "Contoso Ltd",
            "telephone1": "555-5555",
            "primarycontactid@odata.bind": f"contacts({contact})",
        },
    )
    assert r.status_code == 204
    account = _id_from(r.headers["OData-EntityId"], "accounts")
    r = api.get(
        f"accounts({account})?$select=name,&$expand=primarycontactid($select=fullname,jobtitle,annualincome)",
        Prefer='odata.include-annotations="*"',
    )
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"] == (
        f"{api.base}$metadata#accounts(name,primarycontactid(fullname,jobtitle,annualincome))/$entity"
    )
    assert body["name"] == "Contoso Ltd" and body["accountid"] == account
    primary = body["primarycontactid"]
    assert ETAG.match(primary["@odata.etag"])
    assert (primary["fullname"], primary["jobtitle"], primary["contactid"]) == (
        "Rafel Shillo",
        "Senior Developer",
        contact,
    )


def test_basic_operations_section_3_deep_insert(api: Api) -> None:
    """Section 3 of https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-basic-operations-sample
    (account + primary contact + the contact's tasks in one POST)."""
    tasks = [
        ("Sign invoice", "Invoice #12321", "2023-04-19T03:00:00+07:00"),
        ("Setup new display", "Theme is - Spring is in the air", "2023-04-20T03:00:00+07:00"),
        ("Conduct training", "Train team on making our new blended coffee", "2023-04-21T03:00:00+07:00"),
    ]
    r = api.post(
        "accounts",
        {
            "name": "Fourth Coffee",
            "primarycontactid": {
                "firstname": "Susie",
                "lastname": "Curtis",
                "jobtitle": "Coffee Master",
                "annualincome": 48000,
                "Contact_Tasks": [
                    {
                        "subject": s,
                        "description": d,
                        "scheduledstart": start,
                        "scheduledend": start.replace("T03:", "T04:"),
                        "scheduleddurationminutes": 60,
                    }
                    for s, d, start in tasks
                ],
            },
        },
    )
    assert r.status_code == 204
    account = _id_from(r.headers["OData-EntityId"], "accounts")
    r = api.get(
        f"accounts({account})?$select=name&$expand=primarycontactid($select=fullname,jobtitle,annualincome)",
        Prefer='odata.include-annotations="*"',
    )
    primary = r.json()["primarycontactid"]
    assert primary["fullname"] == "Susie Curtis"
    assert primary["annualincome@OData.Community.Display.V1.FormattedValue"] == "$48,000.00"
    r = api.get(
        f"contacts({primary['contactid']})?$select=fullname"
        "&$expand=Contact_Tasks($select=subject,description,scheduledstart,scheduledend)",
        Prefer='odata.include-annotations="*"',
    )
    body = r.json()
    assert body["@odata.context"] == (
        f"{api.base}$metadata#contacts(fullname,Contact_Tasks(subject,description,scheduledstart,scheduledend))/$entity"
    )
    got = [(t["subject"], t["scheduledstart"], t["scheduledend"]) for t in body["Contact_Tasks"]]
    # The published response shows the +07:00 times normalised to UTC ("Z").
    assert got == [
        ("Sign invoice", "2023-04-18T20:00:00Z", "2023-04-18T21:00:00Z"),
        ("Setup new display", "2023-04-19T20:00:00Z", "2023-04-19T21:00:00Z"),
        ("Conduct training", "2023-04-20T20:00:00Z", "2023-04-20T21:00:00Z"),
    ]
    first = body["Contact_Tasks"][0]
    assert re.fullmatch(
        r"4/18/2023 \d{1,2}:00 [AP]M", first["scheduledstart@OData.Community.Display.V1.FormattedValue"]
    )


def test_basic_operations_section_4_associate_and_disassociate(api: Api) -> None:
    """Section 4 of https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-basic-operations-sample
    (POST …/contact_customer_accounts/$ref with ``@odata.id``, GET the collection, DELETE …(id)/$ref)."""
    contact = api.create(
        "contacts", {"firstname": "Rafel", "lastname": "Shillo", "jobtitle": "Senior Developer"}
    )
    account = api.create("accounts", {"name": "Fourth Coffee"})
    r = api.post(
        f"accounts({account})/contact_customer_accounts/$ref",
        {"@odata.id": f"https://crmue.api.crm.dynamics.com/api/data/v9.2/contacts({contact})"},
    )
    assert r.status_code == 204
    r = api.get(f"accounts({account})/contact_customer_accounts?$select=fullname,jobtitle")
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"] == f"{api.base}$metadata#contacts(fullname,jobtitle)"
    assert [(c["fullname"], c["jobtitle"], c["contactid"]) for c in body["value"]] == [
        ("Rafel Shillo", "Senior Developer", contact)
    ]
    r = api.delete(f"accounts({account})/contact_customer_accounts({contact})/$ref")
    assert r.status_code == 204
    assert api.get(f"accounts({account})/contact_customer_accounts?$select=fullname").json()["value"] == []
    # Section 5: delete.
    assert api.delete(f"contacts({contact})").status_code == 204


def test_conditional_retrieval_304(api: Api) -> None:
    """ "Conditional retrievals" in https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
    (``If-None-Match: <etag>`` gives 304 Not Modified while unchanged, 200 once changed)."""
    account = api.create("accounts", {"name": "Etag Co", "accountnumber": "A-1"})
    url = f"accounts({account})?$select=accountnumber,createdon,name,revenue"
    etag = api.get(url).json()["@odata.etag"]
    r = api.get(url, If_None_Match=etag)
    assert r.status_code == 304 and r.content == b""
    api.patch(f"accounts({account})", {"name": "Etag Co 2"})
    r = api.get(url, If_None_Match=etag)
    assert r.status_code == 200 and r.json()["name"] == "Etag Co 2"


def test_conditional_upsert_prevent_create_and_prevent_update(api: Api) -> None:
    """ "Limit upsert operations" in https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
    (``If-Match: *`` → 404 body; ``If-None-Match: *`` → 412 body, both with an empty code)."""
    account = str(uuid.uuid4())
    body = {
        "name": "Updated Sample Account ",
        "description": "This is the updated description of the sample account",
    }
    r = api.patch(f"accounts({account})", body, If_Match="*")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json; odata.metadata=minimal"
    assert r.json() == {"error": {"code": "", "message": f"account With Id = {account} Does Not Exist"}}
    assert api.patch(f"accounts({account})", body, If_None_Match="*").status_code == 204
    r = api.patch(f"accounts({account})", body, If_None_Match="*")
    assert r.status_code == 412
    assert r.json() == {"error": {"code": "", "message": "A record with matching key values already exists."}}


def test_optimistic_concurrency_on_delete_and_update(api: Api) -> None:
    """ "Apply optimistic concurrency" in https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
    (a stale ``If-Match`` on DELETE and PATCH gives 412 with the RowVersion message)."""
    account = api.create("accounts", {"name": "Concurrency"})
    stale = api.get(f"accounts({account})?$select=name").json()["@odata.etag"]
    api.patch(f"accounts({account})", {"name": "Changed elsewhere"})
    expected = {
        "error": {
            "code": "",
            "message": "The version of the existing record doesn't match the RowVersion property provided.",
        }
    }
    r = api.delete(f"accounts({account})", If_Match=stale)
    assert r.status_code == 412 and r.json() == expected
    r = api.patch(f"accounts({account})", {"name": "Updated Account Name"}, If_Match=stale)
    assert r.status_code == 412 and r.json() == expected
    current = api.get(f"accounts({account})?$select=name").json()["@odata.etag"]
    assert api.delete(f"accounts({account})", If_Match=current).status_code == 204


def test_who_am_i(api: Api) -> None:
    """WhoAmI in https://learn.microsoft.com/power-apps/developer/data-platform/webapi/use-web-api-functions
    (unbound function; response ``WhoAmIResponse`` with BusinessUnitId, UserId, OrganizationId)."""
    for url in ("WhoAmI", "WhoAmI()"):
        r = api.get(url)
        assert r.status_code == 200
        body = r.json()
        assert body["@odata.context"] == f"{api.base}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"
        assert set(body) == {"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"}
        assert all(re.fullmatch(GUID, body[k]) for k in ("BusinessUnitId", "UserId", "OrganizationId"))
    # The conditional-operations examples address v9.0 of the same service.
    older = api.get(api.base.replace("/v9.2/", "/v9.0/") + "WhoAmI").json()
    assert older["@odata.context"].endswith("/api/data/v9.0/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")


def test_page_results_next_link(api: Api) -> None:
    """https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results
    (``Prefer: odata.maxpagesize``, ``Preference-Applied``, ``@odata.nextLink`` with ``$skiptoken``,
    followed as returned with the same preference; ``$top`` is not combined with paging)."""
    r = api.get("accounts?$select=name", Prefer="odata.maxpagesize=7")
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=7"
    body = r.json()
    assert len(body["value"]) == 7
    link = body["@odata.nextLink"]
    assert link.startswith(f"{api.base}accounts?") and "$skiptoken=" in link and "$select=name" in link
    names = [a["name"] for a in body["value"]]
    while link:
        body = api.get(link, Prefer="odata.maxpagesize=7").json()
        names += [a["name"] for a in body["value"]]
        link = body.get("@odata.nextLink")
    assert len(names) == len(set(names)) == 20


def test_error_shape_and_unknown_segment(api: Api) -> None:
    """ "Resource not found for the segment" in
    https://learn.microsoft.com/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors and the
    error shape in https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors."""
    r = api.get("Account")
    assert r.status_code == 404
    assert error_of(r) == {"code": "0x8006088a", "message": "Resource not found for the segment 'Account'."}
    r = api.get("accounts?$select=nosuchcolumn")
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Could not find a property named 'nosuchcolumn' on type 'Microsoft.Dynamics.CRM.account'."
    )
    # "Include more details with errors": annotations on request.
    r = api.get("accounts?$select=nosuchcolumn", Prefer='odata.include-annotations="*"')
    details = r.json()["error"]
    assert details["@Microsoft.PowerApps.CDS.HelpLink"] == (
        "http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException%3a80060888&client=platform"
    )
    assert details["@Microsoft.PowerApps.CDS.InnerError.Message"] == details["message"]


def test_query_filter_orderby_top_count(api: Api) -> None:
    """Query options from https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
    and https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/order-rows
    (``contains``, ``eq`` on lookups, ``$orderby`` with two keys, ``$top``, ``$count=true``)."""
    r = api.get(
        "contacts?$select=fullname&$filter=contains(fullname,'an')"
        "&$orderby=lastname asc,firstname desc&$count=true"
    )
    body = r.json()
    assert body["@odata.count"] == len(body["value"]) > 0
    assert all("an" in c["fullname"].lower() for c in body["value"])
    r = api.get("accounts?$select=name&$top=2")
    assert len(r.json()["value"]) == 2


def test_count_rows(api: Api) -> None:
    """https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/count-rows
    (``$count=true`` counts all matches irrespective of the page size; totalrecordcount annotations;
    ``/$count`` answers a plain number)."""
    for i in range(10):
        api.create("accounts", {"name": f"Account {i} (sample)"})
    r = api.get(
        "accounts?$select=name&$filter=contains(name,'sample')&$count=true",
        Prefer='odata.maxpagesize=3, odata.include-annotations="Microsoft.Dynamics.CRM.*"',
    )
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"] == f"{api.base}$metadata#accounts(name)"
    assert body["@odata.count"] == 10 and len(body["value"]) == 3
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 10
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    link = body["@odata.nextLink"]
    assert link.startswith(
        f"{api.base}accounts?$select=name&$filter=contains(name,'sample')&$skiptoken=%3Ccookie"
    )
    without = api.get("accounts?$select=name", Prefer='odata.include-annotations="Microsoft.Dynamics.CRM.*"')
    assert without.json()["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1
    r = api.get("accounts/$count")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert r.text == "30"


def test_any_filter_text_answers_200_or_a_400_error(api: Api) -> None:
    """Bad query input gets a Dataverse 400, never a crash: random token soups through real HTTP."""
    vocabulary = [
        "fullname",
        "emailaddress1",
        "_parentcustomerid_value",
        "eq",
        "ne",
        "gt",
        "and",
        "or",
        "not",
        "(",
        ")",
        "'x'",
        "'o''b'",
        "null",
        "true",
        "1",
        "2.5",
        "2025-01-01",
        ",",
        "contains(",
        "startswith(",
        "/",
        "any(",
        "p:",
        "p/",
        "Microsoft.Dynamics.CRM.In(",
        "PropertyName='fullname'",
        "PropertyValues=['a']",
        "@p1",
        "]",
    ]
    tokens = st.sampled_from(vocabulary)

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(tokens, min_size=1, max_size=8))
    def run(parts: list[str]) -> None:
        flt = " ".join(parts)
        r = api.get("contacts?$select=fullname&$filter=" + re.sub(r"[&#+%]", "", flt).replace(" ", "%20"))
        assert r.status_code in (200, 400), (flt, r.status_code, r.text)
        if r.status_code == 400:
            error_of(r)

    run()
