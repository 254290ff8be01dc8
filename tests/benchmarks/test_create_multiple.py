"""Should tracking use CreateMultiple instead of one $batch change set per e-mail? (issue 16)

Measures both ways of creating the same records against the sandbox CRM with CRM latency:
request counts are exact and asserted, wall times only reported (the machine is noisy). Contacts
stand in for e-mails because the e-mail table does not offer CreateMultiple (its generated
reference lists Create, Update and Upsert only; the sandbox refuses it, and that is asserted).
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from addin.crm import DataverseClient, StaticTokenAuth
from addin.errors import CrmError
from addin.sandbox.crm import CrmSandbox

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
RECORDS = 500
LATENCY_MS = 20
NS = "Microsoft.Dynamics.CRM"


@pytest.fixture
def crm() -> Iterator[CrmSandbox]:
    with CrmSandbox(seed="empty") as sandbox:
        yield sandbox


def _requests(crm: CrmSandbox) -> int:
    return int(crm.stats.snapshot()["requests"])


def test_create_multiple_against_change_sets(crm: CrmSandbox) -> None:
    client = DataverseClient(crm.base_url, StaticTokenAuth("sandbox"), sleep=lambda s: None)
    crm.faults.update({"latency_ms": LATENCY_MS})
    rows = [
        {"firstname": "Bench", "lastname": f"N{i}", "emailaddress1": f"n{i}@bench.test"}
        for i in range(RECORDS)
    ]

    before, started = _requests(crm), time.perf_counter()
    batch = client.batch()
    for row in rows:  # the shape tracking uses: one atomic change set per record
        batch.changeset().create("contacts", row)
    results = batch.execute(continue_on_error=True)
    batch_seconds, batch_requests = time.perf_counter() - started, _requests(crm) - before
    assert all(r.ok for r in results) and len(results) == RECORDS

    before, started = _requests(crm), time.perf_counter()
    answer = client.call_action(
        "CreateMultiple", {"Targets": [{"@odata.type": f"{NS}.contact", **r} for r in rows]}, bound="contacts"
    )
    multiple_seconds, multiple_requests = time.perf_counter() - started, _requests(crm) - before
    assert len(answer["Ids"]) == RECORDS
    assert batch_requests == multiple_requests == 1
    print(
        f"\n{RECORDS} contacts, {LATENCY_MS} ms latency: $batch of change sets {batch_requests} request in "
        f"{batch_seconds:.2f} s; CreateMultiple {multiple_requests} request in {multiple_seconds:.2f} s"
    )
    # What tracking needs and CreateMultiple cannot give: per-record outcomes. One record that
    # already exists fails the whole CreateMultiple (standard tables roll back everything) ...
    existing = answer["Ids"][0]
    with pytest.raises(CrmError):
        client.call_action(
            "CreateMultiple",
            {
                "Targets": [
                    {"@odata.type": f"{NS}.contact", "contactid": existing},
                    {"@odata.type": f"{NS}.contact"},
                ]
            },
            bound="contacts",
        )
    # ... while a change set per record fails only that record.
    batch = client.batch()
    batch.changeset().create("contacts", {"contactid": existing})
    batch.changeset().create("contacts", {"lastname": "Fresh"})
    first, second = batch.execute(continue_on_error=True)
    assert not first.ok and second.ok
    # And e-mail, the table tracking writes, does not take CreateMultiple at all.
    with pytest.raises(CrmError):
        client.call_action("CreateMultiple", {"Targets": [{"@odata.type": f"{NS}.email"}]}, bound="emails")
    client.close()
