"""Resource routing of one Web API request (also used for each part of a ``$batch``).

``Req``/``Res`` are plain values so ``$batch`` can run inner requests without HTTP.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from addin.sandbox.crm import errors as E
from addin.sandbox.crm import fetchxml
from addin.sandbox.crm.csdl import csdl_document
from addin.sandbox.crm.errors import ODataError, bad_request, not_found_segment, record_not_found
from addin.sandbox.crm.metadata import ROOTS, metadata
from addin.sandbox.crm.query import Annotations, Options, Reader, context_url, parse_options, split_outside
from addin.sandbox.crm.schema import BY_LOGICAL, BY_SET
from addin.sandbox.crm.schema_types import Table
from addin.sandbox.crm.service import (
    BindResolver,
    Writer,
    default_bind_resolver,
    etag_matches,
    parse_entity_ref,
)
from addin.sandbox.crm.store import TYPE_SUFFIX, Store

_SAFE = "$,()'@:/"
log = logging.getLogger(__name__)
JSON_TYPE = "application/json; odata.metadata=minimal"
_SEGMENT = re.compile(r"^([A-Za-z_.$][\w.$]*)(?:\((.*)\))?$")
_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")


class Headers(dict[str, str]):
    """Case-insensitive header map (keys stored lower-case)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        pairs = items.items() if hasattr(items, "items") else items
        for k, v in pairs:
            key = k.lower()
            # Repeated headers (two Prefer lines, as in Microsoft's count example) form one list.
            self[key] = f"{self[key]}, {v}" if key in self else v

    def get_h(self, name: str) -> str | None:
        return self.get(name.lower())


@dataclass
class Req:
    method: str
    path: str  # relative to the service root, e.g. "emails(…)/subject"
    query: dict[str, str]
    headers: Headers
    body: bytes = b""
    base_url: str = ""

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        if len(self.body) > MAX_JSON_BODY:
            raise ODataError(413, "", f"The request body is larger than {MAX_JSON_BODY // 2**20} MB.")
        try:
            value = json.loads(self.body)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}", "0x80048d19") from exc
        if json_depth(value) > MAX_JSON_DEPTH:
            raise _too_deep()
        return value


# Microsoft's OData reader refuses JSON nested deeper than its message quota (100 by default);
# deep insert needs only a few levels.  Bodies are capped like Dataverse's request size limit.
MAX_JSON_DEPTH = 100
MAX_JSON_BODY = 32 * 2**20


def _too_deep() -> ODataError:
    return bad_request(
        f"The maximum nesting depth of '{MAX_JSON_DEPTH}' in the request body has been exceeded.",
        "0x80048d19",
    )


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests objects and arrays, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest


