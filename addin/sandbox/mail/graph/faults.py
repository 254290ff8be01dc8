"""Injected trouble on Graph requests, answered the way Graph answers (see the fault list in
addin/sandbox/common.py): queued failures (``fail_next``), dropped connections, the rate throttle
and "busy".

A failure entry may carry ``"after": true``: the request is carried out and only its answer is
replaced by the failure -- Graph does that too (a ``sendMail`` answered 429 or 5xx whose message
still goes out; Microsoft Q&A 5629476), the ambiguity an exactly-once sender must survive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from addin.sandbox.common import FaultPlan, drop_connection
from addin.sandbox.mail.graph.http import GraphError, GraphResponse, error_response

_CODES = {
    401: "InvalidAuthenticationToken",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class Injected:
    instead: GraphResponse | None = None  # answer without running the request
    drop_after: bool = False  # run it, then reset the connection
    after: GraphResponse | None = None  # run it, then answer this


def take(faults: FaultPlan, op: str, environ: dict[str, Any] | None) -> Injected:
    failure = faults.take_failure(op)
    if failure is None:
        return Injected()
    drop = failure.get("drop")
    if drop:
        if environ is None:
            # A batch part cannot lose its connection; Graph answers such a part 504.
            return Injected(
                instead=error_response(GraphError(504, "GatewayTimeout", "The request timed out."))
            )
        if drop in (True, "before"):
            drop_connection(environ)
        return Injected(drop_after=True)
    if "busy_ms" in failure:
        seconds = max(1, math.ceil(int(failure["busy_ms"]) / 1000))
        answer = unavailable(seconds)
    else:
        status = int(failure.get("status", 500))
        headers = {"Retry-After": str(failure["retry_after"])} if "retry_after" in failure else {}
        code = str(failure.get("code") or _CODES.get(status, "InjectedFailure"))
        answer = error_response(GraphError(status, code, "Injected failure.", headers))
    return Injected(after=answer) if failure.get("after") else Injected(instead=answer)


def unavailable(seconds: int) -> GraphResponse:
    return error_response(
        GraphError(503, "ServiceUnavailable", "The service is unavailable.", {"Retry-After": str(seconds)})
    )


def throttled(message: str, retry_after: int, limit: str = "") -> GraphResponse:
    """429 ``ApplicationThrottled`` (learn.microsoft.com/en-us/graph/throttling-limits, Outlook
    service limits); Exchange Online also names the limit in a ``RateLimit-Exceeded`` header
    (e.g. MailboxConcurrency)."""
    headers = {"Retry-After": str(max(1, retry_after))}
    if limit:
        headers["RateLimit-Exceeded"] = limit
    return error_response(GraphError(429, "ApplicationThrottled", message, headers))


def busy(faults: FaultPlan, busy_backoff_ms: int) -> GraphResponse | None:
    """The rate throttle (``throttle: N/S``) and queued "busy" answers, else None."""
    wait = faults.throttled_for()
    if wait is not None:
        return throttled("Application is over its request rate limit.", math.ceil(wait))
    if faults.take_busy():
        return unavailable(max(1, math.ceil(busy_backoff_ms / 1000)))
    return None
