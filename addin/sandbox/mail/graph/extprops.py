"""Graph extended property ids <-> the MAPI properties EWS stores on items.

Graph names a property ``"{Type} {GUID} Name {name}"``, ``"{Type} {GUID} Id {0x...}"`` or
``"{Type} {0x...}"`` (learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get,
"Id formats"). The sandbox maps each to the same stored property an EWS ``ExtendedFieldURI``
names, so the stamp ``String {f5230414-6a2a-4630-a44d-8e3ee6bf692d} Name CrmBridgeActivityId``
written through Graph is the ``PropertySetId``/``PropertyName`` property EWS reads, and back.

``Integer 0x36`` is PidTagSensitivity (MS-OXCMSG 2.2.1.13: 0 normal, 1 personal, 2 private,
3 confidential). Graph's message resource has no sensitivity property; clients read and write
this extended property instead (Microsoft Q&A 681331), and the sandbox serves it from the
item's stored sensitivity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from addin.sandbox.mail.graph.http import GraphError
from addin.sandbox.mail.items import ext_key, ext_value, set_ext
from addin.sandbox.mail.store import Item

SENSITIVITY_TAG = 0x36
_SENSITIVITY = {"Normal": 0, "Personal": 1, "Private": 2, "Confidential": 3}
_SENSITIVITY_BACK = {v: k for k, v in _SENSITIVITY.items()}

_NAMED = re.compile(r"^\s*(\w+)\s+\{([0-9A-Fa-f-]{36})\}\s+Name\s+(.+?)\s*$")
_BY_ID = re.compile(r"^\s*(\w+)\s+\{([0-9A-Fa-f-]{36})\}\s+Id\s+(0x[0-9A-Fa-f]+|\d+)\s*$")
_TAG = re.compile(r"^\s*(\w+)\s+(0x[0-9A-Fa-f]+|\d+)\s*$")


@dataclass(frozen=True)
class PropId:
    raw: str
    prop_type: str
    attrs: tuple[tuple[str, str], ...]  # EWS ExtendedFieldURI attributes
    tag: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return ext_key(dict(self.attrs))


def parse_id(raw: str) -> PropId:
    match = _NAMED.match(raw)
    if match:
        kind, guid, name = match.groups()
        return PropId(raw, kind, (("PropertySetId", guid), ("PropertyName", name), ("PropertyType", kind)))
    match = _BY_ID.match(raw)
    if match:
        kind, guid, num = match.groups()
        return PropId(
            raw, kind, (("PropertySetId", guid), ("PropertyId", str(int(num, 0))), ("PropertyType", kind))
        )
    match = _TAG.match(raw)
    if match:
        kind, num = match.groups()
        tag = int(num, 0)
        return PropId(raw, kind, (("PropertyTag", hex(tag)), ("PropertyType", kind)), tag)
    raise GraphError(400, "ErrorInvalidProperty", f"The extended property id {raw!r} is not valid.")


def graph_id(attrs: dict[str, str]) -> str:
    """The Graph id of a property EWS stored (for listings without a filter)."""
    a = {k.lower(): v for k, v in attrs.items()}
    kind = a.get("propertytype") or "String"
    guid = a.get("propertysetid") or ""
    if not guid and (a.get("distinguishedpropertysetid") or "").lower() == "internetheaders":
        guid = "00020386-0000-0000-C000-000000000046"
    if a.get("propertyname"):
        return f"{kind} {{{guid}}} Name {a['propertyname']}"
    if a.get("propertyid"):
        return f"{kind} {{{guid}}} Id {hex(int(a['propertyid'], 0))}"
    return f"{kind} {a.get('propertytag') or ''}"


def value_of(item: Item, pid: PropId) -> str | None:
    if pid.tag == SENSITIVITY_TAG:
        return str(_SENSITIVITY.get(str(item.data.get("sensitivity") or "Normal"), 0))
    prop = ext_value(item, dict(pid.attrs))
    if prop is None or prop.get("values") is not None:
        return None
    return str(prop.get("value") or "")


def set_value(data: dict[str, Any], pid: PropId, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise GraphError(
            400, "ErrorInvalidExtendedPropertyValue", "An extended property value must be a string."
        )
    if pid.tag == SENSITIVITY_TAG:
        try:
            data["sensitivity"] = _SENSITIVITY_BACK[int(value or "0")]
        except (ValueError, KeyError):
            raise GraphError(
                400, "ErrorInvalidExtendedPropertyValue", "Sensitivity must be 0 to 3."
            ) from None
        return
    set_ext(data, {"attrs": dict(pid.attrs), "value": value or ""})


def all_props(item: Item) -> list[dict[str, str]]:
    """Every stored single-value property as Graph JSON (``$expand`` without a filter)."""
    out = []
    for prop in item.data.get("ext") or []:
        if prop.get("values") is None:
            out.append({"id": graph_id(prop["attrs"]), "value": str(prop.get("value") or "")})
    return out


def apply_json(data: dict[str, Any], props: Any) -> None:
    """Write ``singleValueExtendedProperties`` from a POST or PATCH body into stored fields."""
    if not isinstance(props, list):
        raise GraphError(400, "BadRequest", "singleValueExtendedProperties must be an array.")
    for entry in props:
        if not isinstance(entry, dict) or "id" not in entry:
            raise GraphError(400, "BadRequest", "Each extended property needs an id and a value.")
        set_value(data, parse_id(str(entry["id"])), entry.get("value"))
