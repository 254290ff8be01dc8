"""Table metadata of the sandbox CRM, read the way Microsoft's SDK and the Web API docs read it
(reference/dataverse-metadata.md §1), and checked against what the data endpoints accept."""

from __future__ import annotations

from urllib.parse import quote

from lxml import etree
from test_sandbox_crm_support import Api, api, crm, error_of

__all__ = ["api", "crm"]  # fixtures
NS = "Microsoft.Dynamics.CRM"


def test_entity_set_resolution_query_of_the_sdk(api: Api) -> None:
    """The SDK's first call for a table (§5.2); an unknown table is an empty list, not 404 (§1.3)."""
    r = api.get(
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
        "&$filter=LogicalName eq 'contact'"
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["@odata.context"]
        == f"{api.base}$metadata#EntityDefinitions(LogicalName,EntitySetName,PrimaryIdAttribute)"
    )
    [row] = body["value"]
    assert set(row) == {"LogicalName", "EntitySetName", "PrimaryIdAttribute", "MetadataId"}
    assert (row["LogicalName"], row["EntitySetName"], row["PrimaryIdAttribute"]) == (
        "contact",
        "contacts",
        "contactid",
    )
    r = api.get("EntityDefinitions?$select=LogicalName&$filter=LogicalName eq 'nosuch'")
    assert r.status_code == 200 and r.json()["value"] == []


def test_entity_by_name_and_by_id_carry_the_documented_properties(api: Api) -> None:
    r = api.get("EntityDefinitions(LogicalName='account')")
    assert r.status_code == 200
    account = r.json()
    assert account["@odata.context"].endswith("$metadata#EntityDefinitions/$entity")
    for name in (
        "SchemaName",
        "DisplayName",
        "PrimaryImageAttribute",
        "ObjectTypeCode",
        "OwnershipType",
        "IsActivity",
        "IsCustomEntity",
        "LogicalCollectionName",
        "PrimaryNameAttribute",
    ):
        assert name in account, name
    assert account["ObjectTypeCode"] == 1 and account["SchemaName"] == "Account"
    assert account["DisplayName"]["UserLocalizedLabel"]["Label"] == "Account"
    by_id = api.get(f"EntityDefinitions({account['MetadataId']})?$select=LogicalName").json()
    assert by_id["LogicalName"] == "account"
    email = api.get("EntityDefinitions(LogicalName='email')?$select=IsActivity,ObjectTypeCode").json()
    assert email["IsActivity"] is True and email["ObjectTypeCode"] == 4202
    assert api.get("EntityDefinitions(LogicalName='nosuch')").status_code == 404


def test_collection_filters_on_enums_and_managed_properties(api: Api) -> None:
    """Enum literals need the namespace; managed properties go through /Value (§1.1)."""
    r = api.get(
        "EntityDefinitions?$select=LogicalName"
        f"&$filter=OwnershipType eq {NS}.OwnershipTypes'OrganizationOwned'"
    )
    names = {e["LogicalName"] for e in r.json()["value"]}
    assert "organization" in names and "contact" not in names
    r = api.get(
        "EntityDefinitions?$select=LogicalName"
        "&$filter=IsActivity eq true and CanCreateAttributes/Value eq false"
    )
    assert {e["LogicalName"] for e in r.json()["value"]} == {"email", "task"}
    r = api.get("EntityDefinitions?$filter=NoSuchProperty eq 1")
    assert r.status_code == 400 and error_of(r)["code"] == "0x80060888"
    assert api.get("EntityDefinitions?$top=2").status_code == 400  # metadata takes no paging


def test_attributes_untyped_and_expanded_match_the_schema(api: Api, crm: object) -> None:
    from addin.sandbox.crm.schema import BY_LOGICAL

    r = api.get("EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,AttributeType")
    rows = r.json()["value"]
    names = {a["LogicalName"] for a in rows}
    table = BY_LOGICAL["contact"]
    assert names == set(table.columns) | set(table.lookups)
    # Every attribute the metadata lists can be selected on the data endpoint, and vice versa.
    selectable = [
        a["LogicalName"]
        if a["AttributeType"] not in ("Lookup", "Customer", "Owner")
        else f"_{a['LogicalName']}_value"
        for a in rows
    ]
    assert api.get(f"contacts?$select={','.join(selectable)}").status_code == 200
    assert all(a["@odata.type"].startswith(f"#{NS}.") for a in rows)
    types = {a["LogicalName"]: a["AttributeType"] for a in rows}
    schema = {
        a["LogicalName"]: a["SchemaName"]
        for a in api.get(
            "EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,SchemaName"
        ).json()["value"]
    }
    assert (schema["contactid"], schema["emailaddress1"], schema["statecode"]) == (
        "ContactId",
        "EMailAddress1",
        "StateCode",
    )
    assert (
        types["statecode"] == "State"
        and types["parentcustomerid"] == "Customer"
        and types["ownerid"] == "Owner"
    )
    # OptionSet cannot be expanded from untyped Attributes (§1.1).
    r = api.get("EntityDefinitions(LogicalName='contact')/Attributes?$expand=OptionSet")
    assert r.status_code == 400
    r = api.get(
        "EntityDefinitions(LogicalName='account')?$select=LogicalName"
        f"&$expand=Attributes($select=LogicalName;$filter=AttributeType eq {NS}.AttributeTypeCode'Picklist')"
    )
    assert [a["LogicalName"] for a in r.json()["Attributes"]] == ["accountcategorycode"]


