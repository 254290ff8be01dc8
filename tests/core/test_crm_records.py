"""OData literals and filters, and the table/party name tables (reference dataverse.md §0, §1.5, §4.9)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from addin.crm import records
from addin.crm.query import encode_query, query_params


def test_string_literals_double_quotes() -> None:
    assert records.odata_string("O'Brien") == "'O''Brien'"
    assert records.odata_string("''") == "''''''"
    assert records.eq("fullname", "O'Brien") == "fullname eq 'O''Brien'"
    with pytest.raises(TypeError):
        records.odata_string(5)  # type: ignore[arg-type]


def test_guid_formatting_and_validation() -> None:
    raw = "{5B1C0C7A-0000-0000-0000-00000000A001}"
    assert records.guid(raw) == "5b1c0c7a-0000-0000-0000-00000000a001"
    assert records.entity_path("emails", raw) == "emails(5b1c0c7a-0000-0000-0000-00000000a001)"
    assert records.bind("contacts", uuid.UUID(int=1)) == "/contacts(00000000-0000-0000-0000-000000000001)"
    with pytest.raises(ValueError):
        records.guid("emails(1); DROP")
    with pytest.raises(ValueError):
        records.entity_path("emails", "1' or 1 eq 1")


def test_literals() -> None:
    assert records.odata_literal(None) == "null"
    assert records.odata_literal(True) == "true"
    assert records.odata_literal(3) == "3"
    assert records.odata_literal(uuid.UUID(int=2)) == "00000000-0000-0000-0000-000000000002"
    when = dt.datetime(2025, 5, 6, 11, 15, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert records.odata_literal(when) == "2025-05-06T09:15:00Z"
    with pytest.raises(ValueError):
        records.odata_literal(dt.datetime(2025, 1, 1))
    with pytest.raises(TypeError):
        records.odata_literal(object())


def test_in_filter_is_chunked_deduplicated_and_json_quoted() -> None:
    addresses = [f"user{i}@fabrikam.com" for i in range(250)] + ["user0@fabrikam.com", 'o"neil@x.com']
    filters = list(records.in_filters("emailaddress1", addresses, chunk=100))
    assert len(filters) == 3
    assert filters[0].startswith("Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=[")
    assert filters[0].count("@fabrikam.com") == 100
    assert sum(f.count("user0@") for f in filters) == 1
    assert '"o\\"neil@x.com"' in filters[2]
    assert "O'Brien" in records.in_filter("lastname", ["O'Brien"])  # JSON strings: no doubling
    with pytest.raises(ValueError):
        records.in_filter("x", [])


def test_message_id_filter_covers_bracketed_and_bare_forms() -> None:
    (flt,) = records.email_filter_message_ids(["<CAF3x9-abc+1@mail.fabrikam.com>"])
    assert '"<CAF3x9-abc+1@mail.fabrikam.com>"' in flt and '"CAF3x9-abc+1@mail.fabrikam.com"' in flt
    encoded = encode_query({"$filter": flt})
    # The characters the Web API needs encoded in filter values (filter-rows.md).
    assert (
        "+" not in encoded and "@" not in encoded.split("=", 1)[1] and "%2B" in encoded and "%40" in encoded
    )
    assert encoded.startswith("$filter=Microsoft.Dynamics.CRM.In(")


def test_pending_send_filter() -> None:
    flt = records.email_filter_pending_send("{00000000-0000-0000-0000-0000000000AB}")
    assert flt == (
        "(statuscode eq 6) and (directioncode eq true) and "
        "(_sendermailboxid_value eq 00000000-0000-0000-0000-0000000000ab)"
    )


def test_regarding_and_party_names() -> None:
    names = {k: t.regarding_bind_key for k, t in records.REGARDING_TABLES.items()}
    assert names == {
        "account": "regardingobjectid_account_email@odata.bind",
        "contact": "regardingobjectid_contact_email@odata.bind",
        "opportunity": "regardingobjectid_opportunity_email@odata.bind",
        "incident": "regardingobjectid_incident_email@odata.bind",
        "lead": "regardingobjectid_lead_email@odata.bind",
    }
    assert records.regarding_table("opportunity").entity_set == "opportunities"
    assert records.regarding_table("incident").primary_name == "title"
    with pytest.raises(ValueError):
        records.regarding_table("systemuser")
    sender = records.party(
        records.PARTY_SENDER, table="contact", id=uuid.UUID(int=1), address="jane@fabrikam.com"
    )
    assert sender == {
        "participationtypemask": 1,
        "partyid_contact@odata.bind": "/contacts(00000000-0000-0000-0000-000000000001)",
        "addressused": "jane@fabrikam.com",
    }
    assert records.party(records.PARTY_CC, address="x@y.com") == {
        "participationtypemask": 3,
        "addressused": "x@y.com",
    }
    assert (records.PARTY_TO, records.PARTY_BCC) == (2, 4)
    with pytest.raises(ValueError):
        records.party(9, address="x@y.com")
    with pytest.raises(ValueError):
        records.party(records.PARTY_TO)
    with pytest.raises(ValueError):
        records.party(records.PARTY_TO, table="opportunity", id=uuid.UUID(int=1))


def test_address_filter_spans_every_email_column() -> None:
    (flt,) = records.address_filter(records.CONTACT, ["a@x.com"])
    for column in ("emailaddress1", "emailaddress2", "emailaddress3"):
        assert f"PropertyName='{column}'" in flt
    with pytest.raises(ValueError):
        records.address_filter(records.OPPORTUNITY, ["a@x.com"])


def test_query_params() -> None:
    assert query_params(select=["a", "b"], top=5, count=True) == {
        "$select": "a,b",
        "$top": "5",
        "$count": "true",
    }
    with pytest.raises(ValueError):
        query_params(top=0)
    assert encode_query({"$filter": "name eq 'A & B'"}) == "$filter=name%20eq%20'A%20%26%20B'"


def test_lookup_reads_annotations() -> None:
    row = {
        "_regardingobjectid_value": "7D3A1F2E-0000-0000-0000-00000000A001",
        "_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "opportunity",
        "_regardingobjectid_value@OData.Community.Display.V1.FormattedValue": "200 units",
    }
    assert records.lookup(row, "regardingobjectid") == records.Lookup(
        "opportunity", "7d3a1f2e-0000-0000-0000-00000000a001", "200 units"
    )
    assert records.lookup({"_regardingobjectid_value": None}, "regardingobjectid") is None
    assert records.lookup({"_x_value": str(uuid.UUID(int=3))}, "x") == records.Lookup(
        None, "00000000-0000-0000-0000-000000000003", None
    )
    assert "participationtypemask" in records.PARTIES_EXPAND
