"""The WSGI application: control endpoints, HTML pages, auth, faults, throttling, then the Web API."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from addin.sandbox.common import DropConnection, FaultPlan, Stats, control_response, drop_connection
from addin.sandbox.crm import actions, html
from addin.sandbox.crm import errors as E
from addin.sandbox.crm.batch import BatchRunner
from addin.sandbox.crm.errors import ODataError
from addin.sandbox.crm.handler import Handler, Headers, Req, Res, _split_path
from addin.sandbox.crm.page_auth import PageAuth

API_PATH = "/api/data/v9.2/"
# Microsoft's examples also use v9.0 and v9.1; they address the same service.
_API = re.compile(r"^(/api/data/v9\.[0-2])(?:/(.*))?$", re.S)
TOKEN = "sandbox"  # the only bearer token the sandbox accepts
UNEXPECTED = "0x80040216"  # "An unexpected error occurred."
MAX_REQUEST_BODY = 128 * 2**20  # a $batch of several bodies; each JSON body has its own limit


def operation_name(method: str, rel: str) -> str:
    """``GET emails``, ``PATCH emails``, ``POST $batch``, ``POST SendEmail``, ``GET WhoAmI``."""
    segments = _split_path(rel.strip("/")) or [""]
    name = segments[0].split("(", 1)[0]
    last = segments[-1].split("(", 1)[0]
    if last.startswith("Microsoft.Dynamics.CRM."):
        name = last.removeprefix("Microsoft.Dynamics.CRM.")
    return f"{method} {name or '/'}"


class CrmApp:
    """Routes one HTTP request; thread-safe (the store has its own lock)."""

    def __init__(self, handler: Handler, faults: FaultPlan, stats: Stats) -> None:
        self.handler = handler
        actions.register(handler)
        self.faults = faults
        self.stats = stats
        self.batch = BatchRunner(handler)
        self.pages = PageAuth(TOKEN)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            response = self.dispatch(environ)
        except DropConnection:
            # The socket is already closed; tell werkzeug the client went away, quietly.
            raise ConnectionResetError("connection dropped by the sandbox fault plan") from None
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def dispatch(self, environ: dict[str, Any]) -> Response:
        request = Request(environ)
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin is not None and origin != request.host_url.rstrip("/"):
            # A browser posting from another site (cross-site request forgery): never.
            return Response("cross-site requests are refused", status=403, mimetype="text/plain")
        control = control_response(request, self.faults, self.stats)
        if control is not None:
            return control
        api = _API.match(request.path)
        if api is None:
            return html.respond(self.handler, request, self.pages)
        rel = api.group(2) or ""
        base_url = request.host_url + api.group(1).lstrip("/") + "/"
        op = operation_name(request.method, rel)
        self.stats.count(op)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        auth = request.headers.get("Authorization", "")
        if auth.split(" ", 1)[-1].strip() != TOKEN or not auth.lower().startswith("bearer "):
            return _error(
                ODataError(
                    401, "", "The request has no valid bearer token (the sandbox accepts 'Bearer sandbox')."
                ),
                [
                    (
                        "WWW-Authenticate",
                        'Bearer authorization_uri="http://127.0.0.1/sandbox", resource_id="sandbox"',
                    )
                ],
            )
        if (request.content_length or 0) > MAX_REQUEST_BODY:
            return _error(ODataError(413, "", f"The request is larger than {MAX_REQUEST_BODY // 2**20} MB."))
        wait = self.faults.throttled_for()
        if wait is not None:
            limit, window = self.faults.throttle_limit, self.faults.throttle_window
            seconds = max(1, math.ceil(wait))
            return _error(
                ODataError(
                    429,
                    E.THROTTLE_REQUESTS,
                    f"Number of requests exceeded the limit of {limit} over time window of "
                    f"{window:g} seconds.",
                ),
                [("Retry-After", str(seconds))],
            )
        failure = self.faults.take_failure(op)
        drop_after = False
        if failure:
            drop = failure.get("drop")
            if drop in (True, "before"):
                drop_connection(environ)
            drop_after = drop == "after"
            if "status" in failure and not drop_after:
                status = int(failure["status"])
                extra = [("Retry-After", str(failure.get("retry_after", 1)))] if status in (429, 503) else []
                message = str(failure.get("message") or f"The sandbox injected a {status} failure.")
                return _error(ODataError(status, str(failure.get("code", UNEXPECTED)), message), extra)
        req = Req(
            request.method,
            rel,
            request.args.to_dict(),
            Headers(request.headers.items()),
            request.get_data(),
            base_url,
        )
        if rel.strip("/") == "$batch":
            try:
                res = self.batch.run(req, request.headers.get("Content-Type", ""))
            except ODataError as exc:
                res = Res.error(exc)
        else:
            res = self.handler.execute(req)
        if drop_after:
            # The request is processed and committed; the client never hears about it.
            drop_connection(environ)
        return to_response(res)


def to_response(res: Res) -> Response:
    response = Response(res.body, status=res.status)
    response.headers.clear()
    for name, value in res.headers:
        response.headers.add(name, value)
    return response


def _error(exc: ODataError, headers: list[tuple[str, str]] | None = None) -> Response:
    return to_response(Res.json(exc.body(), exc.status, headers))