def test_picklist_cast_with_option_sets_as_the_sdk_asks(api: Api) -> None:
    r = api.get(
        f"EntityDefinitions(LogicalName='account')/Attributes/{NS}.PicklistAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet($select=Options)"
    )
    assert r.status_code == 200, r.text
    [attr] = r.json()["value"]
    options = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in attr["OptionSet"]["Options"]}
    assert options == {1: "Preferred Customer", 2: "Standard"}
    # The same option is accepted by the data endpoint and formatted with the same label.
    rid = api.create("accounts", {"name": "Optioned", "accountcategorycode": 2})
    row = api.get(
        f"accounts({rid})?$select=accountcategorycode", Prefer='odata.include-annotations="*"'
    ).json()
    assert row["accountcategorycode@OData.Community.Display.V1.FormattedValue"] == "Standard"
    # Status options name their state; state options their default status.
    r = api.get(
        f"EntityDefinitions(LogicalName='email')/Attributes(LogicalName='statuscode')/{NS}.StatusAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet"
    )
    status = {o["Value"]: o["State"] for o in r.json()["OptionSet"]["Options"]}
    assert status[6] == 1 and status[1] == 0
    r = api.get(
        f"EntityDefinitions(LogicalName='email')/Attributes(LogicalName='statecode')/{NS}.StateAttributeMetadata"
        "?$expand=OptionSet"
    )
    assert {o["Value"]: o["DefaultStatus"] for o in r.json()["OptionSet"]["Options"]} == {0: 1, 1: 2, 2: 5}
    # A wrong cast is refused, as is a cast to EnumAttributeMetadata.
    r = api.get(
        f"EntityDefinitions(LogicalName='email')/Attributes(LogicalName='subject')/{NS}.PicklistAttributeMetadata"
    )
    assert r.status_code == 400
    assert (
        api.get(f"EntityDefinitions(LogicalName='email')/Attributes/{NS}.EnumAttributeMetadata").status_code
        == 400
    )


def test_lookup_and_string_casts(api: Api) -> None:
    r = api.get(
        f"EntityDefinitions(LogicalName='email')/Attributes/{NS}.LookupAttributeMetadata"
        "?$select=LogicalName,Targets&$filter=LogicalName eq 'regardingobjectid'"
    )
    [attr] = r.json()["value"]
    assert set(attr["Targets"]) == {"account", "contact", "lead", "opportunity", "incident"}
    r = api.get(
        f"EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='emailaddress1')/{NS}.StringAttributeMetadata"
        "?$select=MaxLength,FormatName"
    )
    assert r.json()["FormatName"] == {"Value": "Email"} and r.json()["MaxLength"] > 0


def test_relationships_keys_and_global_option_sets(api: Api) -> None:
    many_to_one = api.get(
        "EntityDefinitions(LogicalName='email')/ManyToOneRelationships"
        "?$select=ReferencedEntity,ReferencingEntityNavigationPropertyName"
        "&$filter=ReferencingAttribute eq 'regardingobjectid'"
    ).json()["value"]
    assert {r["ReferencedEntity"]: r["ReferencingEntityNavigationPropertyName"] for r in many_to_one} == {
        t: f"regardingobjectid_{t}_email" for t in ("account", "contact", "lead", "opportunity", "incident")
    }
    one_to_many = api.get(
        "EntityDefinitions(LogicalName='account')/OneToManyRelationships?$select=SchemaName"
    ).json()
    assert {"Account_Emails", "Account_Tasks", "contact_customer_accounts"} <= {
        r["SchemaName"] for r in one_to_many["value"]
    }
    r = api.get("RelationshipDefinitions?$filter=SchemaName eq 'Account_Tasks'")
    [rel] = r.json()["value"]
    assert rel["@odata.type"] == f"#{NS}.OneToManyRelationshipMetadata"
    assert (rel["ReferencedEntity"], rel["ReferencingEntity"], rel["ReferencingAttribute"]) == (
        "account",
        "task",
        "regardingobjectid",
    )
    assert (
        api.get("RelationshipDefinitions(SchemaName='Account_Tasks')").json()["MetadataId"]
        == rel["MetadataId"]
    )
    typed = api.get(
        f"RelationshipDefinitions/{NS}.OneToManyRelationshipMetadata?$filter=ReferencedEntity eq 'account'"
    )
    assert typed.status_code == 200 and typed.json()["value"]
    assert api.get("EntityDefinitions(LogicalName='account')/Keys").json()["value"] == []
    assert api.get("EntityDefinitions(LogicalName='account')/ManyToManyRelationships").json()["value"] == []
    r = api.get("GlobalOptionSetDefinitions(Name='incident_caseorigincode')")
    assert r.status_code == 200 and r.json()["IsGlobal"] is True
    assert {o["Value"] for o in r.json()["Options"]} >= {1, 2, 3}
    r = api.get(
        f"EntityDefinitions(LogicalName='incident')/Attributes(LogicalName='caseorigincode')/{NS}.PicklistAttributeMetadata"
        "?$select=LogicalName&$expand=GlobalOptionSet($select=Name)"
    )
    assert r.json()["GlobalOptionSet"]["Name"] == "incident_caseorigincode"
    # The definitions are fixed: changing them is refused, not pretended.
    assert api.post("EntityDefinitions", {"SchemaName": "new_thing"}).status_code == 405


