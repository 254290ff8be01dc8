"""OData query options of the Graph stand-in: ``$select``, ``$expand``, ``$orderby``,
``$search`` and a ``$filter`` evaluator.

``$filter`` covers what a mail client uses (learn.microsoft.com/en-us/graph/filter-query-parameter):
``eq ne gt ge lt le``, ``and or not``, parentheses, strings (``''`` escapes a quote), booleans,
ISO date-times, and lambdas ``path/any(x: ...)`` -- e.g. ``internetMessageId eq '<a@b>'``,
``categories/any(c: c eq 'X')``, and
``singleValueExtendedProperties/any(ep: ep/id eq '{id}' and ep/value eq '{v}')``
(singlevaluelegacyextendedproperty-get: the id's Name part is case-sensitive, the value
comparison is not). String comparisons are case-insensitive, as Exchange's are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from addin.sandbox.mail.graph.extprops import PropId, parse_id
from addin.sandbox.mail.graph.http import GraphError

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<dt>\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_$][\w./$]*)|(?P<punct>[():,]))"
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}

Pred = Callable[[Any, dict[str, Any]], bool]


def bad_filter(message: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid filter clause: {message}")


class _Literal:
    def __init__(self, value: Any) -> None:
        self.value = value


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise bad_filter(f"unexpected text at {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    return value


def _as_dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, PropId) or isinstance(right, PropId):
        a = left if isinstance(left, PropId) else parse_id(str(left))
        b = right if isinstance(right, PropId) else parse_id(str(right))
        same = a.key == b.key
        return same if op == "eq" else (not same if op == "ne" else False)
    ld, rd = _as_dt(left), _as_dt(right)
    if ld is not None and rd is not None:
        left, right = ld, rd
    else:
        left, right = _norm(left), _norm(right)
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op])
    except TypeError:
        return False


def _resolve(path: str, obj: Any, env: dict[str, Any]) -> Any:
    parts = path.split("/")
    if parts[0] in env:
        value = env[parts[0]]
        parts = parts[1:]
    else:
        value = obj
    for part in parts:
        if not isinstance(value, dict):
            return None
        low = part.lower()
        value = next((v for k, v in value.items() if k.lower() == low), None)
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise bad_filter("unexpected end")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise bad_filter(f"expected {value!r}, got {tok[1]!r}")

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Pred:
        pred = self.or_expr()
        if self.peek() is not None:
            raise bad_filter(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return pred

    def or_expr(self) -> Pred:
        preds = [self.and_expr()]
        while self.keyword("or"):
            preds.append(self.and_expr())
        if len(preds) == 1:
            return preds[0]
        return lambda obj, env: any(p(obj, env) for p in preds)

    def and_expr(self) -> Pred:
        preds = [self.unary()]
        while self.keyword("and"):
            preds.append(self.unary())
        if len(preds) == 1:
            return preds[0]
        return lambda obj, env: all(p(obj, env) for p in preds)

    def unary(self) -> Pred:
        if self.keyword("not"):
            inner = self.unary()
            return lambda obj, env: not inner(obj, env)
        tok = self.peek()
        if tok is not None and tok[1] == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.comparison()

    def operand(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return _Literal(value[1:-1].replace("''", "'"))
        if kind == "dt":
            return _Literal(value)
        if kind == "num":
            return _Literal(float(value) if "." in value else int(value))
        if kind == "word":
            low = value.lower()
            if low in ("true", "false"):
                return _Literal(low == "true")
            if low == "null":
                return _Literal(None)
            return value  # a property path
        raise bad_filter(f"unexpected {value!r}")

    def comparison(self) -> Pred:
        left = self.operand()
        if isinstance(left, str) and left.lower().rsplit("/", 1)[-1] in ("any", "all"):
            return self.lambda_(left)
        tok = self.take()
        op = tok[1].lower()
        if op not in _OPS:
            raise bad_filter(f"unsupported operator {tok[1]!r}")
        right = self.operand()

        def value(side: Any, obj: Any, env: dict[str, Any]) -> Any:
            if isinstance(side, _Literal):
                return side.value
            return _resolve(side, obj, env)

        return lambda obj, env: _compare(op, value(left, obj, env), value(right, obj, env))

    def lambda_(self, path: str) -> Pred:
        collection, _, kind = path.rpartition("/")
        self.expect("(")
        var = self.take()
        if var[0] != "word":
            raise bad_filter("lambda without a variable")
        self.expect(":")
        inner = self.or_expr()
        self.expect(")")
        name = var[1]

        def pred(obj: Any, env: dict[str, Any]) -> bool:
            items = _resolve(collection, obj, env) or []
            results = (inner(obj, {**env, name: x}) for x in items)
            return any(results) if kind.lower() == "any" else all(results)

        return pred


def compile_filter(text: str) -> Pred:
    return _Parser(text).parse()


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    out, depth, quoted, cur = [], 0, False, ""
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quoted:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_expand(text: str) -> dict[str, dict[str, str]]:
    """``$expand`` entries by lower-case name, each with its nested options."""
    out: dict[str, dict[str, str]] = {}
    for entry in split_top(text):
        name, paren, rest = entry.partition("(")
        options: dict[str, str] = {}
        if paren:
            for opt in split_top(rest.rstrip(")"), ";"):
                key, _, val = opt.partition("=")
                options[key.strip().lower()] = val.strip()
        out[name.strip().lower()] = options
    return out


def expanded_prop_ids(options: dict[str, str]) -> list[PropId] | None:
    """The ids an expand's ``$filter=id eq '...' [or id eq '...']`` names; None = all."""
    text = options.get("$filter")
    if not text:
        return None
    ids = re.findall(r"'((?:[^']|'')*)'", text)
    if not ids or not re.fullmatch(r"(\s*id\s+eq\s+'(?:[^']|'')*'\s*(or)?)+", text, re.IGNORECASE):
        raise bad_filter("an expanded extended property filter must be id eq '...' [or ...]")
    return [parse_id(i.replace("''", "'")) for i in ids]


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    """(property, descending) pairs."""
    out = []
    for entry in split_top(text):
        parts = entry.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
            raise GraphError(400, "BadRequest", f"Invalid $orderby {entry!r}.")
        out.append((parts[0], len(parts) == 2 and parts[1].lower() == "desc"))
    return out


def search_terms(text: str) -> list[tuple[str, str]]:
    """``$search="a b"`` / ``"from:x"`` as (field or "", lower-case term) pairs (all must match)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    out = []
    for word in text.split():
        field, colon, term = word.partition(":")
        if colon and field.lower() in ("from", "subject", "body", "to"):
            out.append((field.lower(), term.lower()))
        else:
            out.append(("", word.lower()))
    return out
