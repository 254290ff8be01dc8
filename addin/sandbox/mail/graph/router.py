"""Graph requests in the sandbox's WSGI server: path routing, bearer auth, injected faults,
request counters and Exchange Online's throttling answers.

Auth: the same bearer tokens the sandbox accepts for EWS (``MailSandbox.add_token`` or
``POST /_sandbox/tokens``) name the mailbox; so one token works on both protocols. A missing or
unknown token gets 401 ``InvalidAuthenticationToken`` (learn.microsoft.com/en-us/graph/errors).

Throttling (learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits): at most
``FaultPlan.mailbox_concurrency`` (default 4, Exchange Online's limit) requests of one mailbox run
at once; one more gets 429 ``ApplicationThrottled`` "Application is over its MailboxConcurrency
limit." with ``Retry-After``. A client that waits for each answer never hits it: a request's slot
is released before its answer is written. ``$batch`` parts take a slot each while they run.

Every Graph request is counted in the sandbox stats as ``graph:<Operation>`` (each batch part
too), so tests can tell Graph traffic from EWS operations; injected faults (``fail_next`` with
``match``) see the same names.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from addin.sandbox.common import drop_connection
from addin.sandbox.mail.graph import (
    batch,
    categories,
    compose,
    delta,
    faults,
    folders,
    messages,
    uploads,
)
from addin.sandbox.mail.graph.http import (
    GraphError,
    GraphRequest,
    GraphResponse,
    error_response,
)
from addin.sandbox.mail.graph.outbox import SendRate

if TYPE_CHECKING:
    from addin.sandbox.mail.server import MailServer
    from addin.sandbox.mail.store import MailStore

log = logging.getLogger(__name__)

PREFIX = "/v1.0"

Handler = Callable[["GraphApp", GraphRequest, list[str]], GraphResponse]

# (method, path pattern after /me or /users/{id}, operation name, handler); "*" is an id.
ROUTES: list[tuple[str, tuple[str, ...], str, Handler]] = [
    ("GET", (), "GetUser", folders.get_user),
    ("GET", ("mailfolders",), "ListFolders", folders.list_top),
    ("POST", ("mailfolders",), "CreateFolder", folders.create_top),
    ("GET", ("mailfolders", "*"), "GetFolder", folders.get_folder),
    ("GET", ("mailfolders", "*", "childfolders"), "ListChildFolders", folders.list_children),
    ("POST", ("mailfolders", "*", "childfolders"), "CreateFolder", folders.create_child),
    ("GET", ("mailfolders", "*", "messages", "delta"), "Delta", delta.delta),
    ("GET", ("mailfolders", "*", "messages"), "ListMessages", messages.list_folder),
    ("POST", ("mailfolders", "*", "messages"), "CreateMessage", compose.create_in_folder),
    ("GET", ("messages",), "ListMessages", messages.list_all),
    ("POST", ("messages",), "CreateMessage", compose.create_draft),
    ("GET", ("messages", "*"), "GetMessage", messages.get_message),
    ("PATCH", ("messages", "*"), "UpdateMessage", messages.update_message),
    ("DELETE", ("messages", "*"), "DeleteMessage", messages.delete_message),
    ("GET", ("messages", "*", "$value"), "GetMime", messages.get_mime),
    ("POST", ("messages", "*", "move"), "MoveMessage", messages.move_message),
    ("POST", ("messages", "*", "copy"), "CopyMessage", messages.copy_message),
    ("POST", ("messages", "*", "send"), "SendDraft", compose.send_draft),
    ("GET", ("messages", "*", "attachments"), "ListAttachments", messages.list_attachments),
    ("POST", ("messages", "*", "attachments"), "CreateAttachment", compose.add_attachment),
    (
        "POST",
        ("messages", "*", "attachments", "createuploadsession"),
        "CreateUploadSession",
        uploads.create_upload_session,
    ),
    ("GET", ("messages", "*", "attachments", "*"), "GetAttachment", messages.get_attachment),
    ("GET", ("messages", "*", "attachments", "*", "$value"), "GetAttachmentValue", messages.attachment_value),
    ("DELETE", ("messages", "*", "attachments", "*"), "DeleteAttachment", compose.delete_attachment),
    ("POST", ("sendmail",), "SendMail", compose.send_mail),
    ("GET", ("outlook", "mastercategories"), "ListCategories", categories.list_categories),
    ("POST", ("outlook", "mastercategories"), "CreateCategory", categories.create_category),
    ("DELETE", ("outlook", "mastercategories", "*"), "DeleteCategory", categories.delete_category),
]


def split_path(path: str) -> list[str]:
    """Path segments, percent-decoded, with ``name('id')`` split into ``name``, ``id`` and
    ``delta()``/``microsoft.graph.delta()`` reduced to ``delta`` (both forms are on the wire:
    message-delta.md documents ``delta``, msgraph-sdk sends ``delta()``)."""
    out: list[str] = []
    for raw in path.split("/"):
        if not raw:
            continue  # collapses "//" (an httpx base_url with a trailing slash produces it)
        seg = unquote(raw)
        name, paren, rest = seg.partition("(")
        if paren and rest.endswith(")"):
            inner = rest[:-1].strip().strip("'")
            out.append(name)
            if inner:
                out.append(unquote(inner))
            continue
        out.append(seg)
    for i, seg in enumerate(out):
        low = seg.lower()
        if low.startswith("microsoft.graph."):
            out[i] = seg[len("microsoft.graph.") :]
    return out


def _match(pattern: tuple[str, ...], segs: list[str]) -> list[str] | None:
    if len(pattern) != len(segs):
        return None
    ids = []
    for want, seg in zip(pattern, segs, strict=True):
        if want == "*":
            ids.append(seg)
        elif want != seg.lower():
            return None
    return ids


class MailboxLimiter:
    """Concurrent requests per mailbox (Exchange Online allows 4)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self.peak: dict[str, int] = {}  # most requests of a mailbox ever running at once

    def acquire(self, mailbox: str, limit: int) -> bool:
        with self._lock:
            running = self._running.get(mailbox, 0)
            if limit > 0 and running >= limit:
                return False
            self._running[mailbox] = running + 1
            self.peak[mailbox] = max(self.peak.get(mailbox, 0), running + 1)
            return True

    def release(self, mailbox: str) -> None:
        with self._lock:
            self._running[mailbox] = max(0, self._running.get(mailbox, 0) - 1)


