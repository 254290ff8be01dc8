"""JSON ``$batch`` (learn.microsoft.com/en-us/graph/json-batching).

``POST /v1.0/$batch`` ``{"requests": [{"id", "method", "url", "headers", "body", "dependsOn"}]}``:
at most 20 requests (a 21st makes the whole batch 400), ids unique (case-insensitive), URLs
relative to ``/v1.0``. Every part runs through the same dispatcher as a direct request, so auth
(the envelope's Authorization), injected faults, throttling and the counters apply per part: a
throttled part answers its own 429 with ``Retry-After`` in its ``headers``. Parts run one at a
time in request order, a part after the parts it ``dependsOn``; a part whose dependency failed
answers 424 Failed Dependency. msgraph-core sends ``depends_on`` and lower-case header names, so
both spellings are read. Non-JSON bodies travel base64-encoded, both ways.

Counters: the envelope counts once in ``requests`` (one HTTP request) as ``graph:Batch``; each
part is also counted under its own ``graph:<Op>`` name in ``by_operation`` without adding to
``requests``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from addin.sandbox.mail.graph.http import GraphRequest, GraphResponse, bad_request

if TYPE_CHECKING:
    from addin.sandbox.mail.graph.router import GraphApp

MAX_REQUESTS = 20


def _parts(req: GraphRequest) -> list[dict[str, Any]]:
    body = req.json()
    parts = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(parts, list) or not parts:
        raise bad_request("A batch needs a non-empty requests array.", "BadRequest")
    if len(parts) > MAX_REQUESTS:
        raise bad_request(f"A batch takes at most {MAX_REQUESTS} requests.", "BadRequest")
    seen: set[str] = set()
    for part in parts:
        if not isinstance(part, dict) or not part.get("id") or not part.get("method") or not part.get("url"):
            raise bad_request("Each batch request needs id, method and url.", "BadRequest")
        key = str(part["id"]).lower()
        if key in seen:
            raise bad_request(f"Batch request id {part['id']!r} is used twice.", "BadRequest")
        seen.add(key)
    for part in parts:
        for dep in _depends(part):
            if dep.lower() not in seen:
                raise bad_request(f"dependsOn names an unknown request {dep!r}.", "BadRequest")
    return parts


def _depends(part: dict[str, Any]) -> list[str]:
    deps = part.get("dependsOn", part.get("depends_on")) or []
    return [str(d) for d in deps] if isinstance(deps, list) else []


def _sub_request(envelope: GraphRequest, part: dict[str, Any]) -> GraphRequest:
    url = str(part["url"])
    if url.lower().startswith(("http://", "https://")):
        path = urlsplit(url).path
        url = path[path.find("/v1.0") + len("/v1.0") :] if "/v1.0" in path else path
        query = urlsplit(str(part["url"])).query
    else:
        split = urlsplit(url)
        url, query = split.path, split.query
    if not url.startswith("/"):
        url = "/" + url
    headers = {str(k).lower(): str(v) for k, v in (part.get("headers") or {}).items()}
    for inherited in ("authorization", "client-request-id"):
        if inherited in envelope.headers:
            headers.setdefault(inherited, envelope.headers[inherited])
    raw = b""
    if "body" in part and part["body"] is not None:
        body = part["body"]
        if isinstance(body, (dict, list)):
            raw = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        else:
            try:
                raw = base64.b64decode(str(body), validate=True)
            except (binascii.Error, ValueError):
                raw = str(body).encode()
    return GraphRequest(
        method=str(part["method"]).upper(),
        path=url,
        args=dict(parse_qsl(query, keep_blank_values=True)),
        headers=headers,
        body=raw,
        base=envelope.base,
        origin=envelope.origin,
    )


def _answer(part_id: str, answer: GraphResponse) -> dict[str, Any]:
    headers = dict(answer.headers)
    out: dict[str, Any] = {"id": part_id, "status": answer.status, "headers": headers}
    if answer.body is None:
        return out
    headers["Content-Type"] = answer.content_type
    if isinstance(answer.body, bytes):
        out["body"] = base64.b64encode(answer.body).decode("ascii")
    else:
        out["body"] = answer.body
    return out


def run(app: GraphApp, req: GraphRequest, environ: dict[str, Any] | None) -> GraphResponse:
    parts = _parts(req)
    by_id = {str(p["id"]).lower(): p for p in parts}
    status: dict[str, int] = {}
    responses: list[dict[str, Any]] = []
    running: set[str] = set()

    def run_part(key: str) -> None:
        if key in status:
            return
        if key in running:
            raise bad_request("dependsOn forms a cycle.", "BadRequest")
        running.add(key)
        part = by_id[key]
        deps = [d.lower() for d in _depends(part)]
        for dep in deps:
            run_part(dep)
        if any(status[d] >= 400 for d in deps):
            answer = GraphResponse(
                424,
                {"error": {"code": "FailedDependency", "message": "A request this one depends on failed."}},
            )
        else:
            answer = app.call(_sub_request(req, part), None, in_batch=True)
        status[key] = answer.status
        responses.append(_answer(str(part["id"]), answer))

    for part in parts:
        run_part(str(part["id"]).lower())
    return GraphResponse(200, {"responses": responses})
