"""Values in the sandbox's ``$filter``: literals, their EDM types, comparisons and the
Dataverse date query functions (``Today``, ``LastXDays``, ``OnOrAfter``…).

String comparisons are case-insensitive, as Dataverse documents (filter-rows.md); a literal
of the wrong type for its column answers Dataverse's 400, as the real service does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lark import Token, Tree

from addin.sandbox.crm.errors import bad_request
from addin.sandbox.crm.schema_types import BOOL, DEC, DT, GUID, INT, MEMO, MONEY, PICK, STATE, STATUS, STR

QUERY_SYNTAX = "0x80060888"
# Parse-tree nodes that are literal values.
LITERALS = {"string", "dqstring", "guid", "datetime", "number", "true", "false", "null"}


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


def literal_value(tree: Tree[Any]) -> Any:
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


def normalized(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    return value


def compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(normalized(left) == normalized(right))
    if op == "ne":
        return bool(normalized(left) != normalized(right))
    if left is None or right is None:
        return False
    left, right = normalized(left), normalized(right)
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


def coerce(kind: str | None, value: Any) -> Any:
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
COLUMN_EDM = {
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
LITERAL_EDM = {
    "string": "Edm.String",
    "dqstring": "Edm.String",
    "guid": "Edm.Guid",
    "datetime": "Edm.DateTimeOffset",
    "true": "Edm.Boolean",
    "false": "Edm.Boolean",
}
NUMERIC = {"Edm.Int32", "Edm.Decimal"}
# Pairs the sandbox accepts beyond equal types (literal forms clients commonly send for a
# column): a quoted GUID for a lookup or id, a quoted date for a date column, 0/1 for a boolean.
LENIENT = {("Edm.Guid", "Edm.String"), ("Edm.DateTimeOffset", "Edm.String"), ("Edm.Boolean", "Edm.Int32")}
OPERATOR_KIND = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}


def literal_edm(node: Tree[Any] | Token) -> str | None:
    if not isinstance(node, Tree) or node.data not in LITERALS or node.data == "null":
        return None
    if node.data == "number":
        return "Edm.Decimal" if "." in str(node.children[0]) else "Edm.Int32"
    return LITERAL_EDM[node.data]


def check_types(left: Any, lk: str | None, right: Any, rk: str | None, op: str) -> None:
    """Refuse a column compared with a literal of another type, as Dataverse's OData parser does
    (``statuscode eq 'abc'`` is a 400, not an empty result)."""
    for column_kind, literal in ((lk, right), (rk, left)):
        column = COLUMN_EDM.get(column_kind or "")
        value = literal_edm(literal)
        if column is None or value is None or column == value:
            continue
        if (column in NUMERIC and value in NUMERIC) or (column, value) in LENIENT:
            continue
        first, second = (column, value) if column_kind == lk else (value, column)
        raise bad_request(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{first}' and '{second}' for operator kind '{OPERATOR_KIND.get(op, op)}'.",
            QUERY_SYNTAX,
        )


DATE_FUNCTIONS = {
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


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def date_test(fname: str, raw: Any) -> Callable[[str], bool]:
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
        low, high = (iso(m) for m in fixed[fname])
        if fname == "Last7Days":
            return lambda v: low <= v <= high
        return lambda v: low <= v < high
    try:
        amount = int(raw)
    except (TypeError, ValueError):
        raise bad_request(f"{fname} needs a whole-number PropertyValue.", QUERY_SYNTAX) from None
    unit = timedelta(hours=1) if fname.endswith("Hours") else day
    span = unit * amount if not fname.endswith("Months") else day * 30 * amount  # months approximated
    now_text = iso(now)
    if fname.startswith("Last"):
        since = iso(now - span if unit != day else midnight - span)
        return lambda v: since <= v <= now_text
    if fname.startswith("Next"):
        until = iso(now + span if unit != day else midnight + span + day)
        return lambda v: now_text <= v < until
    before = iso(now - span)
    return lambda v: v < before  # OlderThanX…
