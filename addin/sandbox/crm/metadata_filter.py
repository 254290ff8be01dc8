"""``$filter`` over metadata: primitive and enum properties, managed properties through
``/Value``, ``and``/``or``/``not``, comparisons and ``contains``/``startswith``/``endswith``
(reference/dataverse-metadata.md §1.1). Separate from the records' filter grammar because
metadata has enum literals (``Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'``) and nested
property paths, and no lookups or lambdas.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from addin.sandbox.crm.errors import PROPERTY_NOT_FOUND, bad_request

Predicate = Callable[[dict[str, Any]], Any]
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<enum>[A-Za-z][\w.]*'(?:[^']|'')*')"
    r"|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][\w]*(?:/[A-Za-z_]\w*)*)|(?P<punct>[(),]))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}
_FUNCS: dict[str, Callable[[Any, Any], bool]] = {
    "contains": lambda a, b: isinstance(a, str) and isinstance(b, str) and b.lower() in a.lower(),
    "startswith": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.lower().startswith(b.lower()),
    "endswith": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.lower().endswith(b.lower()),
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise bad_request(f"Syntax error at position {pos} in '{text}'.", PROPERTY_NOT_FOUND)
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str, type_name: str, known: set[str]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.text = text
        self.type_name = type_name
        self.known = known

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise bad_request(f"Syntax error in $filter '{self.text}'.", PROPERTY_NOT_FOUND)
        self.pos += 1
        return tok

    def parse(self) -> Predicate:
        fn = self.disjunction()
        if self.peek() is not None:
            raise bad_request(f"Syntax error in $filter '{self.text}'.", PROPERTY_NOT_FOUND)
        return fn

    def disjunction(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == ("name", "or"):
            self.take()
            left = _either(left, self.conjunction())
        return left

    def conjunction(self) -> Predicate:
        left = self.negation()
        while self.peek() == ("name", "and"):
            self.take()
            left = _both(left, self.negation())
        return left

    def negation(self) -> Predicate:
        if self.peek() == ("name", "not"):
            self.take()
            inner = self.negation()
            return lambda r: not inner(r)
        return self.comparison()

    def comparison(self) -> Predicate:
        left = self.primary()
        tok = self.peek()
        if tok is not None and tok[0] == "name" and tok[1] in _COMPARE:
            self.take()
            right, op = self.primary(), _COMPARE[tok[1]]
            return lambda r: op(left(r), right(r))
        return left

    def primary(self) -> Predicate:
        kind, value = self.take()
        if value == "(":
            inner = self.disjunction()
            self.take(")")
            return inner
        if kind == "str":
            text = value[1:-1].replace("''", "'")
            return lambda r: text
        if kind == "enum":
            member = value[value.index("'") + 1 : -1]
            return lambda r: member
        if kind == "guid":
            return lambda r: value.lower()
        if kind == "num":
            number = float(value) if "." in value else int(value)
            return lambda r: number
        if kind == "name":
            if value in ("true", "false", "null"):
                const = {"true": True, "false": False, "null": None}[value]
                return lambda r: const
            if value in _FUNCS and self.peek() == ("punct", "("):
                self.take("(")
                a = self.disjunction()
                self.take(",")
                b = self.disjunction()
                self.take(")")
                fn = _FUNCS[value]
                return lambda r: fn(a(r), b(r))
            return self.path(value)
        raise bad_request(f"Syntax error in $filter '{self.text}'.", PROPERTY_NOT_FOUND)

    def path(self, value: str) -> Predicate:
        parts = value.split("/")
        if parts[0] not in self.known:
            raise bad_request(
                f"Could not find a property named '{parts[0]}' on type '{self.type_name}'.",
                PROPERTY_NOT_FOUND,
            )

        def get(row: dict[str, Any]) -> Any:
            current: Any = row
            for part in parts:
                current = current.get(part) if isinstance(current, dict) else None
            return current.lower() if isinstance(current, str) and _is_guid(current) else current

        return get


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: bool(a(r)) or bool(b(r))


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: bool(a(r)) and bool(b(r))


def _is_guid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


def compile_metadata_filter(text: str, type_name: str, known: set[str]) -> Predicate:
    """A predicate over metadata rows; ``known`` are the properties of ``type_name``."""
    return _Parser(text, type_name, known).parse()
