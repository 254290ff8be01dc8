"""What both sandboxes share: a loopback-only threaded HTTP server, fault injection,
latency, request counters and the control endpoints tests and benchmarks use.

Control endpoints (no auth; the servers bind loopback only):

- ``GET  /_sandbox/stats``   -> ``{"requests": N, "by_operation": {...}}``
- ``POST /_sandbox/stats/reset``
- ``POST /_sandbox/faults``  with JSON ``{"latency_ms": 20, "throttle": "5/1",
  "busy": 3, "fail_next": [{"status": 500}, {"drop": true}], "match": "..."}``
  (every key optional; ``fail_next`` entries are consumed one per matching request,
  ``match`` limits them to requests whose operation name contains that text)
- ``POST /_sandbox/faults/clear``

Mail sandbox only (its Microsoft Graph endpoints; operation names there are ``graph:<Op>``):

- ``fail_next`` entries may carry ``"retry_after": S`` (sent as ``Retry-After``) and ``"code"``
  (the Graph error code; default by status: 429 TooManyRequests, 503 ServiceUnavailable, ...).
- ``"mailbox_concurrency": N`` -- concurrent Graph requests allowed per mailbox before 429
  ``ApplicationThrottled`` (default 4, Exchange Online's limit; 0 = unlimited).
- ``"transport_delay_seconds": S`` (older name ``"sent_copy_delay_seconds"``) -- every send, EWS
  and Graph, answers at once but its message waits S seconds in the sender's Outbox (no longer a
  draft) before it is delivered and its copy lands in Sent Items (a Graph draft's copy under the
  same id); default 0.  ``"transport_outage": true`` holds every send in Outbox until it is set
  back to false; then the queue drains in order.  ``MailSandbox.app.transport.flush()`` (also
  reachable as ``app.graph.sends``) sends every waiting message at once.
- ``"send_limit_per_minute": N`` -- Graph sends over N in any 60 seconds answer 429 with
  ``Retry-After`` (Exchange Online allows 30; default 0 = no limit).
- ``fail_next`` entries with ``"after": true`` (Graph) run the request, then answer the failure:
  a send that went out although its answer says 429/5xx.
- ``"expire_delta_tokens": true`` -- every Graph delta token issued so far answers 410 Gone.
- ``POST /_sandbox/tokens`` ``{"token": T, "address": A}`` accepts ``Authorization: Bearer T``
  as mailbox A on EWS and Graph (``{"token": T, "revoke": true}`` forgets it).
"""

from __future__ import annotations

import io
import json
import logging
import signal
import socket
import ssl
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from addin.errors import BridgeError, ConfigError

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DropConnection(Exception):
    """Raised inside a handler to close the client's connection without any response."""


