"""Metadata endpoints: ``EntityDefinitions`` (collection, by ``LogicalName`` or ``MetadataId``,
``Attributes`` with type casts and option sets, ``Keys``, relationships),
``RelationshipDefinitions`` and ``GlobalOptionSetDefinitions`` (reference/dataverse-metadata.md §1).

Read-only: the sandbox's tables are fixed by its schema, so creating or changing a definition is
refused with 405 rather than pretended.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from addin.sandbox.crm.errors import PROPERTY_NOT_FOUND, ODataError, bad_request, not_found_segment
from addin.sandbox.crm.metadata_filter import compile_metadata_filter
from addin.sandbox.crm.metadata_model import (
    NS,
    OPTION_TYPES,
    attribute_type,
    attributes,
    entity,
    global_option_sets,
    one_to_many,
)
from addin.sandbox.crm.query import Options, parse_options
from addin.sandbox.crm.schema import TABLES

ROOTS = ("EntityDefinitions", "RelationshipDefinitions", "GlobalOptionSetDefinitions")
_ENTITY_NAVS = (
    "Attributes",
    "Keys",
    "OneToManyRelationships",
    "ManyToOneRelationships",
    "ManyToManyRelationships",
)
_OPTION_NAVS = ("OptionSet", "GlobalOptionSet")
_BASE_ATTR = {
    k
    for k in attributes("account")[0]
    if k != "@odata.type" and k not in ("MaxLength", "FormatName", "Format", "OptionSet", "GlobalOptionSet")
}
_NAMED = re.compile(r"^(\w+)='((?:[^']|'')*)'$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _read_only(method: str) -> ODataError:
    return ODataError(
        405,
        "0x80060890",
        f"The HTTP method '{method}' is not allowed: the sandbox's table definitions are fixed.",
    )


def _pick(rows: list[dict[str, Any]], key: str | None, attr: str, root: str) -> dict[str, Any]:
    """One row by ``Attr='value'`` (alternate key) or by its MetadataId."""
    text = (key or "").strip()
    named = _NAMED.match(text)
    if named and named.group(1) == attr:
        wanted, field = named.group(2).replace("''", "'"), attr
    elif _GUID.match(text.strip("{}")):
        wanted, field = text.strip("{}").lower(), "MetadataId"
    else:
        raise bad_request(
            f"Invalid key '{text}' for {root}: use ({attr}='…') or (MetadataId).", PROPERTY_NOT_FOUND
        )
    for row in rows:
        if str(row.get(field, "")) == wanted:
            return row
    raise not_found_segment(f"{root}({text})")


def _checked_options(query: dict[str, str]) -> Options:
    opts = parse_options(query)
    if opts.top is not None or opts.orderby or opts.skiptoken or opts.count:
        # Metadata queries return every match at once and take no paging or ordering (§1.1).
        raise bad_request(
            "The query options $top, $skip, $orderby and $count are not supported on metadata.",
            PROPERTY_NOT_FOUND,
        )
    return opts


class _View:
    """How one kind of metadata row is projected: its type name, properties and navigations."""

    def __init__(
        self,
        type_name: str,
        known: set[str],
        navs: dict[str, Callable[[dict[str, Any]], Any]] | None = None,
    ) -> None:
        self.type_name = type_name
        self.known = known
        self.navs = navs or {}

    def rows(self, rows: list[dict[str, Any]], opts: Options) -> list[dict[str, Any]]:
        if opts.filter:
            predicate = compile_metadata_filter(opts.filter, f"{NS}.{self.type_name}", self.known)
            rows = [r for r in rows if predicate(r)]
        return [self.one(r, opts) for r in rows]

    def one(self, row: dict[str, Any], opts: Options) -> dict[str, Any]:
        for name in opts.select or []:
            if name not in self.known or name in self.navs:
                raise bad_request(
                    f"Could not find a property named '{name}' on type '{NS}.{self.type_name}'.",
                    PROPERTY_NOT_FOUND,
                )
        for name in opts.expand:
            if name not in self.navs:
                raise bad_request(
                    f"Could not find a property named '{name}' on type '{NS}.{self.type_name}'.",
                    PROPERTY_NOT_FOUND,
                )
        names = opts.select or [k for k in row if k in self.known and k not in self.navs]
        out: dict[str, Any] = {}
        if "@odata.type" in row:
            out["@odata.type"] = row["@odata.type"]  # clients tell the metadata types apart by it
        for name in names:
            out[name] = row.get(name)
        out["MetadataId"] = row.get("MetadataId")  # always returned (§1.1)
        for name, sub in opts.expand.items():
            value = self.navs[name](row)
            if isinstance(value, list):
                view = _VIEWS[name]
                out[name] = view.rows(value, sub)
            elif value is None:
                out[name] = None
            else:
                out[name] = _project_plain(value, sub)
        return out


def _project_plain(value: dict[str, Any], opts: Options) -> dict[str, Any]:
    if not opts.select:
        return dict(value)
    for name in opts.select:
        if name not in value:
            raise bad_request(
                f"Could not find a property named '{name}' on type '{NS}.OptionSetMetadata'.",
                PROPERTY_NOT_FOUND,
            )
    out = {name: value[name] for name in opts.select}
    out["MetadataId"] = value.get("MetadataId")
    return out


def _entity_navs() -> dict[str, Callable[[dict[str, Any]], Any]]:
    return {
        "Attributes": lambda e: [_untyped(a) for a in attributes(e["LogicalName"])],
        "Keys": lambda e: [],
        "OneToManyRelationships": lambda e: [
            r for r in one_to_many() if r["ReferencedEntity"] == e["LogicalName"]
        ],
        "ManyToOneRelationships": lambda e: [
            r for r in one_to_many() if r["ReferencingEntity"] == e["LogicalName"]
        ],
        "ManyToManyRelationships": lambda e: [],
    }


def _untyped(attr: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attr.items() if k in _BASE_ATTR or k == "@odata.type"}


_RELATIONSHIP_KNOWN = set(one_to_many()[0]) - {"@odata.type"}
_VIEWS: dict[str, _View] = {
    "EntityDefinitions": _View("EntityMetadata", set(entity("account")) | set(_ENTITY_NAVS), _entity_navs()),
    "Attributes": _View("AttributeMetadata", _BASE_ATTR),
    "Keys": _View(
        "EntityKeyMetadata",
        {"MetadataId", "LogicalName", "SchemaName", "KeyAttributes", "EntityKeyIndexStatus"},
    ),
    "OneToManyRelationships": _View("OneToManyRelationshipMetadata", _RELATIONSHIP_KNOWN),
    "ManyToOneRelationships": _View("OneToManyRelationshipMetadata", _RELATIONSHIP_KNOWN),
    "ManyToManyRelationships": _View(
        "ManyToManyRelationshipMetadata",
        {"MetadataId", "SchemaName", "Entity1LogicalName", "Entity2LogicalName", "IntersectEntityName"},
    ),
    "RelationshipDefinitions": _View("RelationshipMetadataBase", _RELATIONSHIP_KNOWN),
}


def _typed_view(type_name: str) -> _View:
    known: set[str] = set(_BASE_ATTR)
    for table in TABLES:
        for attr in attributes(table.logical):
            if attribute_type(attr) == type_name:
                known |= set(attr) - {"@odata.type"}
    navs: dict[str, Callable[[dict[str, Any]], Any]] = {}
    if type_name in OPTION_TYPES:
        navs = {
            "OptionSet": lambda a: a.get("OptionSet"),
            "GlobalOptionSet": lambda a: a.get("GlobalOptionSet"),
        }
    return _View(type_name, known | set(navs), navs)


def _context(base_url: str, path: str, opts: Options, single: bool = False) -> str:
    items = list(opts.select or [])
    items += [f"{n}({','.join(s.select or [])})" for n, s in opts.expand.items()]
    projection = f"({','.join(items)})" if items else ""
    return f"{base_url}$metadata#{path}{projection}" + ("/$entity" if single else "")


def metadata(
    method: str, base_url: str, root: str, key: str | None, rest: list[str], query: dict[str, str]
) -> dict[str, Any]:
    """The JSON body of a metadata GET; raises ODataError for anything else."""
    if method != "GET":
        raise _read_only(method)
    opts = _checked_options(query)
    if root == "GlobalOptionSetDefinitions":
        return _option_sets(base_url, key, rest, opts)
    if root == "RelationshipDefinitions":
        return _relationships(base_url, key, rest, opts)
    entities = [entity(t.logical) for t in TABLES]
    view = _VIEWS["EntityDefinitions"]
    if key is None:
        if rest:
            raise not_found_segment(rest[0])
        return {
            "@odata.context": _context(base_url, "EntityDefinitions", opts),
            "value": view.rows(entities, opts),
        }
    row = _pick(entities, key, "LogicalName", "EntityDefinitions")
    logical = row["LogicalName"]
    if not rest:
        body = view.one(row, opts)
        return {"@odata.context": _context(base_url, "EntityDefinitions", opts, single=True), **body}
    head, _, inner = rest[0].partition("(")
    path = f"EntityDefinitions('{logical}')/{head}"
    if head == "Attributes":
        return _attributes(base_url, logical, inner.removesuffix(")") if inner else None, rest[1:], opts)
    if head not in _ENTITY_NAVS or inner or len(rest) > 1:
        raise not_found_segment(rest[-1] if head in _ENTITY_NAVS else rest[0])
    rows = view.navs[head](row)
    return {"@odata.context": _context(base_url, path, opts), "value": _VIEWS[head].rows(rows, opts)}


def _cast(segment: str) -> str:
    if not segment.startswith(f"{NS}."):
        raise not_found_segment(segment)
    type_name = segment.removeprefix(f"{NS}.")
    if type_name == "EnumAttributeMetadata" or not type_name.endswith("AttributeMetadata"):
        raise bad_request(f"The type '{segment}' cannot be used to cast attributes.", PROPERTY_NOT_FOUND)
    return type_name


def _attributes(
    base_url: str, logical: str, key: str | None, rest: list[str], opts: Options
) -> dict[str, Any]:
    every = list(attributes(logical))
    path = f"EntityDefinitions('{logical}')/Attributes"
    if key is None:
        if not rest:
            return {
                "@odata.context": _context(base_url, path, opts),
                "value": _VIEWS["Attributes"].rows([_untyped(a) for a in every], opts),
            }
        type_name = _cast(rest[0])
        if len(rest) > 1:
            raise not_found_segment(rest[1])
        rows = [a for a in every if attribute_type(a) == type_name]
        return {
            "@odata.context": _context(base_url, f"{path}/{NS}.{type_name}", opts),
            "value": _typed_view(type_name).rows(rows, opts),
        }
    attr = _pick(every, key, "LogicalName", "Attributes")
    if not rest:
        body = _VIEWS["Attributes"].one(_untyped(attr), opts)
        return {"@odata.context": _context(base_url, path, opts, single=True), **body}
    type_name = _cast(rest[0])
    if attribute_type(attr) != type_name:
        raise bad_request(
            f"The attribute '{attr['LogicalName']}' is a {attribute_type(attr)}, not a {type_name}.",
            PROPERTY_NOT_FOUND,
        )
    view = _typed_view(type_name)
    if len(rest) == 1:
        body = view.one(attr, opts)
        return {"@odata.context": _context(base_url, f"{path}/{NS}.{type_name}", opts, single=True), **body}
    if len(rest) == 2 and rest[1] in view.navs:
        value = view.navs[rest[1]](attr)
        if value is None:
            raise not_found_segment(rest[1])
        return {
            "@odata.context": f"{base_url}$metadata#{path}({attr['MetadataId']})/{rest[1]}/$entity",
            **_project_plain(value, opts),
        }
    raise not_found_segment(rest[-1])


def _relationships(base_url: str, key: str | None, rest: list[str], opts: Options) -> dict[str, Any]:
    rows = list(one_to_many())
    view = _VIEWS["RelationshipDefinitions"]
    if key is not None:
        if rest:
            raise not_found_segment(rest[0])
        body = view.one(_pick(rows, key, "SchemaName", "RelationshipDefinitions"), opts)
        return {"@odata.context": _context(base_url, "RelationshipDefinitions", opts, single=True), **body}
    path = "RelationshipDefinitions"
    if rest:
        if len(rest) > 1 or rest[0] not in (
            f"{NS}.OneToManyRelationshipMetadata",
            f"{NS}.ManyToManyRelationshipMetadata",
        ):
            raise not_found_segment(rest[0])
        path += f"/{rest[0]}"
        rows = [r for r in rows if r["@odata.type"] == f"#{rest[0]}"]
    return {"@odata.context": _context(base_url, path, opts), "value": view.rows(rows, opts)}


def _option_sets(base_url: str, key: str | None, rest: list[str], opts: Options) -> dict[str, Any]:
    rows = list(global_option_sets())
    if rest:
        raise not_found_segment(rest[0])
    if opts.filter:
        raise bad_request(
            "The query option $filter is not supported on GlobalOptionSetDefinitions.", PROPERTY_NOT_FOUND
        )
    if key is None:
        return {
            "@odata.context": _context(base_url, "GlobalOptionSetDefinitions", opts),
            "value": [_project_plain(r, opts) for r in rows],
        }
    row = _pick(rows, key, "Name", "GlobalOptionSetDefinitions")
    return {
        "@odata.context": _context(base_url, "GlobalOptionSetDefinitions", opts, single=True),
        **_project_plain(row, opts),
    }


def _conditions(criteria: Any, what: str) -> Callable[[dict[str, Any]], bool]:
    """A MetadataFilterExpression: ``Conditions`` joined by ``FilterOperator`` (And or Or)."""
    if criteria is None:
        return lambda row: True
    if not isinstance(criteria, dict):
        raise bad_request(f"The {what} criteria must be a MetadataFilterExpression.")
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for cond in criteria.get("Conditions") or []:
        name, op = str(cond.get("PropertyName", "")), str(cond.get("ConditionOperator", "Equals"))
        raw = cond.get("Value")
        value = raw.get("Value") if isinstance(raw, dict) else raw
        if op in ("Equals", "NotEquals"):
            tests.append(lambda row, n=name, v=value, eq=op == "Equals": (row.get(n) == v) == eq)  # type: ignore[misc]
        elif op in ("In", "NotIn") and isinstance(value, list):
            tests.append(lambda row, n=name, v=value, inside=op == "In": (row.get(n) in v) == inside)  # type: ignore[misc]
        else:
            raise bad_request(f"The metadata condition operator '{op}' is not supported by the sandbox.")
    if str(criteria.get("FilterOperator", "And")) == "Or":
        return lambda row: any(t(row) for t in tests)
    return lambda row: all(t(row) for t in tests)


def _projected(row: dict[str, Any], properties: Any) -> dict[str, Any]:
    names = properties.get("PropertyNames") if isinstance(properties, dict) else None
    if isinstance(properties, dict) and properties.get("AllProperties") is True:
        names = None
    return {k: v for k, v in row.items() if names is None or k in names or k in ("@odata.type", "MetadataId")}


def retrieve_metadata_changes(base_url: str, query: Any) -> dict[str, Any]:
    """``RetrieveMetadataChanges(Query=@p1)``: an EntityQueryExpression (Criteria, Properties,
    AttributeQuery) answered with fully typed attributes, as the SDK's typed column reads expect.
    Change tracking (ClientVersionStamp, DeletedMetadata) is not modelled: every call is a full read."""
    if not isinstance(query, dict):
        raise bad_request("RetrieveMetadataChanges needs the parameter 'Query': an EntityQueryExpression.")
    entity_test = _conditions(query.get("Criteria"), "entity")
    attr_query = query.get("AttributeQuery") or {}
    attr_test = _conditions(attr_query.get("Criteria"), "attribute")
    wanted = query.get("Properties")
    found = []
    for table in TABLES:
        row = entity(table.logical)
        if not entity_test(row):
            continue
        out = _projected(row, wanted)
        names = wanted.get("PropertyNames") if isinstance(wanted, dict) else None
        if names is None or "Attributes" in names:
            out["Attributes"] = [
                _projected(a, attr_query.get("Properties")) for a in attributes(table.logical) if attr_test(a)
            ]
        found.append(out)
    return {
        "@odata.context": f"{base_url}$metadata#{NS}.RetrieveMetadataChangesResponse",
        "EntityMetadata": found,
        "ServerVersionStamp": "1!sandbox",
        "DeletedMetadata": None,
    }
