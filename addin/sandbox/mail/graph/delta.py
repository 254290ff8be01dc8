"""``GET /me/mailFolders/{id}/messages/delta``: per-folder change tracking.

Behaviour (learn.microsoft.com/en-us/graph/api/message-delta and /graph/delta-query-messages):

- The first request of a round takes ``$select``, ``$expand``, ``$filter`` (only
  ``receivedDateTime ge|gt``), ``$orderby`` (only ``receivedDateTime desc``) and the custom
  ``changeType=created|updated|deleted``; no ``$search``. Later requests follow the links
  verbatim: the options live in the tokens. ``Prefer: odata.maxpagesize=N`` sets the page size
  (default 10), answered with ``Preference-Applied``.
- Pages end in ``@odata.nextLink`` (``$skiptoken``, round continues) or ``@odata.deltaLink``
  (``$deltatoken``, round done; the next round starts from it).
- The first round, without a token, returns the folder's current messages -- Graph's
  behaviour; a client that must not act on old mail decides that itself (it may keep only the
  deltaLink). ``changeType=updated`` or ``deleted`` makes that first round empty.
- Later rounds return each message created, moved in or changed since the token (current
  content), and each one deleted or moved out as
  ``{"@odata.type": "#microsoft.graph.message", "id": ..., "@removed": {"reason": "deleted"}}``
  (the reason message-delta documents for mail). A message created and gone again within the
  window is left out: the client never saw it. The same message may come twice across rounds,
  as Graph warns.
- Tokens are the folder, mailbox and change-log position, encoded; they are validated (format,
  folder, mailbox, position not in the future, generation), never trusted blindly, and survive a
  restart with ``--data`` as the change log does. A token that fails validation, or one older
  than an ``expire_delta_tokens`` fault, answers 410 Gone with a ``Location`` to restart from
  (codes ``SyncStateNotFound`` for expired, ``SyncStateInvalid`` for unreadable; the 410 and
  "syncStateNotFound" are per delta-query-overview "Synchronization reset"/resync guidance).
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any

from addin.sandbox.mail.graph import odata, render
from addin.sandbox.mail.graph.folders import resolve
from addin.sandbox.mail.graph.http import GraphError, GraphRequest, GraphResponse, bad_request
from addin.sandbox.mail.store import Folder, Item

if TYPE_CHECKING:
    from addin.sandbox.mail.graph.router import GraphApp

PREFIX = "GRD1"
DEFAULT_PAGE = 10
MAX_PAGE = 1000
GENERATION_KEY = "graph_delta_generation"
CHANGE_TYPES = ("created", "updated", "deleted")
_RECEIVED = re.compile(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", re.IGNORECASE)


def _encode(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _gone(req: GraphRequest, folder: Folder, code: str, message: str) -> GraphError:
    restart = f"{req.base}/me/mailFolders('{folder.id}')/messages/delta"
    return GraphError(410, code, message, {"Location": restart})


def _decode(app: GraphApp, req: GraphRequest, folder: Folder, token: str) -> dict[str, Any]:
    try:
        if not token.startswith(PREFIX):
            raise ValueError("prefix")
        body = token[len(PREFIX) :]
        state = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not isinstance(state, dict) or state.get("p") not in ("i", "c"):
            raise ValueError("phase")
        if state.get("f") != folder.id or state.get("m") != req.user:
            raise ValueError("folder")
        if int(state["s"]) > app.store.last_seq() or int(state.get("u", 0)) > app.store.last_seq():
            raise ValueError("future")
    except (ValueError, KeyError, TypeError):
        raise _gone(
            req, folder, "SyncStateInvalid", "The sync state is not valid; synchronize again."
        ) from None
    if state.get("g") != _generation(app):
        raise _gone(
            req,
            folder,
            "SyncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be "
            "synchronized again.",
        )
    return state


def _generation(app: GraphApp) -> int:
    faults = app.server.faults
    if faults.expire_delta_tokens:
        with faults.lock:
            faults.expire_delta_tokens = False
        app.store.set_meta(GENERATION_KEY, str(int(app.store.meta(GENERATION_KEY, "0")) + 1))
    return int(app.store.meta(GENERATION_KEY, "0"))


def _first_state(app: GraphApp, req: GraphRequest, folder: Folder) -> dict[str, Any]:
    args = req.args
    if args.get("$search"):
        raise bad_request("$search is not supported with delta.", "ErrorInvalidUrlQuery")
    change_type = args.get("changeType", "").strip().lower()
    if change_type and change_type not in CHANGE_TYPES:
        raise bad_request(f"changeType must be one of {', '.join(CHANGE_TYPES)}.", "ErrorInvalidUrlQuery")
    since_received = ""
    if args.get("$filter"):
        match = _RECEIVED.match(args["$filter"])
        if match is None:
            raise bad_request(
                "delta supports $filter on receivedDateTime ge|gt only.", "ErrorInvalidUrlQuery"
            )
        since_received = match.group(1).lower() + " " + match.group(2)
    orderby = args.get("$orderby", "").strip()
    if orderby and orderby.lower().split() != ["receiveddatetime", "desc"]:
        raise bad_request("delta supports $orderby=receivedDateTime desc only.", "ErrorInvalidUrlQuery")
    render.parse_select(args.get("$select", ""))  # 400 for an unknown property, now
    odata.parse_expand(args.get("$expand", ""))
    return {
        "f": folder.id,
        "m": req.user,
        "g": _generation(app),
        "p": "i",
        "s": app.store.last_seq(),
        "k": None,
        "sel": args.get("$select", ""),
        "ex": args.get("$expand", ""),
        "ct": change_type,
        "rf": since_received,
    }


def _page_size(req: GraphRequest) -> tuple[int, bool]:
    value = req.prefer().get("odata.maxpagesize")
    if value:
        try:
            return max(1, min(MAX_PAGE, int(value))), True
        except ValueError:
            pass
    if req.args.get("$top", "").isdigit():
        return max(1, min(MAX_PAGE, int(req.args["$top"]))), False
    return DEFAULT_PAGE, False


def _received_ok(item: Item, spec: str) -> bool:
    if not spec:
        return True
    op, _, value = spec.partition(" ")
    return odata.compile_filter(f"receivedDateTime {op} {value}")(render.filter_view(item), {})


def _initial_page(
    app: GraphApp, folder: Folder, state: dict[str, Any], size: int
) -> tuple[list[Item], list[str], bool]:
    """(messages, removed ids, round finished) of one page of the first round."""
    if state["ct"] in ("updated", "deleted"):
        return [], [], True
    cursor = (str(state["k"][0]), str(state["k"][1])) if state.get("k") else None
    items = app.store.page_after(folder.id, cursor, size)
    if items:
        last = items[-1]
        state["k"] = [app.store.received_key(last.id), last.id]
    return [i for i in items if _received_ok(i, state["rf"])], [], len(items) < size


def _change_page(
    app: GraphApp, folder: Folder, state: dict[str, Any], size: int
) -> tuple[list[Item], list[str], bool]:
    since, upto = int(state["s"]), int(state["u"])
    order: list[str] = []
    kinds: dict[str, set[str]] = {}
    for seq, item_id, kind in app.store.changes_since(folder.id, since):
        if seq > upto:
            break
        if item_id not in kinds:
            order.append(item_id)
            kinds[item_id] = set()
        kinds[item_id].add(kind)
    offset = int(state.get("k") or 0)
    page_ids = order[offset : offset + size]
    state["k"] = offset + len(page_ids)
    messages: list[Item] = []
    removed: list[str] = []
    for item_id in page_ids:
        item = app.store.item(item_id)
        created = "create" in kinds[item_id]
        if item is not None and item.folder_id == folder.id:
            if state["ct"] in ("", "created" if created else "updated") and _received_ok(item, state["rf"]):
                messages.append(item)
        elif not created and state["ct"] in ("", "deleted"):
            removed.append(item_id)
    return messages, removed, offset + len(page_ids) >= len(order)


def delta(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    folder = resolve(app, req.user, ids[0])
    token = req.args.get("$deltatoken") or req.args.get("$skiptoken")
    if token:
        state = _decode(app, req, folder, token)
        if "$deltatoken" in req.args:
            # A new round: changes after the token's position, up to the log's end now.
            state.update({"p": "c", "u": app.store.last_seq(), "k": 0})
    else:
        state = _first_state(app, req, folder)
    size, asked = _page_size(req)
    if state["p"] == "i":
        items, removed, done = _initial_page(app, folder, state, size)
        end_seq = int(state["s"])
    else:
        items, removed, done = _change_page(app, folder, state, size)
        end_seq = int(state["u"])
    select = render.parse_select(state["sel"])
    expand = odata.parse_expand(state["ex"])
    value: list[dict[str, Any]] = [render.message_json(req, app.store, i, select, expand) for i in items]
    value += [
        {"@odata.type": "#microsoft.graph.message", "id": i, "@removed": {"reason": "deleted"}}
        for i in removed
    ]
    link = f"{req.base}/me/mailFolders('{folder.id}')/messages/delta"
    body: dict[str, Any] = {"@odata.context": f"{req.base}/$metadata#Collection(message)", "value": value}
    if done:
        body["@odata.deltaLink"] = f"{link}?$deltatoken=" + _encode(
            {**state, "p": "c", "s": end_seq, "u": end_seq, "k": 0}
        )
    else:
        body["@odata.nextLink"] = f"{link}?$skiptoken=" + _encode(state)
    answer = GraphResponse(200, body)
    applied = [f"odata.maxpagesize={size}"] if asked else []
    if req.prefer().get("idtype", "").lower() == "immutableid":
        applied.append('IdType="ImmutableId"')
    if applied:
        answer.headers["Preference-Applied"] = ", ".join(applied)
    return answer