@dataclass
class Res:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @staticmethod
    def json(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Res:
        hdrs = [("Content-Type", JSON_TYPE), ("OData-Version", "4.0"), *(headers or [])]
        return Res(status, hdrs, json.dumps(data).encode())

    @staticmethod
    def error(exc: ODataError, prefer: str | None = None) -> Res:
        """The error body; with ``odata.include-annotations`` it carries the documented detail
        annotations (compose-http-requests-handle-errors.md, "Include more details with errors")."""
        body = exc.body()
        ann = Annotations(parse_prefer(prefer).get("odata.include-annotations"))
        details = body["error"]
        if ann.wants("Microsoft.PowerApps.CDS.HelpLink") and exc.code:
            details["@Microsoft.PowerApps.CDS.HelpLink"] = (
                "http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException%3a"
                f"{exc.code.removeprefix('0x')}&client=platform"
            )
        if ann.wants("Microsoft.PowerApps.CDS.InnerError.Message"):
            details["@Microsoft.PowerApps.CDS.InnerError.Message"] = exc.message
        return Res.json(body, exc.status, list(exc.headers.items()))


def parse_prefer(header: str | None) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for part in re.findall(r'(?:[^,"]|"[^"]*")+', header or ""):
        name, _, value = part.strip().partition("=")
        if name:
            prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


def parse_query(raw: str) -> dict[str, str]:
    return dict(parse_qsl(raw, keep_blank_values=True))


def parse_key(table: Table, key: str) -> str:
    m = _GUID.match(key.strip())
    if not m:
        raise bad_request(
            f"Invalid key '{key}' for {table.entity_set}: the sandbox addresses records by primary key."
        )
    return m.group(1).lower()


ActionFn = Callable[["Handler", Req, Table | None, str | None], Res]


class Handler:
    """Routes a request to the reader, writer or an action."""

    def __init__(self, store: Store, user_id: str, org_id: str, business_unit_id: str) -> None:
        self.store = store
        self.user_id = user_id
        self.org_id = org_id
        self.business_unit_id = business_unit_id
        self.writer = Writer(store, user_id, org_id)
        self.actions: dict[str, ActionFn] = {}  # filled by actions.register()

    def reader(self, base_url: str) -> Reader:
        return Reader(self.store, base_url, self.user_id)

    def execute(self, req: Req, resolve: BindResolver = default_bind_resolver) -> Res:
        try:
            return self._route(req, resolve)
        except ODataError as exc:
            return Res.error(exc, req.headers.get_h("prefer"))
        except Exception:
            # A sandbox bug must still answer in Dataverse's shape (and roll back a change set).
            log.exception("sandbox CRM: unexpected error on %s %s", req.method, req.path)
            return Res.error(ODataError(500, "0x80040216", "An unexpected error occurred."))

    # -- routing --------------------------------------------------------------------------

    def _route(self, req: Req, resolve: BindResolver) -> Res:
        path = req.path.strip("/")
        if not path:
            return self._service_document(req)
        segments = _split_path(path)
        first = _SEGMENT.match(segments[0])
        if first is None:
            raise not_found_segment(segments[0])
        name, key = first.group(1), first.group(2)
        table = BY_SET.get(name)
        if name in ROOTS:
            return Res.json(metadata(req.method, req.base_url, name, key, segments[1:], req.query))
        if name == "$metadata" and len(segments) == 1:
            if req.method != "GET":
                raise ODataError(405, "0x80060890", "The HTTP method is not allowed on '$metadata'.")
            return Res(200, [("Content-Type", "application/xml"), ("OData-Version", "4.0")], csdl_document())
        if table is None:
            action = self.actions.get(name.removeprefix("Microsoft.Dynamics.CRM."))
            if action is None or len(segments) > 1:
                raise not_found_segment(name)
            return action(self, req, None, key)
        rid = parse_key(table, key) if key is not None else None
        rest = segments[1:]
        if rid is None:
            if rest == ["$count"] and req.method == "GET":
                rows = self._query_rows(req, table)
                return Res(
                    200, [("Content-Type", "text/plain"), ("OData-Version", "4.0")], str(len(rows)).encode()
                )
            if len(rest) == 1 and rest[0].startswith("Microsoft.Dynamics.CRM."):
                action = self.actions.get(rest[0].removeprefix("Microsoft.Dynamics.CRM."))
                if action is None:
                    raise not_found_segment(rest[0])
                return action(self, req, table, None)  # bound to the collection
            if rest:
                raise not_found_segment(rest[0])
            if req.method == "GET":
                return self._get_collection(req, table, None)
            if req.method == "POST":
                return self._create(req, table, resolve)
            raise ODataError(405, "0x80060890", f"The HTTP method '{req.method}' is not allowed on '{name}'.")
        if not rest:
            return self._entity(req, table, rid, resolve)
        sub = rest[0]
        if sub.startswith("Microsoft.Dynamics.CRM."):
            action = self.actions.get(sub.removeprefix("Microsoft.Dynamics.CRM."))
            if action is None:
                raise not_found_segment(sub)
            return action(self, req, table, rid)
        if sub in table.collections and len(rest) == 1:
            current = self.store.peek(table.entity_set, rid)
            if current is None:
                raise record_not_found(table.logical, rid)
            if req.method != "GET":
                raise ODataError(
                    405, "0x80060890", f"The HTTP method '{req.method}' is not allowed on '{sub}'."
                )
            return self._get_collection(req, BY_LOGICAL[table.collections[sub].child], (table, current, sub))
        if rest[-1] == "$ref" and len(rest) == 2:
            return self._ref(req, table, rid, sub, resolve)
        if sub in table.columns and len(rest) <= 2:
            return self._property(req, table, rid, sub, raw=rest[1:] == ["$value"])
        raise not_found_segment(sub)

    def _ref(self, req: Req, table: Table, rid: str, sub: str, resolve: BindResolver) -> Res:
        """Associate/disassociate (associate-disassociate-entities-using-web-api.md)."""
        m = _SEGMENT.match(sub)
        nav, child_key = (m.group(1), m.group(2)) if m else (sub, None)
        ok = Res(204, [("OData-Version", "4.0")])
        if table.nav_target(nav) is not None and child_key is None:
            if req.method == "DELETE":
                self.writer.clear_lookup(table, rid, nav)
                return ok
            if req.method == "PUT":
                target = _odata_id(req)
                self.writer.update(table, rid, {f"{nav}@odata.bind": target}, resolve)
                return ok
        elif nav in table.collections:
            coll = table.collections[nav]
            child = BY_LOGICAL[coll.child]
            if self.store.peek(table.entity_set, rid) is None:
                raise record_not_found(table.logical, rid)
            if req.method == "POST" and child_key is None:
                entity_set, child_id = resolve(_odata_id(req))
                if entity_set != child.entity_set:
                    raise bad_request(f"'{nav}' relates {child.entity_set}, not {entity_set}.")
                self._set_child_lookup(child, child_id, coll.child_attr, table.logical, rid)
                return ok
            if req.method == "DELETE" and child_key is not None:
                child_id = parse_key(child, child_key)
                self._set_child_lookup(child, child_id, coll.child_attr, None, None)
                return ok
        raise ODataError(405, "0x80060890", f"The HTTP method '{req.method}' is not allowed on '{sub}/$ref'.")

    def _set_child_lookup(
        self, child: Table, child_id: str, attr: str, logical: str | None, parent_id: str | None
    ) -> None:
        with self.store.transaction():
            if self.store.peek(child.entity_set, child_id) is None:
                raise record_not_found(child.logical, child_id)
            key = f"_{attr}_value"
            self.store.update(child.entity_set, child_id, {key: parent_id, key + TYPE_SUFFIX: logical})

    def _service_document(self, req: Req) -> Res:
        value = [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set} for t in BY_SET.values()]
        return Res.json({"@odata.context": f"{req.base_url}$metadata", "value": value})

    # -- reads ------------------------------------------------------------------------------

    def _query_rows(self, req: Req, table: Table) -> list[Any]:
        opts = parse_options(req.query)
        reader = self.reader(req.base_url)
        with self.store.lock:
            rows = self.store.all(table.entity_set)
            if opts.filter:
                return reader._apply(table, rows, Options(filter=opts.filter))
            return rows

    def _get_collection(self, req: Req, table: Table, parent: tuple[Table, Any, str] | None) -> Res:
        prefs = parse_prefer(req.headers.get_h("prefer"))
        if "fetchXml" in req.query and parent is None:
            return self._fetch_xml(req, table, prefs)
        opts = parse_options(req.query)
        ann = Annotations(prefs.get("odata.include-annotations"))
        page_size = None
        applied = []
        if "odata.maxpagesize" in prefs:
            try:
                page_size = max(1, int(prefs["odata.maxpagesize"]))
            except ValueError:
                raise bad_request("odata.maxpagesize must be a number.") from None
            applied.append(f"odata.maxpagesize={page_size}")
        if ann:
            applied.append(f'odata.include-annotations="{prefs["odata.include-annotations"]}"')
        reader = self.reader(req.base_url)
        # The published nextLink keeps the query but not $count (count-rows.md).
        query = {k: v for k, v in req.query.items() if k not in ("$skiptoken", "$count")}
        path = req.path.strip("/")
        link = f"{req.base_url}{path}" + (
            f"?{urlencode(query, safe=_SAFE, quote_via=quote)}" if query else ""
        )
        with self.store.lock:
            if parent is None:
                rows = self.store.all(table.entity_set)
                context = context_url(req.base_url, table.entity_set, opts)
            else:
                ptable, precord, nav = parent
                rows = reader.children(ptable, precord, nav)[1]
                context = context_url(req.base_url, table.entity_set, opts)
            body = reader.collection(table, rows, opts, ann, page_size, context, link)
        headers = [("Preference-Applied", ",".join(applied))] if applied else []
        return Res.json(body, headers=headers)

    def _fetch_xml(self, req: Req, table: Table, prefs: dict[str, str]) -> Res:
        """``GET {set}?fetchXml=…``: the query stands alone (fetchxml/overview.md)."""
        for key in req.query:
            if key != "fetchXml":
                raise bad_request(f"The query parameter {key} cannot be combined with fetchXml.")
        ann = Annotations(prefs.get("odata.include-annotations"))
        with self.store.lock:
            body = fetchxml.run(
                self.reader(req.base_url),
                table,
                req.query["fetchXml"],
                ann,
                f"{req.base_url}$metadata#{table.entity_set}",
            )
        headers = []
        if ann:
            headers.append(
                ("Preference-Applied", f'odata.include-annotations="{prefs["odata.include-annotations"]}"')
            )
        return Res.json(body, headers=headers)

    def _entity(self, req: Req, table: Table, rid: str, resolve: BindResolver) -> Res:
        if req.query and req.method in ("PATCH", "DELETE"):
            parse_options(req.query)  # an unknown option is refused before anything changes
        if req.method == "GET":
            return self._get_one(req, table, rid)
        if req.method == "PATCH":
            return self._patch(req, table, rid, resolve)
        if req.method == "DELETE":
            self.writer.delete(table, rid, req.headers.get_h("if-match"))
            return Res(204, [("OData-Version", "4.0")])
        raise ODataError(
            405, "0x80060890", f"The HTTP method '{req.method}' is not allowed on '{table.entity_set}'."
        )

    def _get_one(self, req: Req, table: Table, rid: str) -> Res:
        prefs = parse_prefer(req.headers.get_h("prefer"))
        opts = parse_options(req.query)
        ann = Annotations(prefs.get("odata.include-annotations"))
        reader = self.reader(req.base_url)
        with self.store.lock:
            record = self.store.peek(table.entity_set, rid)
            if record is None:
                raise record_not_found(table.logical, rid)
            inm = req.headers.get_h("if-none-match")
            # 304 is never returned with $expand or include-annotations (conditional operations doc).
            if inm and inm != "null" and not opts.expand and not ann and etag_matches(inm, record):
                return Res(304, [("OData-Version", "4.0")])
            reader.check_select(table, opts.select)
            body = {"@odata.context": context_url(req.base_url, table.entity_set, opts, single=True)}
            body.update(reader.render(table, record, opts, ann))
        headers = [("ETag", reader.etag(record))]
        if ann:
            headers.append(
                ("Preference-Applied", f'odata.include-annotations="{prefs["odata.include-annotations"]}"')
            )
        return Res.json(body, headers=headers)

    def _representation(self, req: Req, table: Table, rid: str, status: int) -> Res:
        prefs = parse_prefer(req.headers.get_h("prefer"))
        entity_id = f"{req.base_url}{table.entity_set}({rid})"
        if prefs.get("return") != "representation":
            return Res(204, [("OData-Version", "4.0"), ("OData-EntityId", entity_id)])
        opts = parse_options(req.query)
        reader = self.reader(req.base_url)
        ann = Annotations(prefs.get("odata.include-annotations"))
        with self.store.lock:
            record = self.store.peek(table.entity_set, rid) or {}
            reader.check_select(table, opts.select)
            body = {"@odata.context": context_url(req.base_url, table.entity_set, opts, single=True)}
            body.update(reader.render(table, record, opts, ann))
        headers = [("Preference-Applied", "return=representation"), ("OData-EntityId", entity_id)]
        headers.append(("ETag", reader.etag(record)))
        return Res.json(body, status, headers)

    # -- writes -----------------------------------------------------------------------------

    def _create(self, req: Req, table: Table, resolve: BindResolver) -> Res:
        body = req.json()
        if req.query:
            parse_options(req.query)  # validate before writing
        rid = self.writer.create(table, body, resolve)
        return self._representation(req, table, rid, 201)

    def _patch(self, req: Req, table: Table, rid: str, resolve: BindResolver) -> Res:
        body = req.json()
        created, _ = self.writer.upsert(
            table,
            rid,
            body,
            resolve,
            if_match=req.headers.get_h("if-match"),
            if_none_match=req.headers.get_h("if-none-match"),
        )
        return self._representation(req, table, rid, 201 if created else 200)

    def _property(self, req: Req, table: Table, rid: str, name: str, raw: bool) -> Res:
        if req.method == "GET":
            record = self.store.get(table.entity_set, rid)
            if record is None:
                raise record_not_found(table.logical, rid)
            value = record.get(name)
            if raw:
                return Res(
                    200, [("Content-Type", "text/plain")], b"" if value is None else str(value).encode()
                )
            if value is None:
                return Res(204, [("OData-Version", "4.0")])
            ctx = f"{req.base_url}$metadata#{table.entity_set}({rid})/{name}"
            return Res.json({"@odata.context": ctx, "value": value})
        if req.method == "PUT":
            body = req.json()
            if not isinstance(body, dict) or "value" not in body:
                raise bad_request('A single-property PUT needs a body {"value": …}.')
            self.writer.set_property(table, rid, name, body["value"])
            return Res(204, [("OData-Version", "4.0")])
        if req.method == "DELETE":
            self.writer.set_property(table, rid, name, None)
            return Res(204, [("OData-Version", "4.0")])
        raise ODataError(405, "0x80060890", f"The HTTP method '{req.method}' is not allowed on '{name}'.")


def _odata_id(req: Req) -> str:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("@odata.id"), str):
        raise bad_request('The request body must be {"@odata.id": "<entity URL>"}.')
    return str(body["@odata.id"])


def _split_path(path: str) -> list[str]:
    """The non-empty segments, split on '/' outside parentheses and quotes (keys and function
    parameters may contain '/'), each percent-decoded."""
    parts = [unquote(p) for p in split_outside(path, "/")]
    return [p for p in parts if p]


def entity_ref_resolver(content_ids: dict[str, tuple[str, str]]) -> BindResolver:
    """Resolve ``@odata.bind`` values, including ``$n`` Content-ID references of a batch."""

    def resolve(value: str) -> tuple[str, str]:
        text = value.strip()
        if text.startswith("$"):
            ref = content_ids.get(text[1:])
            if ref is None:
                raise bad_request(f"Content-ID Reference: '{text}' does not exist in the batch context.")
            return ref
        ref2 = parse_entity_ref(text)
        if ref2 is None:
            raise bad_request(f"The value '{value}' is not a valid entity reference for @odata.bind.")
        return ref2

    return resolve


__all__ = ["E", "Handler", "Headers", "Req", "Res", "entity_ref_resolver", "parse_prefer", "parse_query"]
