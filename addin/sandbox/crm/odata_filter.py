"""``$filter``: parse with the lark grammar in ``filter.lark`` and compile to a predicate.

String comparisons are case-insensitive, as Dataverse documents (filter-rows.md).
Property names are checked against the table so a typo answers Dataverse's 400.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from addin.sandbox.crm.errors import ODataError, bad_request, unknown_property
from addin.sandbox.crm.schema import BOOL, DEC, DT, GUID, INT, MEMO, MONEY, PICK, STATE, STATUS, STR, Table
from addin.sandbox.crm.store import Record

Env = dict[str, tuple[Table, Record]]
Expr = Callable[[Record, Env], Any]

QUERY_SYNTAX = "0x80060888"
_LITERALS = {"string", "dqstring", "guid", "datetime", "number", "true", "false", "null"}


class Resolver(Protocol):
    """What the evaluator needs from the query engine."""

    user_id: str

    def related(self, table: Table, record: Record, nav: str) -> tuple[Table, Record | None]: ...

    def children(self, table: Table, record: Record, nav: str) -> tuple[Table, list[Record]]: ...

    def column_type(self, table: Table, name: str) -> str | None: ...

    def single_nav_table(self, table: Table, nav: str) -> Table | None: ...

    def collection_table(self, table: Table, nav: str) -> Table | None: ...


@functools.cache
def _parser() -> Lark:
    grammar = (Path(__file__).with_name("filter.lark")).read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


def normalize_datetime(text: str) -> str:
    """Canonical ``YYYY-MM-DDTHH:MM:SSZ`` (UTC) so stored and literal dates compare as strings."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        value += "T00:00:00Z"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(
            f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'."
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lit_value(tree: Tree[Any]) -> Any:
    tok = str(tree.children[0]) if tree.children else ""
    kind = tree.data
    if kind == "string":
        return tok[1:-1].replace("''", "'")
    if kind == "dqstring":
        return tok[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if kind == "guid":
        return tok.lower()
    if kind == "datetime":
        return normalize_datetime(tok)
    if kind == "number":
        return float(tok) if "." in tok else int(tok)
    if kind == "true":
        return True
    if kind == "false":
        return False
    return None


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    return value


def _cmp(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(_norm(left) == _norm(right))
    if op == "ne":
        return bool(_norm(left) != _norm(right))
    if left is None or right is None:
        return False
    left, right = _norm(left), _norm(right)
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


def _coerce(kind: str | None, value: Any) -> Any:
    """Bring a literal to the column's representation (dates canonical, guids lower-case)."""
    if value is None or kind is None:
        return value
    if kind == DT and isinstance(value, str):
        return normalize_datetime(value)
    if kind == GUID and isinstance(value, str):
        return value.lower()
    if kind == BOOL and isinstance(value, int) and not isinstance(value, bool):
        return bool(value)
    if kind in (INT, PICK, STATE, STATUS, DEC, MONEY) and isinstance(value, str):
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return value
    return value


# Edm types, for the type check of a comparison between a column and a literal.
_COLUMN_EDM = {
    STR: "Edm.String",
    MEMO: "Edm.String",
    GUID: "Edm.Guid",
    INT: "Edm.Int32",
    PICK: "Edm.Int32",
    STATE: "Edm.Int32",
    STATUS: "Edm.Int32",
    DEC: "Edm.Decimal",
    MONEY: "Edm.Decimal",
    BOOL: "Edm.Boolean",
    DT: "Edm.DateTimeOffset",
}
_LITERAL_EDM = {
    "string": "Edm.String",
    "dqstring": "Edm.String",
    "guid": "Edm.Guid",
    "datetime": "Edm.DateTimeOffset",
    "true": "Edm.Boolean",
    "false": "Edm.Boolean",
}
_NUMERIC = {"Edm.Int32", "Edm.Decimal"}
# Pairs the sandbox accepts beyond equal types (literal forms clients commonly send for a
# column): a quoted GUID for a lookup or id, a quoted date for a date column, 0/1 for a boolean.
_LENIENT = {("Edm.Guid", "Edm.String"), ("Edm.DateTimeOffset", "Edm.String"), ("Edm.Boolean", "Edm.Int32")}
_OPERATOR_KIND = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}


def _literal_edm(node: Tree[Any] | Token) -> str | None:
    if not isinstance(node, Tree) or node.data not in _LITERALS or node.data == "null":
        return None
    if node.data == "number":
        return "Edm.Decimal" if "." in str(node.children[0]) else "Edm.Int32"
    return _LITERAL_EDM[node.data]


def _check_types(left: Any, lk: str | None, right: Any, rk: str | None, op: str) -> None:
    """Refuse a column compared with a literal of another type, as Dataverse's OData parser does
    (``statuscode eq 'abc'`` is a 400, not an empty result)."""
    for column_kind, literal in ((lk, right), (rk, left)):
        column = _COLUMN_EDM.get(column_kind or "")
        value = _literal_edm(literal)
        if column is None or value is None or column == value:
            continue
        if (column in _NUMERIC and value in _NUMERIC) or (column, value) in _LENIENT:
            continue
        first, second = (column, value) if column_kind == lk else (value, column)
        raise bad_request(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{first}' and '{second}' for operator kind '{_OPERATOR_KIND.get(op, op)}'.",
            QUERY_SYNTAX,
        )


class _Compiler:
    def __init__(self, resolver: Resolver, table: Table) -> None:
        self.r = resolver
        self.root = table
        self.scopes: list[dict[str, Table]] = [{}]

    def compile(self, tree: Tree[Any] | Token) -> tuple[Expr, str | None]:
        """Return (evaluator, column kind of the value or None)."""
        if isinstance(tree, Token):
            raise bad_request(f"Syntax error at '{tree}' in $filter.", QUERY_SYNTAX)
        kind = tree.data
        if kind in ("string", "dqstring", "guid", "datetime", "number", "true", "false", "null"):
            value = _lit_value(tree)
            return (lambda rec, env: value), None
        if kind == "or_":
            a, b = self.compile(tree.children[0])[0], self.compile(tree.children[2])[0]
            return (lambda rec, env: bool(a(rec, env)) or bool(b(rec, env))), BOOL
        if kind == "and_":
            a, b = self.compile(tree.children[0])[0], self.compile(tree.children[2])[0]
            return (lambda rec, env: bool(a(rec, env)) and bool(b(rec, env))), BOOL
        if kind == "not_":
            a = self.compile(tree.children[1])[0]
            return (lambda rec, env: not a(rec, env)), BOOL
        if kind == "compare":
            return self._compare(tree), BOOL
        if kind == "path":
            return self._path([str(t) for t in tree.children])
        if kind == "func_call":
            boolean = str(tree.children[0]) in ("contains", "startswith", "endswith")
            return self._func(tree), BOOL if boolean else None
        if kind == "crm_func":
            return self._crm_func(tree), BOOL
        if kind == "lambda":
            return self._lambda(tree), BOOL
        raise bad_request(f"Unsupported $filter expression '{kind}'.", QUERY_SYNTAX)

    def _compare(self, tree: Tree[Any]) -> Expr:
        left, op, right = tree.children
        lf, lk = self.compile(left)
        rf, rk = self.compile(right)
        opname = str(op)
        _check_types(left, lk, right, rk, opname)
        # A literal compared with a column takes the column's representation.
        if isinstance(right, Tree) and right.data in _LITERALS and lk:
            rv = _coerce(lk, rf({}, {}))
            return lambda rec, env: _cmp(opname, lf(rec, env), rv)
        if isinstance(left, Tree) and left.data in _LITERALS and rk:
            lv = _coerce(rk, lf({}, {}))
            return lambda rec, env: _cmp(opname, lv, rf(rec, env))
        return lambda rec, env: _cmp(opname, lf(rec, env), rf(rec, env))

    def _table_for(self, first: str) -> tuple[Table, str | None]:
        for scope in reversed(self.scopes):
            if first in scope:
                return scope[first], first
        return self.root, None

    def _path(self, segments: list[str]) -> tuple[Expr, str | None]:
        table, var = self._table_for(segments[0])
        rest = segments[1:] if var else segments
        if not rest:
            raise bad_request(f"The lambda variable '{var}' must be followed by a property.", QUERY_SYNTAX)
        # Walk single-valued navigation properties: regardingobjectid_contact_email/fullname
        hops: list[tuple[Table, str]] = []
        for nav in rest[:-1]:
            target = self.r.single_nav_table(table, nav)
            if target is None:
                raise unknown_property(nav, table.logical)
            hops.append((table, nav))
            table = target
        name = rest[-1]
        kind = self.r.column_type(table, name)
        if kind is None:
            raise unknown_property(name, table.logical)
        resolver = self.r
        start_var = var

        def get(rec: Record, env: Env) -> Any:
            current: Record | None = env[start_var][1] if start_var else rec
            for tbl, nav in hops:
                if current is None:
                    return None
                _, current = resolver.related(tbl, current, nav)
            if current is None:
                return None
            return current.get(name)

        return get, kind

    def _func(self, tree: Tree[Any]) -> Expr:
        name = str(tree.children[0])
        args = [self.compile(c)[0] for c in tree.children[1:]]
        simple: dict[str, Callable[[Any, Any], bool]] = {
            "contains": lambda a, b: b.lower() in a.lower(),
            "startswith": lambda a, b: a.lower().startswith(b.lower()),
            "endswith": lambda a, b: a.lower().endswith(b.lower()),
        }
        if name in simple and len(args) == 2:
            fn = simple[name]
            a, b = args

            def call(rec: Record, env: Env) -> Any:
                x, y = a(rec, env), b(rec, env)
                if not isinstance(x, str) or not isinstance(y, str):
                    return False
                return fn(x, y)

            return call
        if name in ("tolower", "toupper", "trim", "length") and len(args) == 1:
            (a,) = args
            ops: dict[str, Callable[[str], Any]] = {
                "tolower": str.lower,
                "toupper": str.upper,
                "trim": str.strip,
                "length": len,
            }
            op = ops[name]
            return lambda rec, env: op(v) if isinstance(v := a(rec, env), str) else None
        raise bad_request(f"An unknown function with name '{name}' was found.", QUERY_SYNTAX)

    def _crm_func(self, tree: Tree[Any]) -> Expr:
        fname = str(tree.children[0]).rsplit(".", 1)[1]
        params: dict[str, Any] = {}
        for arg in tree.children[1:]:
            key = str(arg.children[0])
            node = arg.children[1]
            if node.data == "list":
                params[key] = [_lit_value(c) for c in node.children]
            else:
                params[key] = _lit_value(node)
        prop = params.get("PropertyName")
        if fname in ("EqualUserId", "NotEqualUserId"):
            getter, _ = self._path([str(prop)])
            user = self.r.user_id.lower()
            want = fname == "EqualUserId"
            return lambda rec, env: (str(getter(rec, env) or "").lower() == user) == want
        if fname in ("In", "NotIn", "ContainValues"):
            if not isinstance(prop, str) or not isinstance(params.get("PropertyValues"), list):
                raise bad_request(f"{fname} needs PropertyName and PropertyValues.", QUERY_SYNTAX)
            getter, kind = self._path([prop])
            wanted = {_norm(_coerce(kind, v)) for v in params["PropertyValues"]}
            want = fname != "NotIn"
            return lambda rec, env: (_norm(getter(rec, env)) in wanted) == want
        if fname in ("Between", "NotBetween"):
            getter, kind = self._path([str(prop)])
            values = params.get("PropertyValues")
            if not isinstance(values, list) or len(values) != 2:
                raise bad_request(f"{fname} needs two PropertyValues.", QUERY_SYNTAX)
            low, high = (_coerce(kind, v) for v in values)
            inside = fname == "Between"
            return lambda rec, env: (
                (_cmp("ge", getter(rec, env), low) and _cmp("le", getter(rec, env), high)) == inside
            )
        if fname in _DATE_FUNCTIONS:
            date_getter, _ = self._path([str(prop)])
            test = _date_test(fname, params.get("PropertyValue"))
            return lambda rec, env: isinstance(v := date_getter(rec, env), str) and test(v)
        raise bad_request(
            f"The query function 'Microsoft.Dynamics.CRM.{fname}' is not supported.", QUERY_SYNTAX
        )

    def _lambda(self, tree: Tree[Any]) -> Expr:
        start, var, body = tree.children
        *segments, op = str(start).split("/")
        owner, bound = self._table_for(segments[0])
        navs = segments[1:] if bound else segments
        if len(navs) != 1:
            raise bad_request("Lambda operators work on one collection-valued navigation property.")
        nav = navs[0]
        child = self.r.collection_table(owner, nav)
        if child is None:
            raise unknown_property(nav, owner.logical)
        self.scopes.append({str(var): child})
        try:
            predicate = self.compile(body)[0]
        finally:
            self.scopes.pop()
        name, resolver, is_any, outer_var = str(var), self.r, str(op) == "any", bound

        def run(rec: Record, env: Env) -> bool:
            current = env[outer_var][1] if outer_var else rec
            _, kids = resolver.children(owner, current, nav)
            results = (bool(predicate(rec, {**env, name: (child, kid)})) for kid in kids)
            return any(results) if is_any else all(results)

        return run


_DATE_FUNCTIONS = {
    "Today",
    "Yesterday",
    "Tomorrow",
    "Last7Days",
    "Next7Days",
    "LastXHours",
    "NextXHours",
    "LastXDays",
    "NextXDays",
    "LastXMonths",
    "OlderThanXHours",
    "OlderThanXDays",
    "OlderThanXMonths",
    "On",
    "OnOrAfter",
    "OnOrBefore",
}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_test(fname: str, raw: Any) -> Callable[[str], bool]:
    """Date query functions (Web API query function reference); the sandbox user's zone is UTC."""
    now = datetime.now(UTC).replace(microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    day = timedelta(days=1)
    if fname in ("On", "OnOrAfter", "OnOrBefore"):
        if not isinstance(raw, str):
            raise bad_request(f"{fname} needs a date PropertyValue.", QUERY_SYNTAX)
        date = normalize_datetime(raw)[:10]
        if fname == "On":
            return lambda v: v[:10] == date
        return (lambda v: v[:10] >= date) if fname == "OnOrAfter" else (lambda v: v[:10] <= date)
    fixed = {
        "Today": (midnight, midnight + day),
        "Yesterday": (midnight - day, midnight),
        "Tomorrow": (midnight + day, midnight + 2 * day),
        "Last7Days": (midnight - 7 * day, now),
        "Next7Days": (now, midnight + 8 * day),
    }
    if fname in fixed:
        low, high = (_iso(m) for m in fixed[fname])
        if fname == "Last7Days":
            return lambda v: low <= v <= high
        return lambda v: low <= v < high
    try:
        amount = int(raw)
    except (TypeError, ValueError):
        raise bad_request(f"{fname} needs a whole-number PropertyValue.", QUERY_SYNTAX) from None
    unit = timedelta(hours=1) if fname.endswith("Hours") else day
    span = unit * amount if not fname.endswith("Months") else day * 30 * amount  # months approximated
    now_text = _iso(now)
    if fname.startswith("Last"):
        since = _iso(now - span if unit != day else midnight - span)
        return lambda v: since <= v <= now_text
    if fname.startswith("Next"):
        until = _iso(now + span if unit != day else midnight + span + day)
        return lambda v: now_text <= v < until
    before = _iso(now - span)
    return lambda v: v < before  # OlderThanX…


def substitute_aliases(text: str, query: dict[str, str]) -> str:
    """Replace parameter aliases (``@p1``) outside string literals by their values from the query."""
    out: list[str] = []
    for part in re.split(r"('(?:[^']|'')*')", text):
        if part.startswith("'") and part.endswith("'") and len(part) >= 2:
            out.append(part)
            continue
        out.append(re.sub(r"@(\w+)", lambda m: query.get(f"@{m.group(1)}", m.group(0)), part))
    return "".join(out)


# Dataverse parses $filter with Microsoft's OData library, which stops at a recursion limit
# (800 by default) with "The recursion limit has been exceeded."; the sandbox compiles and
# evaluates recursively, so its limit sits well below Python's own.  The URL itself is
# limited to about 32 KB by the web server in front of Dataverse (HTTP 414).
MAX_FILTER_DEPTH = 200
MAX_FILTER_LENGTH = 32_768


def _depth(tree: Tree[Any]) -> int:
    """The deepest nesting of the parse tree, without recursion."""
    deepest = 0
    stack: list[tuple[Tree[Any], int]] = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in node.children if isinstance(c, Tree))
    return deepest


def _paren_depth(text: str) -> int:
    """The deepest parenthesis nesting outside string literals (the parse tree drops them)."""
    deepest = level = 0
    quoted: str | None = None
    for ch in text:
        if quoted:
            if ch == quoted:
                quoted = None  # a doubled quote closes and reopens: same effect
        elif ch in "'\"":
            quoted = ch
        elif ch == "(":
            level += 1
            deepest = max(deepest, level)
        elif ch == ")":
            level -= 1
    return deepest


def compile_filter(text: str, table: Table, resolver: Resolver) -> Callable[[Record], bool]:
    """Compile ``$filter`` text for ``table``; raises ODataError (400) on bad input."""
    if len(text) > MAX_FILTER_LENGTH:
        raise ODataError(414, "", "The request URL is too long.")
    try:
        tree = _parser().parse(text)
    except LarkError as exc:
        raise bad_request(
            f"Syntax error in $filter '{text}': {str(exc).splitlines()[0]}", QUERY_SYNTAX
        ) from exc
    if _depth(tree) > MAX_FILTER_DEPTH or _paren_depth(text) > MAX_FILTER_DEPTH:
        raise bad_request("The recursion limit has been exceeded.", QUERY_SYNTAX)
    try:
        fn, kind = _Compiler(resolver, table).compile(tree)
    except ODataError:
        raise
    if kind != BOOL:
        raise bad_request(f"The $filter expression '{text}' is not a Boolean expression.", QUERY_SYNTAX)
    env: Env = {}
    return lambda rec: bool(fn(rec, env))
