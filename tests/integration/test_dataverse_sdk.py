"""Microsoft's Python SDK for Dataverse (``powerplatform-dataverse-client``), unmodified, against
``crm-bridge sandbox crm --tls``: records, queries, paging, bulk create and delete, fetchXml and
table metadata (reference/dataverse-metadata.md §5).

The SDK refuses an ``http://`` base URL, so the sandbox serves HTTPS from a throw-away CA; the
SDK's own ``requests`` calls trust it through ``REQUESTS_CA_BUNDLE``. The SDK asks for a token on
every request; a static credential stands in for Microsoft sign-in, which cannot run here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import PowerPlatform.Dataverse.client as Dataverse
import pytest
import requests
from azure.core.credentials import AccessToken, TokenCredential

pytestmark = pytest.mark.integration


class SandboxToken(TokenCredential):
    """The sandbox's bearer token in place of a Microsoft Entra token."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes += scopes
        return AccessToken("sandbox", 9_999_999_999)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``crm-bridge sandbox crm --tls`` as a user runs it: the base URL on stdout, the CA on stderr."""
    data = tmp_path_factory.mktemp("crm-tls")
    proc = subprocess.Popen(
        [sys.executable, "-m", "addin", "sandbox", "crm", "--tls", "--seed", "demo", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        note = proc.stderr.readline().strip()
        # Keep reading stderr (request logs) so a full pipe can never stall the server.
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("https://127.0.0.1:") and base_url.endswith("/api/data/v9.2/"), base_url
        ca = Path(note.rsplit(" ", 1)[-1])
        assert ca.is_file(), note
        yield base_url, ca
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture
def sdk(served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    base_url, ca = served
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    org = base_url.removesuffix("/api/data/v9.2/")
    with Dataverse.DataverseClient(org, SandboxToken()) as client:
        yield client


def test_sdk_refuses_plain_http_so_tls_is_needed() -> None:
    with pytest.raises(ValueError, match="HTTPS"):
        Dataverse.DataverseClient("http://127.0.0.1:1", SandboxToken())


def test_the_served_certificate_is_checked(served: tuple[str, Path]) -> None:
    base_url, ca = served
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(
            base_url + "WhoAmI", headers={"Authorization": "Bearer sandbox"}, timeout=10, verify=True
        )
    ok = requests.get(
        base_url + "WhoAmI", headers={"Authorization": "Bearer sandbox"}, timeout=10, verify=str(ca)
    )
    assert ok.status_code == 200


def test_record_crud(sdk: Any) -> None:
    cid = sdk.records.create("contact", {"firstname": "Sdk", "lastname": "Crud", "jobtitle": "Tester"})
    row = sdk.records.retrieve("contact", cid, select=["firstname", "lastname", "jobtitle"])
    assert (row["firstname"], row["lastname"], row["jobtitle"]) == ("Sdk", "Crud", "Tester")
    sdk.records.update("contact", cid, {"jobtitle": "Lead tester"})
    assert sdk.records.retrieve("contact", cid, select=["jobtitle"])["jobtitle"] == "Lead tester"
    sdk.records.delete("contact", cid)
    assert sdk.records.retrieve("contact", cid, select=["jobtitle"]) is None  # the SDK's reading of 404


def test_picklist_label_becomes_its_value(sdk: Any) -> None:
    """The SDK reads the picklist options (the typed-attribute cast) and sends the number."""
    aid = sdk.records.create("account", {"name": "Sdk Labels", "accountcategorycode": "Standard"})
    assert sdk.records.retrieve("account", aid, select=["accountcategorycode"])["accountcategorycode"] == 2


def test_query_and_paging(sdk: Any) -> None:
    every = sdk.records.list("account", select=["name"])
    names = [r["name"] for r in every]
    assert len(names) >= 20  # the demo's accounts, plus any an earlier test created
    paged = list(sdk.records.list_pages("account", select=["name"], page_size=6))
    assert [len(p) for p in paged] == [6] * (len(names) // 6) + ([len(names) % 6] if len(names) % 6 else [])
    assert [r["name"] for p in paged for r in p] == names
    filtered = sdk.records.list("account", select=["name"], filter=f"name eq '{names[3]}'")
    assert [r["name"] for r in filtered] == [names[3]]


def test_bulk_create_and_bulk_delete(sdk: Any) -> None:
    ids = sdk.records.create("contact", [{"firstname": "Bulk", "lastname": f"Sdk{i}"} for i in range(5)])
    assert len(ids) == 5
    rows = sdk.records.list("contact", select=["lastname"], filter="firstname eq 'Bulk'")
    assert sorted(r["lastname"] for r in rows) == [f"Sdk{i}" for i in range(5)]
    sdk.records.update("contact", ids, {"jobtitle": "Bulk updated"})
    assert {sdk.records.retrieve("contact", i, select=["jobtitle"])["jobtitle"] for i in ids} == {
        "Bulk updated"
    }
    job = sdk.records.delete("contact", ids)
    assert job
    assert list(sdk.records.list("contact", select=["lastname"], filter="firstname eq 'Bulk'")) == []


def test_fetchxml_pages_with_the_cookie(sdk: Any) -> None:
    xml = (
        "<fetch count='4'><entity name='account'><attribute name='name'/>"
        "<order attribute='name'/></entity></fetch>"
    )
    pages = list(sdk.query.fetchxml(xml).execute_pages())
    names = [r["name"] for p in pages for r in p]
    everything = [r["name"] for r in sdk.records.list("account", select=["name"])]
    assert len(pages) == -(-len(everything) // 4) and len(names) == len(everything) == len(set(names))
    assert names == sorted(names, key=str.lower)


def test_table_metadata(sdk: Any) -> None:
    info = sdk.tables.get("contact")
    assert info is not None
    assert (info["entity_set_name"], info["table_logical_name"]) == ("contacts", "contact")
    assert sdk.tables.get("nosuchtable") is None
    tables = sdk.tables.list()
    assert {"account", "contact", "email"} <= {t["LogicalName"] for t in tables}
    relationships = sdk.tables.list_table_relationships("account")
    assert "Account_Tasks" in {r["SchemaName"] for r in relationships}


def test_column_relationship_and_key_metadata(sdk: Any) -> None:
    column = sdk.tables.get_column("account", "accountcategorycode")
    assert column is not None and column["@odata.type"] == "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    assert sdk.tables.get_column("account", "nosuchcolumn") is None
    columns = {c["LogicalName"] for c in sdk.tables.list_columns("account")}
    assert {"name", "accountcategorycode", "primarycontactid"} <= columns
    relationship = sdk.tables.get_relationship("Account_Tasks")
    assert relationship is not None and relationship.relationship_type == "one_to_many"
    assert sdk.tables.get_alternate_keys("account") == []


def test_typed_columns_through_retrieve_metadata_changes(sdk: Any) -> None:
    """``typed=True`` reads go through RetrieveMetadataChanges(Query=@p1) (reference §5.3)."""
    columns = {c["LogicalName"]: c for c in sdk.tables.list_columns("contact", typed=True)}
    assert columns["emailaddress1"]["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert columns["emailaddress1"]["MaxLength"] > 0
    one = sdk.tables.get_column("contact", "statecode", typed=True)
    assert one is not None and one["AttributeType"] == "State"


def test_batch_change_set_with_a_reference_then_a_query(sdk: Any) -> None:
    batch = sdk.batch.new()
    with batch.changeset() as cs:
        lead = cs.records.create("lead", {"firstname": "Ada", "lastname": "SdkBatch"})
        cs.records.create("account", {"name": "Sdk Babbage", "originatingleadid@odata.bind": lead})
    batch.records.list("account", select=["name"], filter="name eq 'Sdk Babbage'")
    created_lead, created_account, listed = batch.execute().responses
    assert created_lead.status_code == created_account.status_code == 204
    assert [a["accountid"] for a in listed.data["value"]] == [created_account.entity_id]
    [account] = sdk.records.list(
        "account", select=["_originatingleadid_value"], filter="name eq 'Sdk Babbage'"
    )
    assert account["_originatingleadid_value"] == created_lead.entity_id
