"""Conformance: Microsoft's documented Web API requests and the calls the bridge makes, checked
the same way against the sandbox and (opt-in) a real organisation. Each test cites its source;
where a live run disagrees with the sandbox, the sandbox is wrong (docs/CONFORMANCE.md).

Only records this run creates (tagged with ``api.tag``) are written, and they are deleted.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from conformance_target import Target

pytestmark = pytest.mark.integration

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NS = "Microsoft.Dynamics.CRM"


def _error(r: object) -> dict[str, str]:
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return dict(body["error"])


def test_who_am_i(api: Target) -> None:
    """The bridge's first call after sign-in.
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/whoami
    """
    r = api.get("WhoAmI")
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"] == f"{api.base}$metadata#{NS}.WhoAmIResponse"
    assert all(re.fullmatch(GUID, body[k]) for k in ("UserId", "BusinessUnitId", "OrganizationId"))


def test_retrieve_version(api: Target) -> None:
    """RetrieveVersion function (Web API reference): the version is a string."""
    r = api.get("RetrieveVersion()")
    assert r.status_code == 200 and re.fullmatch(r"9\.\d+\.\d+\.\d+", r.json()["Version"])


def test_entity_definitions_collection_filter(api: Target) -> None:
    """query-metadata-web-api.md; the request Microsoft's Python SDK makes for every table."""
    r = api.get(
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
        "&$filter=LogicalName eq 'contact'"
    )
    assert r.status_code == 200, r.text
    [row] = r.json()["value"]
    assert (row["EntitySetName"], row["PrimaryIdAttribute"]) == ("contacts", "contactid")
    assert re.fullmatch(GUID, row["MetadataId"])
    r = api.get("EntityDefinitions?$select=LogicalName&$filter=LogicalName eq 'crmbridgenosuchtable'")
    assert r.status_code == 200 and r.json()["value"] == []


def test_entity_definition_by_name(api: Target) -> None:
    """retrieve-metadata-name-metadataid.md: a single EntityMetadata with its documented properties."""
    r = api.get(
        "EntityDefinitions(LogicalName='account')?$select=LogicalName,SchemaName,ObjectTypeCode,IsActivity"
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["SchemaName"], body["ObjectTypeCode"], body["IsActivity"]) == ("Account", 1, False)
    email = api.get("EntityDefinitions(LogicalName='email')?$select=ObjectTypeCode,IsActivity").json()
    assert (email["ObjectTypeCode"], email["IsActivity"]) == (4202, True)


def test_picklist_options_through_the_typed_cast(api: Target) -> None:
    """query-metadata-web-api.md ("Retrieve attributes", casts) and the SDK's picklist request."""
    r = api.get(
        f"EntityDefinitions(LogicalName='account')/Attributes/{NS}.PicklistAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet($select=Options)&$filter=LogicalName eq 'accountcategorycode'"
    )
    assert r.status_code == 200, r.text
    [attr] = r.json()["value"]
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in attr["OptionSet"]["Options"]}
    assert labels[1] == "Preferred Customer" and labels[2] == "Standard"


def test_email_regarding_navigation_names(api: Target) -> None:
    """The bridge discovers the regarding @odata.bind names (reference/dataverse.md §1.4)."""
    r = api.get(
        "EntityDefinitions(LogicalName='email')/ManyToOneRelationships"
        "?$select=ReferencedEntity,ReferencingEntityNavigationPropertyName"
        "&$filter=ReferencingAttribute eq 'regardingobjectid'"
    )
    assert r.status_code == 200, r.text
    navs = {
        row["ReferencedEntity"]: row["ReferencingEntityNavigationPropertyName"] for row in r.json()["value"]
    }
    for table in ("account", "contact", "opportunity"):
        assert navs[table] == f"regardingobjectid_{table}_email"


def test_basic_create_update_retrieve_delete(api: Target) -> None:
    """Section 1 of the basic operations sample: create, update, retrieve, delete.
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-basic-operations-sample
    """
    r = api.post("contacts", {"firstname": "Rafel", "lastname": api.tag})
    assert r.status_code == 204 and r.headers["OData-Version"] == "4.0"
    contact = api.remember("contacts", re.search(GUID, r.headers["OData-EntityId"]).group(0))  # type: ignore[union-attr]
    r = api.request("PATCH", f"contacts({contact})", {"jobtitle": "Junior Developer"}, If_Match="*")
    assert r.status_code == 204
    r = api.get(f"contacts({contact})?$select=fullname,jobtitle", Prefer='odata.include-annotations="*"')
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"] == f"{api.base}$metadata#contacts(fullname,jobtitle)/$entity"
    assert body["jobtitle"] == "Junior Developer" and body["fullname"] == f"Rafel {api.tag}"
    assert re.fullmatch(r'W/"\d+"', r.headers["ETag"])
    assert api.request("DELETE", f"contacts({contact})").status_code == 204
    assert api.get(f"contacts({contact})").status_code == 404


