"""A small slice of table definitions: ``EntityDefinitions(LogicalName='email')`` and its
``ManyToOneRelationships``, so a client can discover the ``@odata.bind`` names at run time
(reference §1.4, "Robust approach")."""

from __future__ import annotations

import re
import uuid
from typing import Any

from addin.sandbox.crm.errors import bad_request, not_found_segment
from addin.sandbox.crm.odata_filter import compile_filter
from addin.sandbox.crm.query import Annotations, Options, Reader, parse_options
from addin.sandbox.crm.schema import BOOL, BY_LOGICAL, STR, Table

_NS = uuid.UUID("0c1d2e3f-4a5b-5c6d-7e8f-90a1b2c3d4e5")

ENTITY = Table(
    "entitymetadata",
    "EntityDefinitions",
    "MetadataId",
    "LogicalName",
    {
        "MetadataId": "guid",
        "LogicalName": STR,
        "EntitySetName": STR,
        "PrimaryIdAttribute": STR,
        "PrimaryNameAttribute": STR,
        "IsOptimisticConcurrencyEnabled": BOOL,
        "ChangeTrackingEnabled": BOOL,
    },
)
RELATIONSHIP = Table(
    "onetomanyrelationship",
    "ManyToOneRelationships",
    "MetadataId",
    "SchemaName",
    {
        "MetadataId": "guid",
        "SchemaName": STR,
        "ReferencedEntity": STR,
        "ReferencedAttribute": STR,
        "ReferencingEntity": STR,
        "ReferencingAttribute": STR,
        "ReferencingEntityNavigationPropertyName": STR,
    },
)
_KEY = re.compile(r"^LogicalName='(\w+)'$")


def _entity(table: Table) -> dict[str, Any]:
    return {
        "MetadataId": str(uuid.uuid5(_NS, table.logical)),
        "LogicalName": table.logical,
        "EntitySetName": table.entity_set,
        "PrimaryIdAttribute": table.key,
        "PrimaryNameAttribute": table.primary_name,
        # Both are [U] for email in a real org (reference §4.5, §0.6); the sandbox does ETags, not deltas.
        "IsOptimisticConcurrencyEnabled": True,
        "ChangeTrackingEnabled": False,
        "versionnumber": 1,
    }


def _relationships(table: Table) -> list[dict[str, Any]]:
    rows = []
    for lookup in table.lookups.values():
        for nav, target in lookup.navs.items():
            # The activitypointer names without the table suffix belong to activitypointer's own
            # relationships; email's ManyToOneRelationships list the suffixed ones.
            if lookup.attr == "regardingobjectid" and table.logical == "email" and not nav.endswith("_email"):
                continue
            schema = f"{target.capitalize()}_{table.logical.capitalize()}s_{lookup.attr}"
            rows.append(
                {
                    "MetadataId": str(uuid.uuid5(_NS, f"{table.logical}.{nav}")),
                    "SchemaName": schema,
                    "ReferencedEntity": target,
                    "ReferencedAttribute": BY_LOGICAL[target].key,
                    "ReferencingEntity": table.logical,
                    "ReferencingAttribute": lookup.attr,
                    "ReferencingEntityNavigationPropertyName": nav,
                    "versionnumber": 1,
                }
            )
    return rows


def entity_definitions(
    reader: Reader, base_url: str, key: str | None, rest: list[str], query: dict[str, str]
) -> Any:
    """The JSON body for ``EntityDefinitions(LogicalName='x')[/ManyToOneRelationships]``."""
    m = _KEY.match(key or "")
    if m is None:
        raise bad_request(
            "The sandbox addresses table definitions as EntityDefinitions(LogicalName='<name>')."
        )
    table = BY_LOGICAL.get(m.group(1))
    if table is None:
        raise not_found_segment(f"EntityDefinitions(LogicalName='{m.group(1)}')")
    opts = parse_options(query)
    ann = Annotations(None)
    if not rest:
        reader.check_select(ENTITY, opts.select)
        row = reader.render(ENTITY, _entity(table), Options(select=opts.select), ann)
        row.pop("@odata.etag", None)
        return {"@odata.context": f"{base_url}$metadata#EntityDefinitions(LogicalName)/$entity", **row}
    if rest != ["ManyToOneRelationships"]:
        raise not_found_segment(rest[0])
    reader.check_select(RELATIONSHIP, opts.select)
    rows = _relationships(table)
    if opts.filter:
        predicate = compile_filter(opts.filter, RELATIONSHIP, reader)
        rows = [r for r in rows if predicate(r)]
    value = []
    for r in rows:
        rendered = reader.render(RELATIONSHIP, r, Options(select=opts.select), ann)
        rendered.pop("@odata.etag", None)
        value.append(rendered)
    return {
        "@odata.context": f"{base_url}$metadata#EntityDefinitions('{table.logical}')/ManyToOneRelationships",
        "value": value,
    }
