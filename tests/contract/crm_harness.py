"""Harnesses of the CRM contract suite: the in-memory CRM, and the Dataverse adapter on the sandbox
CRM over real HTTP on loopback (our requests client, the sandbox's Web API).

A harness yields the port under test plus the "server side": what users and other programs do
in the CRM (add a contact, press Send on an e-mail, set its Send later time), done on the server
directly, never through the port.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from addin.bridge_types import RecordRef
from addin.crm import records as r
from addin.crm.port import CrmPort


@dataclass
class CrmHarness:
    name: str
    crm: CrmPort
    # A second client of the same CRM (another machine of the same user).
    other: CrmPort
    # (table, name, e-mail or "") -> the new record
    add_record: Callable[[str, str, str], RecordRef]
    # (to, subject, body, regarding) -> activity id of a new Pending Send e-mail from the user
    queue_email: Callable[[str, str, str, RecordRef | None], str]
    schedule: Callable[[str, datetime | None], None]
    # activity id -> (statecode, statuscode) as the server holds them
    status: Callable[[str], tuple[int, int]]
    # Another client's PATCH of an e-mail's columns (statecode, statuscode, subject)
    patch: Callable[[str, dict[str, Any]], None]


@contextlib.contextmanager
def memory_harness() -> Iterator[CrmHarness]:
    from addin.crm.memory import MemoryCrm

    crm = MemoryCrm()

    def add_record(table: str, name: str, email: str) -> RecordRef:
        return crm.add_record(table, name, *([email] if email else []))

    def queue_email(to: str, subject: str, body: str, regarding: RecordRef | None) -> str:
        return crm.queue_email(to, subject, body, regarding=regarding)

    def status(activity_id: str) -> tuple[int, int]:
        state, code = crm.status(activity_id)
        return int(state), int(code)

    def patch(activity_id: str, columns: dict[str, Any]) -> None:
        names = {"statecode": "state", "statuscode": "status", "subject": "subject"}
        crm.patch_email(activity_id, **{names[k]: v for k, v in columns.items()})

    yield CrmHarness("memory", crm, crm, add_record, queue_email, crm.schedule, status, patch)


@contextlib.contextmanager
def dataverse_harness() -> Iterator[CrmHarness]:
    from addin.crm.auth import StaticTokenAuth
    from addin.crm.client import DataverseClient
    from addin.crm.dataverse_port import DataverseCrm
    from addin.sandbox.crm import CrmSandbox

    with CrmSandbox(seed="empty") as sandbox:
        crm = DataverseCrm(DataverseClient(sandbox.base_url, StaticTokenAuth(sandbox.token), timeout=10))
        other = DataverseCrm(DataverseClient(sandbox.base_url, StaticTokenAuth(sandbox.token), timeout=10))

        def add_record(table: str, name: str, email: str) -> RecordRef:
            spec = r.REGARDING_TABLES.get(table) or r.PARTY_TABLES[table]
            body: dict[str, Any] = {}
            if spec.primary_name == "fullname":
                first, _, last = name.partition(" ")
                body |= {"firstname": first, "lastname": last}
            else:
                body[spec.primary_name] = name
            if email:
                body[spec.email_columns[0]] = email
            return RecordRef(table, sandbox.create(spec.entity_set, body), name)

        def queue_email(to: str, subject: str, body: str, regarding: RecordRef | None) -> str:
            target = (r.REGARDING_TABLES[regarding.table].entity_set, regarding.id) if regarding else None
            return sandbox.queue_email(to, subject, body, regarding=target)

        def schedule(activity_id: str, when: datetime | None) -> None:
            sandbox.db.update(
                "emails", activity_id, {"delayedemailsendtime": r.odata_literal(when) if when else None}
            )

        def status(activity_id: str) -> tuple[int, int]:
            row = sandbox.db.get("emails", activity_id) or {}
            return int(row["statecode"]), int(row["statuscode"])

        def patch(activity_id: str, columns: dict[str, Any]) -> None:
            crm.client.update("emails", activity_id, columns, etag="*")

        try:
            yield CrmHarness("dataverse", crm, other, add_record, queue_email, schedule, status, patch)
        finally:
            crm.close()
            other.close()


CRMS: dict[str, Callable[[], contextlib.AbstractContextManager[CrmHarness]]] = {
    "memory": memory_harness,
    "dataverse": dataverse_harness,
}
