"""What a native-host request does, on a Bridge facade: used by the running bridge (through the
local channel) and by a headless host when no bridge runs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from addin import __version__
from addin.bridge_types import TrackOutcome, TrackResult
from addin.engine.keys import normalize_message_id
from addin.errors import BridgeError
from addin.native.channel import ChannelServer
from addin.native.protocol import Request, TrackItem, error_reply, record_json

if TYPE_CHECKING:
    from addin.bridge import Bridge

log = logging.getLogger(__name__)

NOT_FOUND = "not_found"


def handle(bridge: Bridge, req: Request, mode: str) -> dict[str, Any]:
    """The reply to one validated request; a BridgeError becomes an error reply."""
    try:
        if req.action == "ping":
            return {"id": req.id, "ok": True, "version": __version__, "bridge": mode}
        if req.action == "search":
            found = bridge.search_records(req.text, limit=req.limit)
            return {"id": req.id, "ok": True, "records": [record_json(r) for r in found]}
        if req.action == "records":
            return {
                "id": req.id,
                "ok": True,
                "pinned": [record_json(r) for r in bridge.pinned_regarding()],
                "recent": [record_json(r) for r in bridge.recent_regarding()],
            }
        return {"id": req.id, "ok": True, "results": _track(bridge, req)}
    except BridgeError as exc:
        return error_reply(req.id, exc)


def _result(mid: str, res: TrackResult) -> dict[str, Any]:
    return {
        "messageId": mid,
        "outcome": res.outcome.value,
        "activityId": res.activity_id,
        "message": res.message,
        "subject": res.subject,
    }


def _find(bridge: Bridge, mid: str) -> str | None:
    """The mailbox item with this Message-ID in Inbox or Sent Items (the folders the bridge watches)."""
    hits = bridge.find_items(mid, first=True)
    return hits[0] if hits else None


def _track(bridge: Bridge, req: Request) -> list[dict[str, Any]]:
    answers: dict[int, dict[str, Any]] = {}
    by_item: dict[str, list[int]] = {}
    raw: list[tuple[int, TrackItem]] = []
    for n, item in enumerate(req.items):
        key = normalize_message_id(item.message_id) or ""
        link = bridge.tracked_link(key)
        if link is not None and req.regarding is None:
            answers[n] = {
                "messageId": item.message_id,
                "outcome": TrackOutcome.ALREADY_TRACKED.value,
                "activityId": link.activity_id,
                "message": "Already tracked",
                "subject": link.subject,
            }
            continue
        try:
            found = _find(bridge, key)
        except BridgeError as exc:
            if item.raw is None:
                raise
            log.info("mailbox search failed, tracking the raw message: %s", exc.message)
            found = None
        if found is not None:
            by_item.setdefault(found, []).append(n)
        elif item.raw is not None:
            raw.append((n, item))
        else:
            answers[n] = {
                "messageId": item.message_id,
                "outcome": NOT_FOUND,
                "activityId": None,
                "message": "Not in the mailbox's Inbox or Sent Items; send the message itself.",
                "subject": "",
            }
    if by_item:
        for res in bridge.track(list(by_item), req.regarding):
            for n in by_item.get(res.item_id, []):
                answers[n] = _result(req.items[n].message_id, res)
    for n, item in raw:
        assert item.raw is not None
        answers[n] = _result(item.message_id, bridge.track_file(item.raw, "message.eml", req.regarding))
    for n, item in enumerate(req.items):
        answers.setdefault(
            n,
            {
                "messageId": item.message_id,
                "outcome": TrackOutcome.FAILED.value,
                "activityId": None,
                "message": "No answer for this message.",
                "subject": "",
            },
        )
    return [answers[n] for n in range(len(req.items))]


def serve_request(bridge: Bridge, value: Any) -> dict[str, Any]:
    """A request that came through the local channel: validated again, answered as "running"."""
    from addin.native.protocol import RequestError, parse_request

    try:
        req = parse_request(value)
    except RequestError as exc:
        return error_reply(None, exc)
    return handle(bridge, req, "running")


def start_channel(bridge: Bridge) -> ChannelServer | None:
    """Serve the native host for a started bridge; without the channel the host runs headless."""
    server = ChannelServer(bridge.data_dir, lambda value: serve_request(bridge, value))
    try:
        server.start()
    except (BridgeError, OSError) as exc:
        log.warning("the native host channel is not served: %s", getattr(exc, "message", exc))
        return None
    return server
