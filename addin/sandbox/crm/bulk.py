"""Bulk messages and organisation functions: ``CreateMultiple``, ``UpdateMultiple`` and
``UpsertMultiple`` bound to an entity set, the unbound ``BulkDelete``, ``RetrieveVersion`` and
``RetrieveAvailableLanguages`` (reference/dataverse-metadata.md §2)."""

from __future__ import annotations

import json
import re
from typing import Any

from addin.sandbox.crm import errors as E
from addin.sandbox.crm.errors import ODataError, bad_request
from addin.sandbox.crm.fetchxml import condition
from addin.sandbox.crm.handler import Handler, Req, Res, parse_key
from addin.sandbox.crm.metadata import retrieve_metadata_changes
from addin.sandbox.crm.schema import BY_LOGICAL, TABLES
from addin.sandbox.crm.schema_types import Table
from addin.sandbox.crm.service import parse_entity_ref
from addin.sandbox.crm.store import now_iso

NS = "Microsoft.Dynamics.CRM"
VERSION = "9.2.25111.00170"  # the sandbox answers as a current online organisation
LANGUAGES = [1033]
# Tables whose generated reference lists no CreateMultiple/UpdateMultiple/UpsertMultiple (the
# e-mail reference lists Create, Update, Upsert, SendEmail… only). The exact error is [U].
NOT_MULTIPLE = {"email", "activityparty", "activitymimeattachment", "asyncoperation"}
# QueryExpression ConditionOperator names -> the FetchXML operators the sandbox evaluates.
_QE_OPERATORS = {
    "Equal": "eq",
    "NotEqual": "ne",
    "GreaterThan": "gt",
    "GreaterEqual": "ge",
    "LessThan": "lt",
    "LessEqual": "le",
    "Like": "like",
    "NotLike": "not-like",
    "BeginsWith": "begins-with",
    "EndsWith": "ends-with",
    "Null": "null",
    "NotNull": "not-null",
    "In": "in",
    "NotIn": "not-in",
    "Between": "between",
    "EqualUserId": "eq-userid",
    "NotEqualUserId": "ne-userid",
}


def _only_post(req: Req, name: str) -> None:
    if req.method != "POST":
        raise ODataError(405, "0x80060890", f"'{name}' must be called with POST.")


def _targets(req: Req, table: Table | None, rid: str | None, name: str) -> tuple[Table, list[dict[str, Any]]]:
    _only_post(req, name)
    if table is None or rid is not None:
        raise E.not_found_segment(name)
    if table.logical in NOT_MULTIPLE:
        raise bad_request(f"The '{name}' method does not support entities of type '{table.logical}'.")
    body = req.json()
    targets = body.get("Targets") if isinstance(body, dict) else None
    if not isinstance(targets, list) or not targets:
        raise bad_request(
            f"{name} needs the parameter 'Targets': a non-empty list of {table.logical} records."
        )
    out = []
    for i, target in enumerate(targets):
        if not isinstance(target, dict):
            raise bad_request(f"Targets[{i}] must be a JSON object.")
        odata_type = str(target.get("@odata.type", "")).lstrip("#")
        if odata_type != f"{NS}.{table.logical}":
            # One table per call; each target names its type (bulk-operations.md).
            raise bad_request(
                f'Targets[{i}] must carry "@odata.type": "{NS}.{table.logical}", '
                f"not '{odata_type or 'nothing'}'."
            )
        out.append(
            {k: v for k, v in target.items() if k not in ("@odata.type", "@odata.id")} | _id_of(target)
        )
    return table, out


def _id_of(target: dict[str, Any]) -> dict[str, Any]:
    ref = target.get("@odata.id")
    return {"@odata.id": ref} if isinstance(ref, str) else {}


def create_multiple(h: Handler, req: Req, table: Table | None, rid: str | None) -> Res:
    """All targets are created or none (standard tables roll back the whole request)."""
    table, targets = _targets(req, table, rid, "CreateMultiple")
    with h.store.transaction():
        ids = [h.writer.create(table, {k: v for k, v in t.items() if k != "@odata.id"}) for t in targets]
    return Res.json({"@odata.context": f"{req.base_url}$metadata#{NS}.CreateMultipleResponse", "Ids": ids})


def update_multiple(h: Handler, req: Req, table: Table | None, rid: str | None) -> Res:
    table, targets = _targets(req, table, rid, "UpdateMultiple")
    with h.store.transaction():
        for i, target in enumerate(targets):
            key = target.pop(table.key, None)
            if not isinstance(key, str):
                raise bad_request(f"Targets[{i}] must carry its primary key '{table.key}'.")
            target.pop("@odata.id", None)
            h.writer.update(table, parse_key(table, key), target)
    return Res(204, [("OData-Version", "4.0")])


def upsert_multiple(h: Handler, req: Req, table: Table | None, rid: str | None) -> Res:
    table, targets = _targets(req, table, rid, "UpsertMultiple")
    with h.store.transaction():
        for i, target in enumerate(targets):
            key = _upsert_key(table, target, i)
            h.writer.upsert(table, key, target)
    return Res(204, [("OData-Version", "4.0")])


def _upsert_key(table: Table, target: dict[str, Any], i: int) -> str:
    ref = target.pop("@odata.id", None)
    if isinstance(ref, str):
        parsed = parse_entity_ref(ref)
        if parsed is None or parsed[0] != table.entity_set:
            raise bad_request(
                f"Targets[{i}]: '@odata.id' must name a {table.entity_set} record by its primary key; "
                "the sandbox has no alternate keys."
            )
        return parsed[1]
    key = target.pop(table.key, None)
    if not isinstance(key, str):
        raise bad_request(f"Targets[{i}] must name its record with '@odata.id' or '{table.key}'.")
    return parse_key(table, key)


