"""Rows of the Dataverse Web API <-> the CRM port's plain values, and the request pieces the
adapter (``addin.crm.dataverse_port``) builds its batches from."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from addin.bridge_types import RecordRef
from addin.crm import records as r
from addin.crm.codes import EmailStatus
from addin.crm.port import EmailDraft, PendingEmail, TrackedEmail
from addin.crm.query import encode_query
from addin.errors import CrmError

ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}


def status_pair(status: EmailStatus) -> dict[str, int]:
    """``statecode`` and ``statuscode`` as the Web API wants them: always the matching pair."""
    return {"statecode": int(status.state), "statuscode": int(status)}


def annotated_get(batch: Any, path: str, params: dict[str, str]) -> None:
    batch.request("GET", path + "?" + encode_query(params), headers=ANNOTATIONS)


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def bracket(mid: str) -> str:
    return f"<{mid.strip().strip('<>')}>"


def regarding_of(row: dict[str, Any]) -> RecordRef | None:
    value = row.get("_regardingobjectid_value")
    if not value:
        return None
    table = str(row.get("_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname") or "")
    name = str(row.get("_regardingobjectid_value@OData.Community.Display.V1.FormattedValue") or "")
    return RecordRef(table, str(value), name)


def tracked_email(row: dict[str, Any]) -> TrackedEmail:
    return TrackedEmail(
        str(row["activityid"]), row.get("messageid"), regarding_of(row), row.get("statuscode")
    )


def email_body(draft: EmailDraft) -> dict[str, Any]:
    body: dict[str, Any] = {
        "activityid": draft.activity_id,
        "subject": draft.subject[:800],
        "description": draft.description,
        "directioncode": draft.outgoing,
        "messageid": draft.message_id[:320],
        "email_activity_parties": [
            r.party(p.mask, table=p.record.table, id=p.record.id, address=p.address)
            if p.record is not None
            else r.party(p.mask, address=p.address)
            for p in draft.parties
        ],
    }
    if draft.submitted_by:
        body["submittedby"] = draft.submitted_by[:250]
    if draft.when is not None:
        body["actualend"] = r.odata_literal(draft.when) if draft.when.tzinfo else None
    if draft.regarding is not None:
        table = r.regarding_table(draft.regarding.table)
        body[table.regarding_bind_key] = table.bind(draft.regarding.id)
    if draft.owner_id:
        body["ownerid@odata.bind"] = r.bind("systemusers", draft.owner_id)
    return {k: v for k, v in body.items() if v is not None}


def parts_groups(drafts: Sequence[EmailDraft], max_parts: int) -> Iterable[list[EmailDraft]]:
    group: list[EmailDraft] = []
    count = 0
    for draft in drafts:
        size = 2 + len(draft.attachments)
        if group and count + size > max_parts:
            yield group
            group, count = [], 0
        group.append(draft)
        count += size
    if group:
        yield group


def changeset_outcomes(results: Sequence[Any], expected: int) -> list[CrmError | None]:
    outcomes: list[CrmError | None] = []
    by_changeset: dict[int, list[Any]] = {}
    for result in results:
        if result.request.changeset is not None:
            by_changeset.setdefault(int(result.request.changeset), []).append(result)
    for index in range(expected):
        parts = by_changeset.get(index, [])
        error = next((p.error for p in parts if p.error is not None), None)
        if not parts:
            error = CrmError("The CRM did not answer for this message (the batch stopped early).")
        outcomes.append(error)
    return outcomes


def pending_email(row: dict[str, Any]) -> PendingEmail:
    parties = row.get("email_activity_parties") or []

    def addresses(mask: int) -> tuple[str, ...]:
        return tuple(
            str(p.get("addressused") or "") for p in parties if p.get("participationtypemask") == mask
        )

    return PendingEmail(
        activity_id=str(row["activityid"]),
        etag=str(row.get("@odata.etag") or ""),
        subject=str(row.get("subject") or ""),
        description=str(row.get("description") or ""),
        to=addresses(r.PARTY_TO),
        cc=addresses(r.PARTY_CC),
        bcc=addresses(r.PARTY_BCC),
        statuscode=int(row.get("statuscode") or 0),
        message_id=row.get("messageid"),
        send_after=parse_dt(row.get("delayedemailsendtime")),
        modified=parse_dt(row.get("modifiedon")),
        attempts=int(row.get("deliveryattempts") or 0),
        regarding=regarding_of(row),
    )


def parse_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
