"""FindItem restrictions and sort orders, evaluated on stored items.

String comparisons ignore case, as Exchange's default collation does; list fields (categories,
recipients) match when any element matches, which is how exchangelib's ``categories__contains``
(an And of IsEqualTo) behaves on a real server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from addin.sandbox.mail.items import ext_value
from addin.sandbox.mail.soap import Element, EwsError, attrs_of, local, parse_iso, t, to_bool
from addin.sandbox.mail.store import Item

_DATES = {
    "item:datetimereceived": "datetime_received",
    "item:datetimesent": "datetime_sent",
    "item:datetimecreated": "datetime_created",
    "item:lastmodifiedtime": "last_modified",
}
_STRINGS = {
    "item:subject": "subject",
    "item:itemclass": "item_class",
    "item:sensitivity": "sensitivity",
    "item:importance": "importance",
    "item:inreplyto": "in_reply_to",
    "message:internetmessageid": "message_id",
    "message:references": "references",
    "message:conversationtopic": "subject",
    "item:culture": "culture",
}
_BOXES = {"message:from": "author", "message:sender": "sender"}
_BOX_LISTS = {
    "message:torecipients": "to",
    "message:ccrecipients": "cc",
    "message:bccrecipients": "bcc",
    "message:replyto": "reply_to",
}
_BOOLS = {
    "message:isread": "is_read",
    "item:isdraft": "is_draft",
    "item:hasattachments": "has_attachments",
    "item:reminderisset": "reminder_is_set",
    "message:isreadreceiptrequested": "is_read_receipt_requested",
    "message:isdeliveryreceiptrequested": "is_delivery_receipt_requested",
    "message:isresponserequested": "is_response_requested",
}
# Accepted in a restriction but matching nothing, as on Exchange (exchangelib's own suite checks
# that filtering on them "is accepted but doesn't work").
_MATCH_NOTHING = {"item:reminderdueby": "date", "message:conversationindex": "str"}

_EXT_KINDS = {
    "Integer": "int",
    "Long": "int",
    "Short": "int",
    "Boolean": "bool",
    "SystemTime": "date",
}

_COMPARISONS = {
    "IsEqualTo",
    "IsNotEqualTo",
    "IsGreaterThan",
    "IsGreaterThanOrEqualTo",
    "IsLessThan",
    "IsLessThanOrEqualTo",
}


def _field_values(item: Item, path: Element) -> tuple[str, list[Any]]:
    """(kind, values) of the field a FieldURI / ExtendedFieldURI names."""
    d = item.data
    name = local(path)
    if name == "ExtendedFieldURI":
        attrs = attrs_of(path)
        kind = _EXT_KINDS.get((attrs.get("PropertyType") or "String").removesuffix("Array"), "str")
        prop = ext_value(item, attrs)
        if prop is None:
            return kind, []
        raw = list(prop["values"]) if prop.get("values") is not None else [prop.get("value")]
        return kind, [_coerce(kind, str(v)) if kind != "str" else v for v in raw if v is not None]
    if name != "FieldURI":
        raise EwsError("ErrorUnsupportedPathForQuery", f"Restrictions on {name} are not supported.")
    uri = (path.get("FieldURI") or "").lower()
    if uri in _DATES:
        value = parse_iso(d.get(_DATES[uri]) or "")
        return "date", [] if value is None else [value]
    if uri in _STRINGS:
        value = d.get(_STRINGS[uri])
        return "str", [] if value is None else [value]
    if uri == "item:body":
        return "str", [d.get("body") or "", d.get("text_body") or ""]
    if uri == "item:textbody":
        return "str", [d.get("text_body") or ""]
    if uri == "item:categories":
        return "str", list(d.get("categories") or [])
    if uri in _BOXES:
        box = d.get(_BOXES[uri])
        return "str", [box["email"]] if box else []
    if uri in _BOX_LISTS:
        return "str", [b["email"] for b in d.get(_BOX_LISTS[uri]) or []]
    if uri in _BOOLS:
        if uri == "item:hasattachments":
            return "bool", [bool(d.get("has_attachments"))]
        return "bool", [bool(d.get(_BOOLS[uri]))]
    if uri == "item:size":
        return "int", [int(d.get("size") or 0)]
    if uri == "item:reminderminutesbeforestart":
        return "int", [int(d.get("reminder_minutes") or 0)]
    if uri in _MATCH_NOTHING:
        return _MATCH_NOTHING[uri], []
    raise EwsError("ErrorUnsupportedPathForQuery", f"Restrictions on {uri} are not supported.")


def _coerce(kind: str, text: str) -> Any:
    if kind == "date":
        return parse_iso(text)
    if kind == "bool":
        return to_bool(text)
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            return None
    return text.casefold()


def _norm(kind: str, value: Any) -> Any:
    return str(value).casefold() if kind == "str" else value


def _compare(op: str, left: Any, right: Any) -> bool:
    if right is None or left is None:
        return op == "IsNotEqualTo"
    try:
        if op == "IsEqualTo":
            return bool(left == right)
        if op == "IsNotEqualTo":
            return bool(left != right)
        if op == "IsGreaterThan":
            return bool(left > right)
        if op == "IsGreaterThanOrEqualTo":
            return bool(left >= right)
        if op == "IsLessThan":
            return bool(left < right)
        if op == "IsLessThanOrEqualTo":
            return bool(left <= right)
    except TypeError:
        return False
    return False


def _path_of(el: Element) -> Element:
    for child in el:
        if local(child) in ("FieldURI", "ExtendedFieldURI", "IndexedFieldURI"):
            return child
    raise EwsError("ErrorInvalidRestriction", f"{local(el)} has no field path.")


def matches(item: Item, el: Element) -> bool:
    """Whether ``item`` satisfies the restriction element ``el`` (a child of m:Restriction)."""
    op = local(el)
    if op == "And":
        return all(matches(item, c) for c in el if isinstance(c.tag, str))
    if op == "Or":
        return any(matches(item, c) for c in el if isinstance(c.tag, str))
    if op == "Not":
        children = [c for c in el if isinstance(c.tag, str)]
        return not matches(item, children[0]) if children else True
    if op == "Exists":
        _, values = _field_values(item, _path_of(el))
        return any(v not in (None, "") for v in values)
    if op == "Contains":
        kind, values = _field_values(item, _path_of(el))
        constant = el.find(t("Constant"))
        needle = constant.get("Value", "") if constant is not None else ""
        mode = el.get("ContainmentMode", "Substring")
        ignore_case = "IgnoreCase" in el.get("ContainmentComparison", "Exact")
        for value in values:
            hay = str(value or "")
            n = needle
            if ignore_case:
                hay, n = hay.casefold(), n.casefold()
            if mode == "FullString" and hay == n:
                return True
            if mode in ("Prefixed", "PrefixOnWords") and (
                hay.startswith(n) or (mode == "PrefixOnWords" and any(w.startswith(n) for w in hay.split()))
            ):
                return True
            if mode in ("Substring", "ExactPhrase") and n in hay:
                return True
        return False
    if op in _COMPARISONS:
        kind, values = _field_values(item, _path_of(el))
        holder = el.find(t("FieldURIOrConstant"))
        constant = holder.find(t("Constant")) if holder is not None else None
        if constant is None:
            raise EwsError("ErrorUnsupportedQueryFilter", "Only comparisons with a constant are supported.")
        right = _coerce(kind, constant.get("Value", ""))
        if not values:
            return op == "IsNotEqualTo"
        if op == "IsNotEqualTo":
            return all(_compare(op, _norm(kind, v), right) for v in values)
        return any(_compare(op, _norm(kind, v), right) for v in values)
    raise EwsError("ErrorUnsupportedQueryFilter", f"Restriction {op} is not supported.")


def sort_items(items: list[Item], sort_el: Element | None) -> list[Item]:
    """Apply m:SortOrder (FieldOrder elements, first is primary); default newest received first."""
    orders = [fo for fo in sort_el if local(fo) == "FieldOrder"] if sort_el is not None else []
    if not orders:
        return sorted(items, key=lambda i: i.data.get("datetime_received") or "", reverse=True)
    result = list(items)
    for fo in reversed(orders):
        path = _path_of(fo)
        descending = fo.get("Order", "Ascending") == "Descending"

        def key(item: Item, path: Element = path) -> tuple[int, Any]:
            kind, values = _field_values(item, path)
            if not values or values[0] is None:
                return (1, "")
            v = values[0]
            if kind == "str":
                return (0, str(v).casefold())
            if isinstance(v, datetime):
                return (0, v.timestamp())
            return (0, v)

        present = [i for i in result if key(i)[0] == 0]
        missing = [i for i in result if key(i)[0] == 1]
        present.sort(key=key, reverse=descending)
        # Exchange sorts an empty value below every other: first ascending, last descending.
        result = present + missing if descending else missing + present
    return result


_QUERY_FIELDS = {
    "subject": ("subject",),
    "body": ("body", "text_body"),
    "from": ("author",),
    "to": ("to",),
    "cc": ("cc",),
    "participants": ("author", "to", "cc"),
    "category": ("categories",),
}


def _query_texts(item: Item, keys: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for key in keys:
        value = item.data.get(key)
        if isinstance(value, dict):
            out += [value.get("name") or "", value.get("email") or ""]
        elif isinstance(value, list):
            for v in value:
                out += [v.get("name") or "", v.get("email") or ""] if isinstance(v, dict) else [str(v)]
        elif value:
            out.append(str(value))
    return out


def matches_query(item: Item, query: str) -> bool:
    """A small AQS subset (m:QueryString): ``word``, ``"a phrase"``, ``field:value``, joined by
    ``AND`` (also implied between terms) or ``OR``; terms match case-insensitively as substrings
    (Advanced Query Syntax in EWS: https://learn.microsoft.com/en-us/exchange/client-developer/
    exchange-web-services/how-to-perform-an-aqs-search-by-using-ews-in-exchange)."""
    import shlex

    try:
        terms = shlex.split(query)
    except ValueError:
        terms = query.split()
    # OR binds looser than AND: any group of AND-ed terms matching is enough.
    groups: list[list[str]] = [[]]
    for term in terms:
        if term == "OR":
            groups.append([])
        elif term != "AND":
            groups[-1].append(term)
    return any(all(_term_matches(item, term) for term in group) for group in groups if group)


def _term_matches(item: Item, term: str) -> bool:
    everything = tuple(k for keys in _QUERY_FIELDS.values() for k in keys)
    name, sep, value = term.partition(":")
    keys = _QUERY_FIELDS.get(name.lower()) if sep else None
    needle = (value if keys else term).casefold()
    return any(needle in text.casefold() for text in _query_texts(item, keys or everything))
