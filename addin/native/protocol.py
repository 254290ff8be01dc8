"""The requests ``crm-bridge native-host`` accepts, validated field by field.

Every request is a JSON object ``{"action": ..., "id": ...?, ...}``; ``id`` (a string or an
integer) is echoed in the reply so a caller can pair them.  Replies are
``{"id", "ok": true, ...}`` or ``{"id", "ok": false, "error": {"title", "message"}}``.

- ``ping``: ``{}`` -> ``{"version", "bridge": "running" | "headless"}``
- ``track``: ``{"messages": [{"messageId": str, "raw": base64?}], "regarding": Record?}``
  -> ``{"results": [{"messageId", "outcome", "activityId", "message"}]}``; ``outcome`` is one
  of tracked, already_tracked, queued, failed, not_found (not in the mailbox the bridge
  watches: send it again with ``raw``)
- ``search``: ``{"text": str, "limit": int?}`` -> ``{"records": [Record]}``
- ``records``: ``{}`` -> ``{"pinned": [Record], "recent": [Record]}``

``Record`` is ``{"table", "id", "name"?, "detail"?}``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from addin.bridge_types import REGARDING_TABLES, TABLE_LABELS, RecordRef
from addin.errors import BridgeError

MAX_MESSAGES = 100
MAX_RAW = 25 * 1024 * 1024  # decoded bytes of one raw message (Exchange Online's default limit)
MAX_TEXT = 200
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MESSAGE_ID = re.compile(r"^<?[^\s<>\x00-\x1f\x7f]{1,990}>?$")
ACTIONS = ("ping", "track", "search", "records")


class RequestError(BridgeError):
    title = "Request refused"


@dataclass(frozen=True)
class TrackItem:
    message_id: str  # as given, without angle brackets
    raw: bytes | None = None


@dataclass(frozen=True)
class Request:
    action: str
    id: str | int | None = None
    items: tuple[TrackItem, ...] = ()
    regarding: RecordRef | None = None
    text: str = ""
    limit: int = 20


def _fields(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise RequestError(f"Unknown field(s) in {where}: {', '.join(extra)}.")


def _record(value: Any) -> RecordRef:
    if not isinstance(value, dict):
        raise RequestError("regarding must be an object with table and id.")
    _fields(value, {"table", "id", "name", "detail", "label"}, "regarding")
    table, rid = value.get("table"), value.get("id")
    if table not in REGARDING_TABLES:
        raise RequestError(f"regarding.table must be one of {', '.join(REGARDING_TABLES)}.")
    if not isinstance(rid, str) or not _GUID.match(rid):
        raise RequestError("regarding.id must be a GUID.")
    name = value.get("name", "")
    if not isinstance(name, str) or len(name) > 400:
        raise RequestError("regarding.name must be a short string.")
    return RecordRef(str(table), rid.lower(), name)


def _item(value: Any, n: int) -> TrackItem:
    if not isinstance(value, dict):
        raise RequestError(f"messages[{n}] must be an object.")
    _fields(value, {"messageId", "raw"}, f"messages[{n}]")
    mid = value.get("messageId")
    if not isinstance(mid, str) or not _MESSAGE_ID.match(mid.strip()):
        raise RequestError(f"messages[{n}].messageId must be an Internet Message-ID.")
    raw = value.get("raw")
    data: bytes | None = None
    if raw is not None:
        if not isinstance(raw, str) or len(raw) > (MAX_RAW * 4) // 3 + 4:
            raise RequestError(f"messages[{n}].raw must be base64 of at most {MAX_RAW // (1024 * 1024)} MiB.")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"messages[{n}].raw is not valid base64.") from None
        if not data:
            raise RequestError(f"messages[{n}].raw is empty.")
    return TrackItem(mid.strip().strip("<>"), data)


def parse_request(value: Any) -> Request:
    """A validated request, or RequestError naming what is wrong."""
    if not isinstance(value, dict):
        raise RequestError("A request must be a JSON object.")
    rid = value.get("id")
    if rid is not None and not (
        (isinstance(rid, str) and len(rid) <= 64) or (isinstance(rid, int) and not isinstance(rid, bool))
    ):
        raise RequestError("id must be a short string or an integer.")
    action = value.get("action")
    if action not in ACTIONS:
        raise RequestError(
            f"Unknown action {str(action)[:40]!r}; this host knows {', '.join(ACTIONS)}.",
            title="Unknown action",
        )
    if action == "track":
        _fields(value, {"id", "action", "messages", "regarding"}, "a track request")
        messages = value.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages must be a non-empty list.")
        if len(messages) > MAX_MESSAGES:
            raise RequestError(f"At most {MAX_MESSAGES} messages per request.")
        regarding = value.get("regarding")
        return Request(
            "track",
            rid,
            tuple(_item(m, n) for n, m in enumerate(messages)),
            _record(regarding) if regarding is not None else None,
        )
    if action == "search":
        _fields(value, {"id", "action", "text", "limit"}, "a search request")
        text, limit = value.get("text"), value.get("limit", 20)
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise RequestError(f"text must be 1 to {MAX_TEXT} characters.")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
            raise RequestError("limit must be an integer from 1 to 50.")
        return Request("search", rid, text=text.strip(), limit=limit)
    _fields(value, {"id", "action"}, f"a {action} request")
    return Request(str(action), rid)


def record_json(ref: RecordRef) -> dict[str, str]:
    return {
        "table": ref.table,
        "id": ref.id,
        "name": ref.name,
        "detail": ref.detail,
        "label": ref.label,
        "kind": TABLE_LABELS.get(ref.table, ref.table),
    }


def error_reply(rid: Any, exc: BridgeError) -> dict[str, Any]:
    return {"id": rid, "ok": False, "error": {"title": exc.title, "message": exc.message}}