def test_csdl_document_lists_every_entity_set_and_parses(api: Api) -> None:
    r = api.get("$metadata")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    doc = etree.fromstring(r.content)
    edm = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    sets = {e.get("Name"): e.get("EntityType") for e in doc.iterfind(".//edm:EntitySet", edm)}
    service = {s["name"] for s in api.get("").json()["value"]}
    assert set(sets) == service and sets["contacts"] == "mscrm.contact"
    [contact] = doc.xpath("//edm:EntityType[@Name='contact']", namespaces=edm)
    assert contact.find("edm:Key/edm:PropertyRef", edm).get("Name") == "contactid"
    props = {p.get("Name"): p.get("Type") for p in contact.iterfind("edm:Property", edm)}
    assert props["_parentcustomerid_value"] == "Edm.Guid" and props["fullname"] == "Edm.String"
    navs = {n.get("Name") for n in contact.iterfind("edm:NavigationProperty", edm)}
    assert {"parentcustomerid_account", "Contact_Tasks"} <= navs
    # Every type the document refers to is defined in it (what a client generator resolves).
    defined = {
        f"mscrm.{t.get('Name')}" for t in doc.xpath("//edm:EntityType|//edm:ComplexType", namespaces=edm)
    }
    used = {
        e.get("Type")
        for e in doc.xpath("//edm:ReturnType|//edm:NavigationProperty|//edm:Parameter", namespaces=edm)
    }
    used |= {e.get("EntityType") for e in doc.iterfind(".//edm:EntitySet", edm)}
    referenced = {u.removeprefix("Collection(").removesuffix(")") for u in used}
    assert {r for r in referenced if r.startswith("mscrm.")} <= defined
    whoami = doc.xpath("//edm:ComplexType[@Name='WhoAmIResponse']/edm:Property/@Name", namespaces=edm)
    assert set(whoami) == set(api.get("WhoAmI").json()) - {"@odata.context"}


def test_metadata_select_of_unknown_property_is_refused(api: Api) -> None:
    r = api.get("EntityDefinitions(LogicalName='contact')?$select=Nope")
    assert r.status_code == 400
    assert error_of(r)["message"] == f"Could not find a property named 'Nope' on type '{NS}.EntityMetadata'."
    # Raw (unencoded) and encoded queries are read alike.
    r = api.get("EntityDefinitions?%24select=LogicalName&%24filter=" + quote("LogicalName eq 'email'"))
    assert [e["LogicalName"] for e in r.json()["value"]] == ["email"]


def test_retrieve_metadata_changes_projects_typed_attributes(api: Api) -> None:
    import json

    query = {
        "Properties": {"PropertyNames": ["LogicalName", "Attributes"]},
        "Criteria": {
            "Conditions": [
                {"PropertyName": "LogicalName", "ConditionOperator": "Equals", "Value": {"Value": "account"}}
            ]
        },
        "AttributeQuery": {
            "Properties": {"PropertyNames": ["LogicalName", "MaxLength"]},
            "Criteria": {
                "Conditions": [
                    {"PropertyName": "LogicalName", "ConditionOperator": "Equals", "Value": {"Value": "name"}}
                ]
            },
        },
    }
    r = api.get(f"RetrieveMetadataChanges(Query=@p1)?@p1={quote(json.dumps(query))}")
    assert r.status_code == 200, r.text
    [account] = r.json()["EntityMetadata"]
    assert account["LogicalName"] == "account" and "SchemaName" not in account
    [name] = account["Attributes"]
    assert name["@odata.type"] == f"#{NS}.StringAttributeMetadata" and name["MaxLength"] == 100
    assert set(name) == {"@odata.type", "MetadataId", "LogicalName", "MaxLength"}
    assert api.get("RetrieveMetadataChanges(Query=@p1)?@p1=notjson").status_code == 400