def bulk_delete(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    """Delete what the QuerySet matches and return the system job's id.

    Dataverse runs the job in the background; the sandbox runs it at once and records the job
    as an asyncoperation that is already Completed/Succeeded, so a client polling it sees the end.
    """
    _only_post(req, "BulkDelete")
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("QuerySet"), list) or not body["QuerySet"]:
        raise bad_request("BulkDelete needs the parameter 'QuerySet': a list of QueryExpression.")
    if not isinstance(body.get("JobName"), str):
        raise bad_request("BulkDelete needs the parameter 'JobName'.")
    started = now_iso()
    deleted = 0
    with h.store.transaction():
        for query in body["QuerySet"]:
            target, predicate = _query_expression(h, query)
            for record in [r for r in h.store.all(target.entity_set) if predicate(r)]:
                h.writer.delete(target, record[target.key])
                deleted += 1
        job = h.writer.create(
            BY_LOGICAL["asyncoperation"],
            {"name": body["JobName"], "operationtype": 13, "message": f"{deleted} records deleted."},
        )
        h.store.update(
            "asyncoperations",
            job,
            {"startedon": started, "completedon": now_iso(), "statecode": 3, "statuscode": 30},
        )
    return Res.json({"@odata.context": f"{req.base_url}$metadata#{NS}.BulkDeleteResponse", "JobId": job})


def _query_expression(h: Handler, query: Any) -> tuple[Table, Any]:
    if not isinstance(query, dict) or not isinstance(query.get("EntityName"), str):
        raise bad_request("Each QuerySet item must be a QueryExpression with an EntityName.")
    table = BY_LOGICAL.get(query["EntityName"])
    if table is None or table.logical == "asyncoperation":
        raise bad_request(f"The entity '{query['EntityName']}' cannot be bulk deleted.")
    criteria = query.get("Criteria")
    return table, _criteria(h, table, criteria) if criteria else (lambda r: True)


def _criteria(h: Handler, table: Table, node: Any) -> Any:
    if not isinstance(node, dict):
        raise bad_request("Criteria must be a FilterExpression.")
    operator = node.get("FilterOperator", "And")
    if operator not in ("And", "Or"):
        raise bad_request(f"FilterOperator must be 'And' or 'Or', not '{operator}'.")
    parts = []
    for cond in node.get("Conditions") or []:
        op = _QE_OPERATORS.get(str(cond.get("Operator")))
        if op is None:
            raise bad_request(
                f"The condition operator '{cond.get('Operator')}' is not supported by the sandbox."
            )
        values = [str(v.get("Value") if isinstance(v, dict) else v) for v in cond.get("Values") or []]
        parts.append(condition(table, str(cond.get("AttributeName", "")), op, values, h.user_id))
    parts += [_criteria(h, table, sub) for sub in node.get("Filters") or []]
    if operator == "Or":
        return lambda r: any(p(r) for p in parts)
    return lambda r: all(p(r) for p in parts)


def retrieve_version(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    if req.method != "GET" or table is not None:
        raise ODataError(405, "0x80060890", "'RetrieveVersion' must be called with GET.")
    return Res.json(
        {"@odata.context": f"{req.base_url}$metadata#{NS}.RetrieveVersionResponse", "Version": VERSION}
    )


def retrieve_available_languages(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    if req.method != "GET" or table is not None:
        raise ODataError(405, "0x80060890", "'RetrieveAvailableLanguages' must be called with GET.")
    return Res.json(
        {
            "@odata.context": f"{req.base_url}$metadata#{NS}.RetrieveAvailableLanguagesResponse",
            "LocaleIds": LANGUAGES,
        }
    )


def message_filters() -> list[tuple[str, list[str]]]:
    """(message, tables offering it) as ``sdkmessagefilters`` lists them."""
    tables = [t.logical for t in TABLES if t.logical not in ("sdkmessage", "sdkmessagefilter")]
    writable = [t for t in tables if t not in ("asyncoperation",)]
    multiple = [t for t in writable if t not in NOT_MULTIPLE]
    return [
        ("Create", writable),
        ("Update", writable),
        ("Upsert", writable),
        ("Delete", tables),
        ("Retrieve", tables),
        ("RetrieveMultiple", tables),
        ("CreateMultiple", multiple),
        ("UpdateMultiple", multiple),
        ("UpsertMultiple", multiple),
        ("SendEmail", ["email"]),
    ]


def metadata_changes(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    if req.method != "GET" or table is not None:
        raise ODataError(405, "0x80060890", "'RetrieveMetadataChanges' must be called with GET.")
    m = re.fullmatch(r"\s*Query\s*=\s*(@\w+)\s*", key or "")
    if m is None or m.group(1) not in req.query:
        raise bad_request("RetrieveMetadataChanges needs Query=@p1 with @p1 in the query string.")
    try:
        query = json.loads(req.query[m.group(1)])
    except ValueError:
        raise bad_request("The Query parameter is not valid JSON.") from None
    return Res.json(retrieve_metadata_changes(req.base_url, query))


def register(h: Handler) -> None:
    h.actions.update(
        {
            "CreateMultiple": create_multiple,
            "UpdateMultiple": update_multiple,
            "UpsertMultiple": upsert_multiple,
            "BulkDelete": bulk_delete,
            "RetrieveVersion": retrieve_version,
            "RetrieveAvailableLanguages": retrieve_available_languages,
            "RetrieveMetadataChanges": metadata_changes,
        }
    )