def user_id(address: str) -> str:
    """The stable directory id the sandbox gives a mailbox's user (``GET /me`` ``id``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "crm-bridge-sandbox:" + address.lower()))


class GraphApp:
    """The Graph side of ``MailServer``; state shared with EWS lives in the server."""

    def __init__(self, server: MailServer) -> None:
        self.server = server
        self.limiter = MailboxLimiter()
        self.uploads = uploads.UploadSessions()
        # Delta tokens of an older generation answer 410 (see delta.py).
        self.delta_generation = 0
        # Sends waiting in Outbox: the server's one transport queue, shared with EWS.
        self.sends = server.transport
        self.send_rate = SendRate()

    def close(self) -> None:
        self.sends.close()

    @property
    def store(self) -> MailStore:
        return self.server.store

    @property
    def base(self) -> str:
        return self.server.origin + PREFIX

    # -- WSGI entry -------------------------------------------------------------------------------

    def handle(self, request: Request, environ: dict[str, Any]) -> Response:
        path = request.path[len(PREFIX) :] if request.path.startswith(PREFIX) else request.path
        req = GraphRequest(
            method=request.method.upper(),
            path=path,
            args={k: v for k, v in request.args.items()},
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.get_data(),
            base=self.base,
            origin=self.server.origin,
        )
        answer = self.call(req, environ)
        return to_werkzeug(answer)

    def handle_upload(self, request: Request, environ: dict[str, Any]) -> Response:
        """PUT/DELETE on an upload session URL: no Authorization header, the URL is the
        credential (learn.microsoft.com/en-us/graph/outlook-large-attachments)."""
        op = "graph:UploadChunk"
        self.server.stats.count(op)
        injected = faults.take(self.server.faults, op, environ)
        if injected.instead is not None:
            return to_werkzeug(injected.instead)
        self._latency()
        sid = request.path.rstrip("/").rpartition("/")[2]
        try:
            answer = self.uploads.put(self, sid, request)
        except GraphError as exc:
            answer = error_response(exc)
        if injected.after is not None:
            answer = injected.after
        if injected.drop_after:
            drop_connection(environ)
        return to_werkzeug(answer)

    # -- one request (also one $batch part) -------------------------------------------------------

    def call(
        self, req: GraphRequest, environ: dict[str, Any] | None, in_batch: bool = False
    ) -> GraphResponse:
        client_id = req.headers.get("client-request-id", "")
        segs = split_path(req.path)
        if not in_batch and segs and segs[0].lower() == "$batch":
            op, handler, rest = "Batch", None, segs
            ids: list[str] = []
        else:
            op, handler, ids, rest = self._route(req.method, segs)
        op = "graph:" + op
        self.server.stats.count(op, inner=in_batch)
        injected = faults.take(self.server.faults, op, environ)
        if injected.instead is not None:
            return injected.instead
        try:
            req.user = self._authenticate(req)
            if handler is None and op == "graph:Batch":
                if req.method != "POST":
                    raise GraphError(405, "BadRequest", "$batch accepts POST only.")
                self._latency()  # once per HTTP request, not per part
                answer = batch.run(self, req, environ)
            else:
                answer = self._run(req, segs, rest, handler, ids, op, in_batch)
        except GraphError as exc:
            answer = error_response(exc, client_id)
        except Exception:
            log.exception("sandbox Graph %s %s failed", req.method, req.path)
            answer = error_response(
                GraphError(500, "InternalServerError", "An internal server error occurred."), client_id
            )
        if injected.after is not None:
            answer = injected.after
        if client_id:
            answer.headers.setdefault("client-request-id", client_id)
        if injected.drop_after and environ is not None:
            drop_connection(environ)
        return answer

    def _route(self, method: str, segs: list[str]) -> tuple[str, Handler | None, list[str], list[str]]:
        rest = _principal_rest(segs)
        if rest is None:
            return "Unknown", None, [], segs
        # /mailFolders/{f}/messages/{m}/... addresses the same message as /messages/{m}/...
        if (
            len(rest) >= 4
            and rest[0].lower() == "mailfolders"
            and rest[2].lower() == "messages"
            and rest[3].lower() != "delta"
        ):
            rest = rest[2:]
        allowed = False
        for verb, pattern, name, handler in ROUTES:
            ids = _match(pattern, rest)
            if ids is None:
                continue
            allowed = True
            if verb == method:
                return name, handler, ids, rest
        return ("MethodNotAllowed" if allowed else "Unknown"), None, [], rest

    def _run(
        self,
        req: GraphRequest,
        segs: list[str],
        rest: list[str],
        handler: Handler | None,
        ids: list[str],
        op: str,
        in_batch: bool,
    ) -> GraphResponse:
        self._check_principal(req, segs)
        if handler is None:
            if op == "graph:MethodNotAllowed":
                raise GraphError(405, "Request_BadRequest", f"{req.method} is not allowed on this resource.")
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{'/'.join(rest)}'.")
        refused = faults.busy(self.server.faults, self.server.busy_backoff_ms)
        if refused is not None:
            return refused
        if not self.limiter.acquire(req.user, self.server.faults.mailbox_concurrency):
            return faults.throttled(
                "Application is over its MailboxConcurrency limit.", 1, limit="MailboxConcurrency"
            )
        try:
            if not in_batch:
                # Injected latency is time the request holds its mailbox slot, as real work does.
                self._latency()
            answer = handler(self, req, ids)
        finally:
            self.limiter.release(req.user)
        return answer

    # -- checks -----------------------------------------------------------------------------------

    def _latency(self) -> None:
        if self.server.faults.latency_ms > 0:
            time.sleep(self.server.faults.latency_ms / 1000.0)

    def _authenticate(self, req: GraphRequest) -> str:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty.",
                {"WWW-Authenticate": 'Bearer realm="sandbox"'},
            )
        user = self.server.tokens.get(token.strip())
        if user is None:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
                {"WWW-Authenticate": 'Bearer realm="sandbox", error="invalid_token"'},
            )
        return user

    def _check_principal(self, req: GraphRequest, segs: list[str]) -> None:
        if len(segs) >= 2 and segs[0].lower() == "users":
            who = segs[1].lower()
            if who not in (req.user, user_id(req.user)):
                raise GraphError(
                    403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )


def _principal_rest(segs: list[str]) -> list[str] | None:
    """The segments after ``me`` or ``users/{id}``; None for any other root."""
    if segs and segs[0].lower() == "me":
        return segs[1:]
    if len(segs) >= 2 and segs[0].lower() == "users":
        return segs[2:]
    return None


def to_werkzeug(answer: GraphResponse) -> Response:
    payload = answer.payload()
    if answer.status in (202, 204) and not payload:
        return Response(b"", status=answer.status, headers=answer.headers)
    return Response(payload, status=answer.status, headers=answer.headers, content_type=answer.content_type)