@dataclass
class FaultPlan:
    """Thread-safe, mutable plan of injected trouble."""

    latency_ms: int = 0
    throttle_limit: int = 0  # requests allowed per window; 0 = unlimited
    throttle_window: float = 1.0
    busy: int = 0  # the next N requests get the server's "busy" answer
    fail_next: deque[dict[str, Any]] = field(default_factory=deque)
    match: str = ""
    # Mail sandbox, Graph side (see the module docstring).
    mailbox_concurrency: int = 4
    send_limit_per_minute: int = 0
    expire_delta_tokens: bool = False
    # Mail sandbox transport, both protocols (addin/sandbox/mail/transport.py).
    transport_delay_seconds: float = 0.0
    transport_outage: bool = False
    _window_start: float = 0.0
    _window_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_throttle(self, spec: str | None) -> None:
        """``"N/SECONDS"`` allows N requests per SECONDS-long window."""
        if not spec:
            self.throttle_limit = 0
            return
        count, _, seconds = spec.partition("/")
        self.throttle_limit = int(count)
        self.throttle_window = float(seconds or "1")
        if self.throttle_limit <= 0 or self.throttle_window <= 0:
            raise ValueError("throttle must be N/SECONDS with N, SECONDS > 0")

    def update(self, data: dict[str, Any]) -> None:
        with self.lock:
            if "latency_ms" in data:
                self.latency_ms = int(data["latency_ms"])
            if "throttle" in data:
                self.set_throttle(data["throttle"])
            if "busy" in data:
                self.busy = int(data["busy"])
            if "fail_next" in data:
                self.fail_next.extend(data["fail_next"])
            if "match" in data:
                self.match = str(data["match"] or "")
            if "mailbox_concurrency" in data:
                self.mailbox_concurrency = int(data["mailbox_concurrency"])
            # The older Graph-only name of the transport delay still works.
            for key in ("sent_copy_delay_seconds", "transport_delay_seconds"):
                if key in data:
                    self.transport_delay_seconds = float(data[key])
            if "transport_outage" in data:
                self.transport_outage = bool(data["transport_outage"])
            if "send_limit_per_minute" in data:
                self.send_limit_per_minute = int(data["send_limit_per_minute"])
            if "expire_delta_tokens" in data:
                self.expire_delta_tokens = bool(data["expire_delta_tokens"])

    def clear(self) -> None:
        with self.lock:
            self.latency_ms = 0
            self.throttle_limit = 0
            self.busy = 0
            self.fail_next.clear()
            self.match = ""
            self.mailbox_concurrency = 4
            self.transport_delay_seconds = 0.0
            self.transport_outage = False
            self.send_limit_per_minute = 0

    def throttled_for(self) -> float | None:
        """Seconds the caller must wait if this request exceeds the throttle, else None."""
        with self.lock:
            if not self.throttle_limit:
                return None
            now = time.monotonic()
            if now - self._window_start >= self.throttle_window:
                self._window_start = now
                self._window_count = 0
            self._window_count += 1
            if self._window_count > self.throttle_limit:
                return max(0.0, self.throttle_window - (now - self._window_start))
            return None

    def take_busy(self) -> bool:
        with self.lock:
            if self.busy > 0:
                self.busy -= 1
                return True
            return False

    def take_failure(self, operation: str) -> dict[str, Any] | None:
        with self.lock:
            if not self.fail_next:
                return None
            if self.match and self.match not in operation:
                return None
            return self.fail_next.popleft()


