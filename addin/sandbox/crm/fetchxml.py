"""``GET {set}?fetchXml=…``: a documented subset of FetchXML (reference/dataverse-metadata.md §3).

Supported: ``attribute`` (with ``alias``), ``all-attributes``, ``order``, nested ``filter`` with
``condition`` (the common operators, ``in``/``not-in``/``between`` with ``<value>`` children),
one level of ``link-entity`` (inner/outer; columns come back as ``<alias>.<column>``), and
``top``, ``count``, ``page``, ``paging-cookie`` and ``returntotalrecordcount`` on ``fetch``.
Anything else (aggregates, deeper links, other operators) is refused with 400, never ignored.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

from addin.sandbox.crm import errors as E
from addin.sandbox.crm.errors import bad_request
from addin.sandbox.crm.odata_values import coerce as _coerce
from addin.sandbox.crm.query import MAX_PAGE, TOTAL_COUNT, TOTAL_COUNT_EXCEEDED, Annotations, Options, Reader
from addin.sandbox.crm.schema import BY_LOGICAL
from addin.sandbox.crm.schema_types import BOOL, GUID, Table
from addin.sandbox.crm.store import Record

COOKIE = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE = "Microsoft.Dynamics.CRM.morerecords"
Predicate = Callable[[Record], bool]
OPERATORS = {
    "eq", "ne", "gt", "ge", "lt", "le", "like", "not-like", "begins-with", "ends-with",
    "null", "not-null", "in", "not-in", "between", "on-or-after", "on-or-before", "eq-userid", "ne-userid",
}  # fmt: skip


def column_of(table: Table, attr: str) -> str:
    """The stored name of a FetchXML attribute: the column, or ``_x_value`` for a lookup."""
    if attr in table.columns:
        return attr
    if attr in table.lookups:
        return f"_{attr}_value"
    raise E.unknown_property(attr, table.logical)


def condition(table: Table, attr: str, op: str, raw: list[str], user_id: str) -> Predicate:
    """One FetchXML condition (also QueryExpression conditions, mapped to these names)."""
    if op not in OPERATORS:
        raise bad_request(f"The condition operator '{op}' is not supported by the sandbox.")
    col = column_of(table, attr)
    kind = table.columns.get(col, GUID)
    if op in ("eq-userid", "ne-userid"):
        raw, op = [user_id], op[:2]

    def conv(value: str) -> Any:
        text = value.strip()
        if kind == GUID:
            return text.strip("{}").lower()
        if kind == BOOL:
            return text.lower() in ("1", "true")
        return _coerce(kind, text)

    wanted = [conv(v) for v in raw]
    if op not in ("null", "not-null") and not wanted:
        raise bad_request(f"The condition on '{attr}' with operator '{op}' needs a value.")

    def norm(x: Any) -> Any:
        return x.lower() if isinstance(x, str) else x

    def like(value: Any, pattern: str) -> bool:
        regex = re.escape(pattern.lower()).replace("%", ".*").replace("_", ".")
        return isinstance(value, str) and re.fullmatch(regex, value.lower(), re.S) is not None

    def pred(r: Record) -> bool:
        value = r.get(col)
        if op == "null":
            return value is None
        if op == "not-null":
            return value is not None
        if op in ("eq", "in"):
            return norm(value) in [norm(w) for w in wanted]
        if op in ("ne", "not-in"):
            return norm(value) not in [norm(w) for w in wanted]
        if op in ("like", "not-like", "begins-with", "ends-with"):
            text = str(wanted[0])
            pattern = {"begins-with": f"{text}%", "ends-with": f"%{text}"}.get(op, text)
            return like(value, pattern) != (op == "not-like")
        if value is None:
            return False
        a, b = norm(value), norm(wanted[0])
        if op == "between":
            return bool(b <= a <= norm(wanted[-1]))
        return bool(
            {
                "gt": a > b,
                "ge": a >= b,
                "lt": a < b,
                "le": a <= b,
                "on-or-after": a >= b,
                "on-or-before": a <= b,
            }[op]
        )

    return pred


def filter_predicate(
    table: Table, node: ET.Element, user_id: str, links: dict[str, Table] | None = None
) -> Any:
    """A ``<filter>`` as a predicate over a joined row: ``{"": record, alias: linked record}``."""
    kind = node.get("type", "and")
    if kind not in ("and", "or"):
        raise bad_request(f"The filter type '{kind}' is not valid; use 'and' or 'or'.")
    parts: list[Callable[[dict[str, Record | None]], bool]] = []
    for child in node:
        if child.tag == "filter":
            parts.append(filter_predicate(table, child, user_id, links))
        elif child.tag == "condition":
            alias = child.get("entityname") or ""
            target = table if not alias else (links or {}).get(alias)
            if target is None:
                raise bad_request(f"The entityname '{alias}' does not name a link-entity alias.")
            values = [v.text or "" for v in child.findall("value")]
            if not values and child.get("value") is not None:
                values = [child.get("value") or ""]
            check = condition(
                target, child.get("attribute", ""), child.get("operator", "eq"), values, user_id
            )
            parts.append(lambda row, a=alias, c=check: row.get(a) is not None and c(row[a] or {}))  # type: ignore[misc]
        else:
            raise bad_request(f"The element '{child.tag}' is not valid in a filter.")
    if kind == "or":
        return lambda row: any(p(row) for p in parts) if parts else True
    return lambda row: all(p(row) for p in parts)


def parse(text: str) -> ET.Element:
    try:
        fetch = ET.fromstring(text)
    except ET.ParseError as exc:
        raise bad_request(f"The FetchXML is not well formed: {exc}") from None
    if fetch.tag != "fetch":
        raise bad_request("The FetchXML must have a <fetch> root element.")
    return fetch


def _int(fetch: ET.Element, name: str) -> int | None:
    value = fetch.get(name)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise bad_request(f"The fetch attribute '{name}' must be a positive number, not '{value}'.")
    return int(value)


def run(reader: Reader, table: Table, text: str, ann: Annotations, context: str) -> dict[str, Any]:
    """The body answered for ``GET {set}?fetchXml=<text>`` (the store lock is held by the caller)."""
    fetch = parse(text)
    if fetch.get("aggregate", "false").lower() == "true":
        raise bad_request("Aggregate FetchXML queries are not supported by the sandbox.")
    entity = fetch.find("entity")
    if entity is None or entity.get("name") != table.logical:
        raise bad_request(f"The FetchXML entity name must be '{table.logical}' for {table.entity_set}.")
    top, count, page = _int(fetch, "top"), _int(fetch, "count"), _int(fetch, "page") or 1
    if top is not None and (count is not None or fetch.get("page")):
        raise bad_request("The 'top' attribute cannot be used together with paging ('count', 'page').")
    links: dict[str, tuple[Table, ET.Element]] = {}
    for i, link in enumerate(entity.findall("link-entity"), 1):
        if link.find("link-entity") is not None:
            raise bad_request("The sandbox supports one level of link-entity.")
        linked = BY_LOGICAL.get(link.get("name", ""))
        if linked is None:
            raise bad_request(f"The link-entity '{link.get('name')}' is not a table of the sandbox.")
        if link.get("link-type", "inner") not in ("inner", "outer"):
            raise bad_request(f"The link-type '{link.get('link-type')}' is not supported by the sandbox.")
        column_of(linked, link.get("from", ""))  # unknown join columns fail before any row is read
        column_of(table, link.get("to", ""))
        links[link.get("alias") or f"{linked.logical}{i}"] = (linked, link)
    rows = _joined(reader, table, entity, links)
    filt = entity.find("filter")
    if filt is not None:
        predicate = filter_predicate(table, filt, reader.user_id, {a: t for a, (t, _) in links.items()})
        rows = [r for r in rows if predicate(r)]
    for order in reversed(entity.findall("order")):
        col = column_of(table, order.get("attribute", ""))
        desc = order.get("descending", "false").lower() == "true"
        rows.sort(key=lambda r, c=col: _sort_key((r[""] or {}).get(c)), reverse=desc)  # type: ignore[misc]
    total = len(rows)
    size = min(count or top or MAX_PAGE, MAX_PAGE)
    start = _resume(fetch.get("paging-cookie"), table, rows, page, size)
    chunk = rows[start : start + size]
    more = top is None and start + size < total
    body: dict[str, Any] = {"@odata.context": context}
    if fetch.get("returntotalrecordcount", "false").lower() == "true":
        if ann.wants(TOTAL_COUNT):
            body[f"@{TOTAL_COUNT}"] = min(total, MAX_PAGE)
        if ann.wants(TOTAL_COUNT_EXCEEDED):
            body[f"@{TOTAL_COUNT_EXCEEDED}"] = total > MAX_PAGE
    if ann.wants(COOKIE) and chunk:
        body[f"@{COOKIE}"] = _cookie(table, chunk, page)
    if ann.wants(MORE):
        body[f"@{MORE}"] = more
    body["value"] = [_render(reader, table, entity, links, row, ann) for row in chunk]
    return body


def _joined(
    reader: Reader, table: Table, entity: ET.Element, links: dict[str, tuple[Table, ET.Element]]
) -> list[dict[str, Record | None]]:
    rows: list[dict[str, Record | None]] = [{"": r} for r in reader.store.all(table.entity_set)]
    for alias, (linked, link) in links.items():
        from_col = column_of(linked, link.get("from", ""))
        to_col = column_of(table, link.get("to", ""))
        inner_filter = link.find("filter")
        keep = (
            filter_predicate(linked, inner_filter, reader.user_id)
            if inner_filter is not None
            else (lambda row: True)
        )
        candidates = [r for r in reader.store.all(linked.entity_set) if keep({"": r})]
        joined: list[dict[str, Record | None]] = []
        for row in rows:
            value = (row[""] or {}).get(to_col)
            matches = [c for c in candidates if value is not None and c.get(from_col) == value]
            if matches:
                joined += [{**row, alias: m} for m in matches]
            elif link.get("link-type", "inner") == "outer":
                joined.append({**row, alias: None})
        rows = joined
    return rows


def _columns(table: Table, node: ET.Element) -> list[tuple[str, str]] | None:
    """(stored column, output name) pairs, or None for all attributes."""
    if node.find("all-attributes") is not None:
        return None
    out = []
    for attr in node.findall("attribute"):
        col = column_of(table, attr.get("name", ""))
        out.append((col, attr.get("alias") or col))
    return out


def _render(
    reader: Reader,
    table: Table,
    entity: ET.Element,
    links: dict[str, tuple[Table, ET.Element]],
    row: dict[str, Record | None],
    ann: Annotations,
) -> dict[str, Any]:
    record = row[""] or {}
    cols = _columns(table, entity)
    select = None if cols is None else [c for c, _ in cols]
    rendered = reader.render(table, record, Options(select=select), ann)
    out: dict[str, Any] = {}
    for name, value in rendered.items():
        if value is None:
            continue  # FetchXML answers leave out null-valued columns
        alias = dict(cols or []).get(name, name) if "@" not in name else name
        out[alias] = value
    for alias, (linked, link) in links.items():
        ref = row.get(alias)
        if ref is None:
            continue
        for col, out_name in _columns(linked, link) or [(c, c) for c in linked.columns]:
            if ref.get(col) is not None:
                out[f"{alias}.{out_name}"] = ref.get(col)
    return out


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, str(value).lower())


def _cookie(table: Table, chunk: list[dict[str, Record | None]], page: int) -> str:
    first, last = (str((chunk[i][""] or {}).get(table.key, "")).upper() for i in (0, -1))
    inner = f'<cookie page="{page}"><{table.key} last="{{{last}}}" first="{{{first}}}" /></cookie>'
    # The paging cookie is URL-encoded twice inside the outer cookie (page-results.md).
    twice = quote(quote(inner, safe=""), safe="")
    return f'<cookie pagenumber="{page + 1}" pagingcookie="{twice}" istracking="False" />'


def _resume(
    cookie: str | None, table: Table, rows: list[dict[str, Record | None]], page: int, size: int
) -> int:
    """After the cookie's last record when it is still there, else by page number."""
    if cookie:
        m = re.search(rf'<{re.escape(table.key)}\s[^>]*last="\{{?([0-9A-Fa-f-]{{36}})\}}?"', unquote(cookie))
        if m:
            last = m.group(1).lower()
            for i, row in enumerate(rows):
                if str((row[""] or {}).get(table.key, "")).lower() == last:
                    return i + 1
    return (page - 1) * size
