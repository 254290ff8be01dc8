"""``$filter``: parse with the lark grammar in ``filter.lark`` and compile to a predicate.

String comparisons are case-insensitive, as Dataverse documents (filter-rows.md).
Property names are checked against the table so a typo answers Dataverse's 400.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from addin.sandbox.crm.errors import ODataError, bad_request, unknown_property
from addin.sandbox.crm.odata_values import (
    DATE_FUNCTIONS,
    LITERALS,
    QUERY_SYNTAX,
    check_types,
    coerce,
    compare,
    date_test,
    literal_value,
    normalized,
)
from addin.sandbox.crm.schema_types import BOOL, Table
from addin.sandbox.crm.store import Record

Env = dict[str, tuple[Table, Record]]
Expr = Callable[[Record, Env], Any]


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
            value = literal_value(tree)
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
        check_types(left, lk, right, rk, opname)
        # A literal compared with a column takes the column's representation.
        if isinstance(right, Tree) and right.data in LITERALS and lk:
            rv = coerce(lk, rf({}, {}))
            return lambda rec, env: compare(opname, lf(rec, env), rv)
        if isinstance(left, Tree) and left.data in LITERALS and rk:
            lv = coerce(rk, lf({}, {}))
            return lambda rec, env: compare(opname, lv, rf(rec, env))
        return lambda rec, env: compare(opname, lf(rec, env), rf(rec, env))

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
                params[key] = [literal_value(c) for c in node.children]
            else:
                params[key] = literal_value(node)
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
            wanted = {normalized(coerce(kind, v)) for v in params["PropertyValues"]}
            want = fname != "NotIn"
            return lambda rec, env: (normalized(getter(rec, env)) in wanted) == want
        if fname in ("Between", "NotBetween"):
            getter, kind = self._path([str(prop)])
            values = params.get("PropertyValues")
            if not isinstance(values, list) or len(values) != 2:
                raise bad_request(f"{fname} needs two PropertyValues.", QUERY_SYNTAX)
            low, high = (coerce(kind, v) for v in values)
            inside = fname == "Between"
            return lambda rec, env: (
                (compare("ge", getter(rec, env), low) and compare("le", getter(rec, env), high)) == inside
            )
        if fname in DATE_FUNCTIONS:
            date_getter, _ = self._path([str(prop)])
            test = date_test(fname, params.get("PropertyValue"))
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