class Stats:
    """Requests by operation. ``requests`` counts HTTP requests; an ``inner`` operation (a part
    of a Graph ``$batch``) shows in ``by_operation`` but is not an HTTP request of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()
        self._inner = 0

    def count(self, operation: str, inner: bool = False) -> None:
        with self._lock:
            self.by_operation[operation] += 1
            if inner:
                self._inner += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.by_operation.values()) - self._inner,
                "by_operation": dict(self.by_operation),
            }

    def reset(self) -> None:
        with self._lock:
            self.by_operation.clear()
            self._inner = 0


def control_response(request: Request, faults: FaultPlan, stats: Stats) -> Response | None:
    """Answer ``/_sandbox/...`` control requests; None for any other path."""
    path = request.path
    if not path.startswith("/_sandbox/"):
        return None
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin is not None and origin != request.host_url.rstrip("/"):
        # A web page in the user's browser must not reconfigure the sandbox (cross-site post).
        return json_response({"error": "cross-site requests are refused"}, status=403)
    if path == "/_sandbox/stats" and request.method == "GET":
        return json_response(stats.snapshot())
    if path == "/_sandbox/stats/reset" and request.method == "POST":
        stats.reset()
        return json_response({"ok": True})
    if path == "/_sandbox/faults" and request.method == "POST":
        try:
            faults.update(json.loads(request.get_data(as_text=True) or "{}"))
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response({"ok": True})
    if path == "/_sandbox/faults/clear" and request.method == "POST":
        faults.clear()
        return json_response({"ok": True})
    return json_response({"error": "unknown control endpoint"}, status=404)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's socket so it sees a connection reset, with no HTTP response."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            # SO_LINGER 0 makes close() send RST: the client sees "connection reset".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise DropConnection()


def check_loopback(host: str) -> None:
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise ConfigError(
            f"Refusing to listen on {host!r}: the sandboxes listen on loopback only (127.0.0.1, ::1).",
            title="Sandbox not started",
        )


_request_log = {"verbose": False}


def set_request_log(verbose: bool) -> None:
    """One access-log line per request only when asked for (``--verbose``): by default a
    sandbox's own output is its URL and its errors, not a line per request."""
    _request_log["verbose"] = verbose
    if verbose:
        # werkzeug adds its own stderr handler only when no handler up the tree takes INFO; the
        # CLI's quiet root handler would swallow the lines, so the access log gets its own.
        access = logging.getLogger("werkzeug")
        if not any(getattr(h, "_sandbox_access_log", False) for h in access.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler._sandbox_access_log = True  # type: ignore[attr-defined]
            access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False


class OpenConnections:
    """The connections a sandbox server is serving right now (accepted, not yet closed).

    A client killed mid-request leaves its request to the server, which still carries it out,
    as a real server does; tests that restart a killed client wait for this to reach zero before
    the restarted client looks at the mailbox, standing for the grace period a real server's
    processing fits in (the product's grace is a minute; test workers use a second).
    """

    def __init__(self) -> None:
        self._open = 0
        self._changed = threading.Condition()

    def opened(self) -> None:
        with self._changed:
            self._open += 1

    def closed(self) -> None:
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def wait_none(self, timeout: float) -> bool:
        """True once no connection is open (False if ``timeout`` seconds pass first)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open == 0, timeout)


class RequestLogHandler(WSGIRequestHandler):
    """werkzeug's handler with the per-request line opt-in, coloured only on a terminal."""

    def setup(self) -> None:
        connections = getattr(self.server, "open_connections", None)
        if connections is not None:
            connections.opened()
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            connections = getattr(self.server, "open_connections", None)
            if connections is not None:
                connections.closed()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not _request_log["verbose"]:
            return
        if sys.stderr.isatty():
            super().log_request(code, size)
            return
        # Redirected to a file or a pipe: no ANSI colour codes in the text.
        line = self.requestline.translate(self._control_char_table)
        self.log("info", '"%s" %s %s', line, code, size)


class KeepAliveRequestHandler(RequestLogHandler):
    """HTTP/1.1 keep-alive, as real servers do.

    werkzeug's handler answers every request with ``Connection: close``; some clients read that
    as a transient failure (exchangelib turns any non-200 answer carrying it, a 401 included,
    into "server busy"). The request body is read up front so the stream is always drained
    before the next request on the connection, and werkzeug's own after-response drain is
    pointed at an empty buffer so it cannot swallow that next request. Chunked uploads still
    close the connection.
    """

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_wsgi(self) -> None:
        socket_stream = self.rfile
        try:
            super().run_wsgi()
        finally:
            self.rfile = socket_stream

    def make_environ(self) -> Any:
        environ = super().make_environ()
        self._keep_alive = False
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() != "chunked":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return environ
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
            self._keep_alive = True
            self.rfile = io.BytesIO()
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if (
            keyword.lower() == "connection"
            and value.lower() == "close"
            and getattr(self, "_keep_alive", False)
        ):
            return
        super().send_header(keyword, value)


class SandboxServer:
    """A threaded werkzeug server in a background thread; ``url`` is known once started.

    ``keep_alive=True`` serves HTTP/1.1 persistent connections (see KeepAliveRequestHandler).
    """

    def __init__(
        self,
        app: WSGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_alive: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        check_loopback(host)
        handler = KeepAliveRequestHandler if keep_alive else RequestLogHandler
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=handler, ssl_context=ssl_context
        )
        self.open_connections = OpenConnections()
        self._server.open_connections = self.open_connections  # type: ignore[attr-defined]
        self.scheme = "https" if ssl_context is not None else "http"
        # Request threads must not keep the process alive on shutdown.
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_until_signalled(server: SandboxServer, first_line: str, *more_lines: str) -> int:
    """Print ``first_line`` (the base URL) first on stdout, then ``more_lines``, then serve until
    SIGTERM/SIGINT."""
    stop = threading.Event()

    def _handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    server.start()
    sys.stdout.write("".join(line + "\n" for line in (first_line, *more_lines)))
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


def data_folder_error(kind: str, folder: object, exc: BaseException) -> BridgeError:
    """A sandbox's ``--data`` folder that cannot be used, in words (not a traceback)."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return BridgeError(
        f"Cannot keep the {kind} sandbox's data in {folder}: {reason}. "
        "Fix: give --data a folder you can write, or leave --data out for a temporary one.",
        title="Sandbox data folder not usable",
    )
