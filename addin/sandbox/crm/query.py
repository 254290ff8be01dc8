"""Reading: ``$select``, ``$expand``, ``$orderby``, ``$top``, ``$count``, paging and annotations."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from addin.sandbox.crm.errors import PROPERTY_NOT_FOUND, ODataError, bad_request, unknown_property
from addin.sandbox.crm.odata_filter import compile_filter, substitute_aliases
from addin.sandbox.crm.schema import BY_LOGICAL
from addin.sandbox.crm.schema_types import BOOL, DEC, DT, GUID, INT, MONEY, PICK, STATE, STATUS, Table
from addin.sandbox.crm.store import TYPE_SUFFIX, Record, Store, lookup_key

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAV = "Microsoft.Dynamics.CRM.associatednavigationproperty"
TOTAL_COUNT = "Microsoft.Dynamics.CRM.totalrecordcount"
TOTAL_COUNT_EXCEEDED = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"
MAX_PAGE = 5000  # default and maximum page size (page-results.md)
BOOL_LABELS = {"directioncode": ("Incoming", "Outgoing")}


def split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses and quotes (keys, nested options and strings hold it too)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _split_top(text: str, sep: str) -> list[str]:
    """The non-empty, stripped parts of ``text`` between top-level ``sep``."""
    return [p.strip() for p in split_outside(text, sep) if p.strip()]


@dataclass
class Options:
    select: list[str] | None = None
    filter: str | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)
    top: int | None = None
    count: bool = False
    expand: dict[str, Options] = field(default_factory=dict)
    skiptoken: str | None = None


# Custom query options a request may carry besides the system ones: parameter aliases
# (``@p1``) and, on an entity set, ``fetchXml`` (handled before these options are parsed).
UNKNOWN_OPTION = "0x0"  # the code Dataverse answers an unknown custom option with (reference §3)


def unknown_option(key: str) -> ODataError:
    """Dataverse refuses an option it does not know rather than ignoring it (a silently wrong,
    unfiltered 200 would hide a client's typo)."""
    if key.startswith("$"):
        return bad_request(f"The query parameter {key} is not supported", PROPERTY_NOT_FOUND)
    return bad_request(f"The query parameter {key} is not supported", UNKNOWN_OPTION)


def parse_options(params: dict[str, str], nested: bool = False) -> Options:
    opts = Options()
    for key, value in params.items():
        if key.startswith("@") and not nested:
            continue  # a parameter alias, substituted where it is used
        if not key.startswith("$"):
            raise unknown_option(key)
        if key == "$select":
            opts.select = [s.strip() for s in value.split(",") if s.strip()]
        elif key == "$filter":
            opts.filter = substitute_aliases(value, params)
        elif key == "$orderby":
            for part in _split_top(value, ","):
                name, _, direction = part.partition(" ")
                opts.orderby.append((name.strip(), direction.strip().lower() == "desc"))
        elif key == "$top":
            if not value.isdigit():
                raise bad_request(f"Invalid value '{value}' for $top query option found.")
            opts.top = int(value)
        elif key == "$count":
            opts.count = value.lower() == "true"
        elif key == "$expand":
            for part in _split_top(value, ","):
                name, _, rest = part.partition("(")
                inner: dict[str, str] = {}
                if rest:
                    for item in _split_top(rest.rstrip()[:-1], ";"):
                        k, _, v = item.partition("=")
                        inner[k.strip()] = v
                opts.expand[name.strip()] = parse_options(inner, nested=True)
        elif key == "$skiptoken" and not nested:
            opts.skiptoken = value
        else:
            # $skip, $search, $levels, $format and any unknown $name (page-results.md: no $skip).
            raise unknown_option(key)
    return opts


class Annotations:
    """Which instance annotations the client asked for with ``odata.include-annotations``."""

    def __init__(self, spec: str | None) -> None:
        self.patterns = [p.strip() for p in (spec or "").split(",") if p.strip()]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def wants(self, term: str) -> bool:
        return any(p == "*" or fnmatch.fnmatchcase(term, p) for p in self.patterns)


class Reader:
    """Renders records the way the Web API does and runs collection queries."""

    def __init__(self, store: Store, base_url: str, user_id: str) -> None:
        self.store = store
        self.base_url = base_url
        self.user_id = user_id

    # -- filter resolver protocol -----------------------------------------------------

    def column_type(self, table: Table, name: str) -> str | None:
        if name in table.columns:
            return table.columns[name]
        m = re.fullmatch(r"_(\w+)_value", name)
        if m and m.group(1) in table.lookups:
            return GUID
        return None

    def single_nav_table(self, table: Table, nav: str) -> Table | None:
        found = table.nav_target(nav)
        return BY_LOGICAL[found[1]] if found else None

    def collection_table(self, table: Table, nav: str) -> Table | None:
        coll = table.collections.get(nav)
        return BY_LOGICAL[coll.child] if coll else None

    def related(self, table: Table, record: Record, nav: str) -> tuple[Table, Record | None]:
        found = table.nav_target(nav)
        if found is None:
            raise unknown_property(nav, table.logical)
        lk, target = found
        target_table = BY_LOGICAL[target]
        key = lookup_key(lk.attr)
        rid = record.get(key)
        if not rid or record.get(key + TYPE_SUFFIX, target) != target:
            return target_table, None
        return target_table, self.store.peek(target_table.entity_set, rid)

    def children(self, table: Table, record: Record, nav: str) -> tuple[Table, list[Record]]:
        coll = table.collections[nav]
        child = BY_LOGICAL[coll.child]
        key = lookup_key(coll.child_attr)
        return child, self.store.children(child.entity_set, key, record.get(table.key))

    # -- rendering --------------------------------------------------------------------

    def etag(self, record: Record) -> str:
        return f'W/"{record.get("versionnumber", 0)}"'

    def check_select(self, table: Table, select: list[str] | None) -> None:
        for name in select or []:
            if self.column_type(table, name) is None:
                raise unknown_property(name, table.logical)

    def render(self, table: Table, record: Record, opts: Options, ann: Annotations) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.etag": self.etag(record)}
        if opts.select:
            names = list(dict.fromkeys([*opts.select, table.key]))
        else:
            names = [*table.columns, *(lookup_key(a) for a in table.lookups)]
        for name in names:
            value = self._value(table, record, name)
            out[name] = value
            if ann and value is not None:
                self._annotate(out, table, record, name, value, ann)
        for nav, sub in opts.expand.items():
            out[nav] = self._expand(table, record, nav, sub, ann)
        return out

    def _value(self, table: Table, record: Record, name: str) -> Any:
        if table.logical == "email" and name == "attachmentcount":
            # Computed from the attachments, like the read-only server column.
            return sum(1 for _ in self.children(table, record, "email_activity_mime_attachment")[1])
        return record.get(name)

    def _annotate(
        self, out: dict[str, Any], table: Table, record: Record, name: str, value: Any, ann: Annotations
    ) -> None:
        m = re.fullmatch(r"_(\w+)_value", name)
        if m and m.group(1) in table.lookups:
            lk = table.lookups[m.group(1)]
            target = record.get(name + TYPE_SUFFIX) or lk.targets[0]
            if ann.wants(FORMATTED):
                target_table = BY_LOGICAL.get(target)
                ref = self.store.peek(target_table.entity_set, value) if target_table else None
                if ref is not None and target_table is not None:
                    out[f"{name}@{FORMATTED}"] = ref.get(target_table.primary_name)
            if ann.wants(ASSOCIATED_NAV):
                navs = [n for n, t in lk.navs.items() if t == target]
                if navs:
                    out[f"{name}@{ASSOCIATED_NAV}"] = navs[0]
            if ann.wants(LOOKUP_LOGICAL):
                out[f"{name}@{LOOKUP_LOGICAL}"] = target
            return
        if not ann.wants(FORMATTED):
            return
        kind = table.columns.get(name)
        if kind in (PICK, STATE, STATUS):
            label = table.labels.get(name, {}).get(int(value))
            if label is not None:
                out[f"{name}@{FORMATTED}"] = label
        elif kind == BOOL:
            no, yes = BOOL_LABELS.get(name, ("No", "Yes"))
            out[f"{name}@{FORMATTED}"] = yes if value else no
        elif kind == INT:
            out[f"{name}@{FORMATTED}"] = f"{value:,}"
        elif kind == DEC:
            out[f"{name}@{FORMATTED}"] = f"{value:,.2f}"
        elif kind == MONEY:
            out[f"{name}@{FORMATTED}"] = f"${value:,.2f}"
        elif kind == DT and isinstance(value, str):
            out[f"{name}@{FORMATTED}"] = _format_datetime(value)

    def _expand(self, table: Table, record: Record, nav: str, sub: Options, ann: Annotations) -> Any:
        if nav in table.collections:
            child, kids = self.children(table, record, nav)
            self.check_select(child, sub.select)
            rows = self._apply(child, kids, sub)
            return [self.render(child, r, Options(select=sub.select), ann) for r in rows]
        if table.nav_target(nav) is None:
            raise unknown_property(nav, table.logical)
        target_table, ref = self.related(table, record, nav)
        self.check_select(target_table, sub.select)
        if ref is None:
            return None
        return self.render(target_table, ref, Options(select=sub.select), ann)

    # -- collections ------------------------------------------------------------------

    def _apply(self, table: Table, rows: list[Record], opts: Options, top: bool = True) -> list[Record]:
        if opts.filter:
            pred = compile_filter(opts.filter, table, self)
            rows = [r for r in rows if pred(r)]
        for name, desc in reversed(opts.orderby):
            if self.column_type(table, name) is None:
                raise unknown_property(name, table.logical)
            rows = sorted(rows, key=lambda r, n=name: _sort_key(r.get(n)), reverse=desc)  # type: ignore[misc]
        if top and opts.top is not None:
            rows = rows[: opts.top]
        return rows

    def collection(
        self,
        table: Table,
        rows: list[Record],
        opts: Options,
        ann: Annotations,
        page_size: int | None,
        context: str,
        next_link_base: str,
    ) -> dict[str, Any]:
        """The body of a collection GET; ``next_link_base`` is the URL without $skiptoken."""
        self.check_select(table, opts.select)
        for nav in opts.expand:
            if nav not in table.collections and table.nav_target(nav) is None:
                raise unknown_property(nav, table.logical)
        if page_size is not None:
            opts.top = None  # $top is ignored together with odata.maxpagesize (reference §4.8)
        rows = self._apply(table, rows, opts, top=False)
        total = len(rows)  # $count ignores $top
        if opts.top is not None:
            rows = rows[: opts.top]
        size = min(page_size or MAX_PAGE, MAX_PAGE)
        page, last = _cookie(opts.skiptoken, table.key)
        start = _resume_at(table, rows, page, last, size)
        chunk = rows[start : start + size]
        body: dict[str, Any] = {"@odata.context": context}
        if opts.count:
            body["@odata.count"] = min(total, MAX_PAGE)
        if ann.wants(TOTAL_COUNT):
            # count-rows.md: -1 without $count=true; capped at 5,000 with the "exceeded" flag.
            body[f"@{TOTAL_COUNT}"] = min(total, MAX_PAGE) if opts.count else -1
        if ann.wants(TOTAL_COUNT_EXCEEDED):
            body[f"@{TOTAL_COUNT_EXCEEDED}"] = bool(opts.count and total > MAX_PAGE)
        body["value"] = [self.render(table, r, opts, ann) for r in chunk]
        if start + size < len(rows) and chunk:
            first_id, last_id = chunk[0].get(table.key, ""), chunk[-1].get(table.key, "")
            paging = (
                f'<cookie page="{page}"><{table.key} last="{{{str(last_id).upper()}}}" '
                f'first="{{{str(first_id).upper()}}}" /></cookie>'
            )
            # Shaped like the published nextLink: the paging cookie is encoded twice, the outer
            # cookie once (page-results.md).
            cookie = (
                f'<cookie pagenumber="{page + 1}" pagingcookie="{quote(quote(paging, safe=""), safe="")}" '
            )
            cookie += 'istracking="False" />'
            sep = "&" if "?" in next_link_base else "?"
            body["@odata.nextLink"] = f"{next_link_base}{sep}$skiptoken={quote(cookie, safe='=/%')}"
        return body


def _format_datetime(value: str) -> str:
    """The user's display format; the sandbox user's time zone is UTC and locale en-US."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    hour = dt.hour % 12 or 12
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def _cookie(token: str | None, key: str) -> tuple[int, str | None]:
    """The page number and the last primary key of the previous page from a ``$skiptoken``."""
    if not token:
        return 1, None
    # The inner cookie is encoded once more than the outer one; how often the outer one was
    # decoded on the way in depends on the client, so decode until nothing changes.
    text = token
    for _ in range(4):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    m = re.search(r'pagenumber="(\d+)"', text)
    if not m:
        raise bad_request("The $skiptoken is not valid.")
    found = re.search(rf'<{re.escape(key)}\s[^>]*last="\{{?([0-9A-Fa-f-]{{36}})\}}?"', text)
    return max(1, int(m.group(1))), found.group(1).lower() if found else None


def _resume_at(table: Table, rows: list[Record], page: int, last: str | None, size: int) -> int:
    """Where the next page starts. Dataverse positions by the cookie's last record, not by an
    offset, so a follow-up with another (or no) ``odata.maxpagesize`` still returns the rest
    (page-results.md). A cookie whose record has gone falls back to the page number."""
    if last is not None:
        for i, row in enumerate(rows):
            if str(row.get(table.key, "")).lower() == last:
                return i + 1
    return (page - 1) * size


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value).lower())


def _projection(opts: Options) -> str:
    items = list(opts.select or [])
    for nav, sub in opts.expand.items():
        items.append(f"{nav}{_projection(sub) or '()'}")
    return f"({','.join(items)})" if items else ""


def context_url(base_url: str, entity_set: str, opts: Options, single: bool = False) -> str:
    """``$metadata#contacts(fullname,Contact_Tasks(subject))/$entity`` as in Microsoft's samples."""
    return f"{base_url}$metadata#{entity_set}{_projection(opts)}" + ("/$entity" if single else "")


__all__ = ["Annotations", "ODataError", "Options", "Reader", "context_url", "parse_options"]
