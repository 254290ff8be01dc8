"""How a failed HTTP request ended, read from the exception *types* in its chain.

requests wraps urllib3, which wraps the socket error; exchangelib wraps requests again
(``ErrorTimeoutExpired`` raised inside ``except ConnectionError``).  The original failure
stays reachable through ``__cause__`` / ``__context__``, ``MaxRetryError.reason`` and the
wrapped exception requests keeps in ``args[0]``.  The three clients (Dataverse, Graph, EWS)
decide "retry", "offline" or "outcome unknown" from these types only, never from the text
of a message (which differs between library versions, platforms and languages).
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import requests
import urllib3.exceptions

# The request certainly never reached the server: no connection was made.
_NEVER_SENT = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.InvalidURL,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.NameResolutionError,
    ConnectionRefusedError,
    socket.gaierror,
)
# A connection was made and then failed: the request may have been received.
_MAYBE_SENT = (
    requests.exceptions.ReadTimeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.ProtocolError,
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)
# Any failure of the connection itself (as opposed to an answer from the server).
_CONNECTION = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    socket.timeout,
    ConnectionError,
    socket.gaierror,
)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps, outermost first (each once)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped: list[BaseException | None] = [current.__cause__, current.__context__]
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError
        if isinstance(reason, BaseException):
            wrapped.append(reason)
        if current.args and isinstance(current.args[0], BaseException):  # requests' wrappers
            wrapped.append(current.args[0])
        todo.extend(w for w in wrapped if w is not None)


def never_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached the server (DNS, refused, connect
    timeout); False when it may have (the connection broke after it was made, or unknown)."""
    for cause in chain(exc):
        if isinstance(cause, _NEVER_SENT):
            return True
        if isinstance(cause, _MAYBE_SENT):
            return False
    return False


def is_connection_failure(exc: BaseException) -> bool:
    """True when ``exc`` is (or wraps) a failure of the connection, not an answer."""
    return any(isinstance(cause, _CONNECTION) for cause in chain(exc))
