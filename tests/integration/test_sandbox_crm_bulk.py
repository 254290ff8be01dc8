"""Bulk messages, fetchXml, organisation functions, unknown query options and cookie paging of
the sandbox CRM (reference/dataverse-metadata.md §2–§4)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote

from test_sandbox_crm_support import Api, api, crm, error_of

from addin.sandbox.crm import CrmSandbox

__all__ = ["api", "crm"]  # fixtures
NS = "Microsoft.Dynamics.CRM"


def test_unknown_custom_and_system_query_options_are_refused(api: Api) -> None:
    """Never a 200 with every row: Dataverse answers an unknown option with an error (§3)."""
    r = api.get("contacts?utm_source=x")
    assert r.status_code == 400
    assert error_of(r) == {"code": "0x0", "message": "The query parameter utm_source is not supported"}
    for option in ("$foo=1", "$skip=2", "$search=x", "sql=SELECT%20fullname%20FROM%20contact"):
        assert api.get(f"contacts?{option}").status_code == 400, option
    assert api.get("contacts?$select=fullname&foo=bar").status_code == 400
    contact = api.create("contacts", {"lastname": "Options"})
    assert api.patch(f"contacts({contact})?foo=bar", {"jobtitle": "Changed"}).status_code == 400
    assert api.delete(f"contacts({contact})?foo=bar").status_code == 400
    assert api.get(f"contacts({contact})?$select=jobtitle").json()["jobtitle"] is None  # nothing changed
    # Parameter aliases are part of the query language, not unknown options.
    r = api.get("contacts?$select=fullname&$filter=lastname eq @p1&@p1='Nobody'")
    assert r.status_code == 200 and r.json()["value"] == []


def test_next_link_followed_without_the_page_size_returns_the_rest(api: Api) -> None:
    """The cookie carries the last record, so a follow-up without Prefer (or with another size)
    continues after it instead of answering an empty page (§4)."""
    everything = [a["accountid"] for a in api.get("accounts?$select=name").json()["value"]]
    first = api.get("accounts?$select=name", Prefer="odata.maxpagesize=7").json()
    assert [a["accountid"] for a in first["value"]] == everything[:7]
    rest = api.get(first["@odata.nextLink"]).json()
    assert [a["accountid"] for a in rest["value"]] == everything[7:]
    assert "@odata.nextLink" not in rest
    smaller = api.get(first["@odata.nextLink"], Prefer="odata.maxpagesize=3").json()
    assert [a["accountid"] for a in smaller["value"]] == everything[7:10]
    cookie = unquote(unquote(unquote(first["@odata.nextLink"].split("$skiptoken=")[1])))
    assert f'last="{{{everything[6].upper()}}}"' in cookie


def test_create_update_upsert_multiple(api: Api) -> None:
    targets = [{"@odata.type": f"{NS}.contact", "firstname": "Bulk", "lastname": f"N{i}"} for i in range(3)]
    r = api.post(f"contacts/{NS}.CreateMultiple", {"Targets": targets})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["@odata.context"] == f"{api.base}$metadata#{NS}.CreateMultipleResponse"
    ids = body["Ids"]
    assert len(ids) == 3
    assert [api.get(f"contacts({i})?$select=lastname").json()["lastname"] for i in ids] == ["N0", "N1", "N2"]
    r = api.post(
        f"contacts/{NS}.UpdateMultiple",
        {"Targets": [{"@odata.type": f"{NS}.contact", "contactid": i, "jobtitle": "Buyer"} for i in ids]},
    )
    assert r.status_code == 204, r.text
    assert {api.get(f"contacts({i})?$select=jobtitle").json()["jobtitle"] for i in ids} == {"Buyer"}
    new_id = "5a7f1c2e-0000-4000-8000-0000000000aa"
    r = api.post(
        f"contacts/{NS}.UpsertMultiple",
        {
            "Targets": [
                {"@odata.type": f"{NS}.contact", "@odata.id": f"contacts({ids[0]})", "jobtitle": "Owner"},
                {"@odata.type": f"{NS}.contact", "@odata.id": f"contacts({new_id})", "lastname": "Upserted"},
            ]
        },
    )
    assert r.status_code == 204, r.text
    assert api.get(f"contacts({ids[0]})?$select=jobtitle").json()["jobtitle"] == "Owner"
    assert api.get(f"contacts({new_id})?$select=lastname").json()["lastname"] == "Upserted"


def test_create_multiple_is_all_or_nothing_and_checks_types(api: Api) -> None:
    before = len(api.get("contacts?$select=contactid").json()["value"])
    targets = [
        {"@odata.type": f"{NS}.contact", "lastname": "Fine"},
        {"@odata.type": f"{NS}.contact", "lastname": "Bad", "nosuchcolumn": 1},
    ]
    r = api.post(f"contacts/{NS}.CreateMultiple", {"Targets": targets})
    assert r.status_code == 400
    assert len(api.get("contacts?$select=contactid").json()["value"]) == before
    r = api.post(f"contacts/{NS}.CreateMultiple", {"Targets": [{"lastname": "Untyped"}]})
    assert r.status_code == 400 and "@odata.type" in error_of(r)["message"]
    r = api.post(f"emails/{NS}.CreateMultiple", {"Targets": [{"@odata.type": f"{NS}.email", "subject": "x"}]})
    assert r.status_code == 400
    assert error_of(r)["message"] == "The 'CreateMultiple' method does not support entities of type 'email'."


def test_bulk_delete_deletes_the_query_set_and_records_a_job(api: Api) -> None:
    keep = api.create("contacts", {"lastname": "Keep"})
    gone = [api.create("contacts", {"lastname": f"Gone{i}"}) for i in range(2)]
    body = {
        "JobName": "Bulk delete contact records",
        "SendEmailNotification": False,
        "ToRecipients": [],
        "CCRecipients": [],
        "RecurrencePattern": "",
        "StartDateTime": "2026-12-01T14:26:36Z",
        "QuerySet": [
            {
                "@odata.type": f"{NS}.QueryExpression",
                "EntityName": "contact",
                "ColumnSet": {"@odata.type": f"{NS}.ColumnSet", "AllColumns": False, "Columns": []},
                "Criteria": {
                    "@odata.type": f"{NS}.FilterExpression",
                    "FilterOperator": "And",
                    "Conditions": [
                        {
                            "@odata.type": f"{NS}.ConditionExpression",
                            "AttributeName": "contactid",
                            "Operator": "In",
                            "Values": [{"Value": g, "Type": "System.Guid"} for g in gone],
                        }
                    ],
                },
            }
        ],
    }
    r = api.post("BulkDelete", body)
    assert r.status_code == 200, r.text
    job = r.json()["JobId"]
    assert all(api.get(f"contacts({g})").status_code == 404 for g in gone)
    assert api.get(f"contacts({keep})").status_code == 200
    row = api.get(f"asyncoperations({job})?$select=name,statecode,statuscode,operationtype").json()
    assert (row["statecode"], row["statuscode"], row["operationtype"]) == (3, 30, 13)
    body["QuerySet"][0]["Criteria"]["Conditions"][0]["Operator"] = "Sounds"
    assert api.post("BulkDelete", body).status_code == 400


def test_retrieve_version_and_languages(api: Api) -> None:
    version = api.get("RetrieveVersion()").json()
    assert version["@odata.context"] == f"{api.base}$metadata#{NS}.RetrieveVersionResponse"
    assert version["Version"].startswith("9.2.")
    languages = api.get("RetrieveAvailableLanguages()").json()
    assert languages["LocaleIds"] == [1033]


def _fetch(api: Api, xml: str, **headers: str) -> dict:
    r = api.get(f"contacts?fetchXml={quote(xml)}", **headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_fetchxml_attributes_filter_order_and_link_entity(api: Api) -> None:
    account = api.create("accounts", {"name": "Fetch Corp"})
    for last in ("Zed", "Adams", "Moss"):
        api.create(
            "contacts", {"lastname": last, "parentcustomerid_account@odata.bind": f"/accounts({account})"}
        )
    xml = (
        "<fetch><entity name='contact'><attribute name='lastname'/><attribute name='parentcustomerid'/>"
        "<order attribute='lastname'/>"
        f"<filter><condition attribute='parentcustomerid' operator='eq' value='{account}'/></filter>"
        "<link-entity name='account' from='accountid' to='parentcustomerid' alias='a'>"
        "<attribute name='name'/></link-entity></entity></fetch>"
    )
    rows = _fetch(api, xml)["value"]
    assert [r["lastname"] for r in rows] == ["Adams", "Moss", "Zed"]
    assert {r["a.name"] for r in rows} == {"Fetch Corp"}
    assert all(r["_parentcustomerid_value"] == account for r in rows)
    assert all("jobtitle" not in r for r in rows)  # only the asked columns; no nulls
    xml = (
        "<fetch><entity name='contact'><attribute name='lastname'/><filter type='or'>"
        "<condition attribute='lastname' operator='in'><value>Zed</value><value>Moss</value></condition>"
        "<condition attribute='lastname' operator='begins-with' value='Ada'/></filter></entity></fetch>"
    )
    assert sorted(r["lastname"] for r in _fetch(api, xml)["value"]) == ["Adams", "Moss", "Zed"]


def test_fetchxml_paging_cookie_as_the_sdk_follows_it(api: Api) -> None:
    everything = [
        c["contactid"]
        for c in _fetch(api, "<fetch><entity name='contact'><attribute name='contactid'/></entity></fetch>")[
            "value"
        ]
    ]
    assert len(everything) > 3
    prefer = f'odata.include-annotations="{NS}.fetchxmlpagingcookie,{NS}.morerecords"'
    seen: list[str] = []
    page, cookie = 1, None
    while True:
        paging = f" paging-cookie='{cookie}'" if cookie else ""
        xml = (
            f"<fetch count='3' page='{page}'{paging}><entity name='contact'>"
            "<attribute name='contactid'/></entity></fetch>"
        )
        body = _fetch(api, xml, Prefer=prefer)
        seen += [c["contactid"] for c in body["value"]]
        if not body[f"@{NS}.morerecords"]:
            break
        outer = body[f"@{NS}.fetchxmlpagingcookie"]
        inner = unquote(unquote(outer.split('pagingcookie="')[1].split('"')[0]))
        cookie = inner.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        page += 1
    assert seen == everything


def test_fetchxml_refuses_what_it_does_not_support(api: Api) -> None:
    for xml in (
        "<fetch><entity name='account'/></fetch>",  # another table than the set
        "<fetch aggregate='true'><entity name='contact'/></fetch>",
        "<fetch><entity name='contact'><filter>"
        "<condition attribute='lastname' operator='sounds-like' value='x'/></filter></entity></fetch>",
        "<fetch><entity name='contact'><attribute name='nosuch'/></entity></fetch>",
        "<fetch><entity name='contact'>",
    ):
        r = api.get(f"contacts?fetchXml={quote(xml)}")
        assert r.status_code == 400, xml
    alone = quote("<fetch><entity name='contact'/></fetch>")
    assert api.get(f"contacts?fetchXml={alone}&$top=1").status_code == 400


def test_a_data_folder_without_messages_gets_them_on_start(tmp_path: Path) -> None:
    with CrmSandbox(tmp_path, seed="empty") as first:
        for row in first.db.all("sdkmessages"):
            first.db.delete("sdkmessages", row["sdkmessageid"])
        assert first.db.count("sdkmessages") == 0  # as a folder made before messages were listed
    with CrmSandbox(tmp_path, seed="empty") as again:
        names = {m["name"] for m in again.db.all("sdkmessages")}
        assert {"CreateMultiple", "UpdateMultiple", "UpsertMultiple", "Create"} <= names