def test_unknown_column_is_refused(api: Target) -> None:
    """ "Could not find a property named" (web-api-client-errors troubleshooting page)."""
    r = api.get("contacts?$select=crmbridgenosuchcolumn")
    assert r.status_code == 400
    assert _error(r)["message"] == (
        f"Could not find a property named 'crmbridgenosuchcolumn' on type '{NS}.contact'."
    )


def test_unknown_custom_query_option_is_refused(api: Target) -> None:
    """An unknown custom option is an error, not every row (rappen/FetchXMLBuilder#437)."""
    r = api.get("contacts?$select=fullname&utm_source=conformance")
    assert r.status_code == 400
    assert "utm_source" in _error(r)["message"]


def test_paging_with_maxpagesize_and_next_link(api: Target) -> None:
    """Prefer odata.maxpagesize, Preference-Applied, nextLink.
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results
    """
    ids = {api.create("contacts", {"firstname": f"Page{i}", "lastname": api.tag}) for i in range(5)}
    query = f"contacts?$select=firstname&$filter=lastname eq '{api.tag}'"
    r = api.get(query, Prefer="odata.maxpagesize=2")
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=2"
    body = r.json()
    seen = [c["contactid"] for c in body["value"]]
    assert len(seen) == 2 and "$skiptoken=" in body["@odata.nextLink"]
    link = body.get("@odata.nextLink")
    while link:
        body = api.get(link, Prefer="odata.maxpagesize=2").json()
        seen += [c["contactid"] for c in body["value"]]
        link = body.get("@odata.nextLink")
    assert sorted(seen) == sorted(ids)


def test_fetchxml_query(api: Target) -> None:
    """GET {set}?fetchXml= with a filter and order.
    https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/overview
    """
    for name in ("Zed", "Adams"):
        api.create("contacts", {"firstname": name, "lastname": api.tag})
    xml = (
        "<fetch><entity name='contact'><attribute name='firstname'/><order attribute='firstname'/>"
        f"<filter><condition attribute='lastname' operator='eq' value='{api.tag}'/></filter></entity></fetch>"
    )
    r = api.get(f"contacts?fetchXml={quote(xml)}")
    assert r.status_code == 200, r.text
    assert [c["firstname"] for c in r.json()["value"]] == ["Adams", "Zed"]


def test_create_multiple(api: Target) -> None:
    """CreateMultiple bound to the entity set returns the Ids.
    https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations
    """
    targets = [
        {"@odata.type": f"{NS}.contact", "firstname": f"Bulk{i}", "lastname": api.tag} for i in range(3)
    ]
    r = api.post(f"contacts/{NS}.CreateMultiple", {"Targets": targets})
    assert r.status_code == 200, r.text
    ids = [api.remember("contacts", i) for i in r.json()["Ids"]]
    assert len(ids) == 3 and all(re.fullmatch(GUID, i) for i in ids)


def test_tracked_email_with_parties(api: Target) -> None:
    """The bridge's tracking write: an e-mail activity with its parties in one deep insert
    (reference/dataverse.md §1.1), then read back with the parties expanded."""
    me = api.get("WhoAmI").json()["UserId"]
    body = {
        "subject": f"Conformance {api.tag}",
        "description": "<p>Tracked by the conformance suite.</p>",
        "directioncode": False,
        "email_activity_parties": [
            {"participationtypemask": 1, "addressused": "sender@example.com"},
            {"participationtypemask": 2, "partyid_systemuser@odata.bind": f"/systemusers({me})"},
        ],
    }
    email = api.create("emails", body)
    r = api.get(
        f"emails({email})?$select=subject,directioncode"
        "&$expand=email_activity_parties($select=participationtypemask,addressused,_partyid_value)"
    )
    assert r.status_code == 200, r.text
    parties = r.json()["email_activity_parties"]
    assert sorted(p["participationtypemask"] for p in parties) == [1, 2]
    assert any(p["_partyid_value"] == me for p in parties)


@pytest.mark.parametrize(("table", "offered"), [("contact", True), ("email", False)])
def test_create_multiple_availability_per_table(api: Target, table: str, offered: bool) -> None:
    """The documented availability check for CreateMultiple (bulk-operations.md). A live run
    confirms or refutes the sandbox's reading that e-mail does not offer it."""
    r = api.get(
        "sdkmessagefilters?$select=sdkmessagefilterid"
        "&$filter=sdkmessageid/name eq @message and primaryobjecttypecode eq @table"
        f"&@message='CreateMultiple'&@table='{table}'"
    )
    assert r.status_code == 200, r.text
    assert bool(r.json()["value"]) is offered
