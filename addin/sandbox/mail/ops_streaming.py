"""GetStreamingEvents: one long HTTP answer per connection, notifications as changes happen.

Behaviour follows the EWS reference:
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getstreamingevents-operation
- every event reaches the client across repeated GetStreamingEvents calls on one subscription: a
  connection the client has closed consumes nothing, and a newer connection on the same
  subscription takes it over (the older one ends with ``ConnectionStatus`` Closed);
- ``ConnectionTimeout`` (1..30 minutes,
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectiontimeout)
  ends the answer with ``ConnectionStatus`` Closed; ``ConnectionStatus`` OK is sent as a heartbeat
  while nothing happens (the interval is not documented; ``HEARTBEAT_SECONDS``);
- unknown subscription ids answer ``ErrorInvalidSubscription`` and list the ids in
  ``ErrorSubscriptionIds``
  (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/errorsubscriptionids);
- the subscription operations answer a client that asks for affinity (``X-PreferServerAffinity``)
  with the ``X-BackEndOverrideCookie`` cookie
  (https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server).
"""

from __future__ import annotations

import contextlib
import hashlib
import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from lxml import etree  # type: ignore[import-untyped]
from werkzeug.wrappers import Request, Response

from addin.sandbox.mail.context import Ctx
from addin.sandbox.mail.ops_events import Subscription, Subscriptions, notification
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    envelope,
    error_message,
    m,
    ok_message,
    response_root,
    serialize,
    sub,
    t,
)

HEARTBEAT_SECONDS = 5.0
AFFINITY_OPERATIONS = frozenset({"Subscribe", "GetEvents", "GetStreamingEvents", "Unsubscribe"})
AFFINITY_COOKIE = "X-BackEndOverrideCookie"


def set_affinity_cookie(request: Request, response: Response, op: str, mailbox: str) -> None:
    """Exchange answers a subscription request that asks for affinity with a cookie naming the
    mailbox server; the client sends it back on the following requests of the group."""
    if op not in AFFINITY_OPERATIONS:
        return
    if request.headers.get("X-PreferServerAffinity", "").lower() != "true":
        return
    if request.cookies.get(AFFINITY_COOKIE) or request.headers.get(AFFINITY_COOKIE):
        return  # the client already carries it
    # One mailbox server per sandbox: a stable value of Exchange's "<guid-like>~<number>" shape.
    digest = hashlib.sha256(mailbox.encode()).hexdigest()
    response.set_cookie(AFFINITY_COOKIE, f"{digest[:32]}~1941962753", path="/", httponly=True)


class InvalidSubscriptions(EwsError):
    def __init__(self, ids: list[str]) -> None:
        super().__init__("ErrorInvalidSubscription", "Subscription is invalid.")
        self.ids = ids


def _subscriptions(ctx: Ctx, req: Element) -> tuple[list[Subscription], int]:
    """Validate the request: (subscriptions, connection timeout in minutes)."""
    hub: Subscriptions = ctx.subscriptions
    ids = [e.text or "" for e in req.iter(t("SubscriptionId"))]
    if not ids:
        raise InvalidSubscriptions([])
    found = {i: hub.find(i, ctx.user) for i in ids}
    bad = [i for i, s in found.items() if s is None or not s.streaming]
    if bad:
        # With good and bad ids mixed Exchange answers the error alone, naming the bad ones.
        raise InvalidSubscriptions(bad)
    minutes = int(req.findtext(m("ConnectionTimeout")) or "30")
    if not 1 <= minutes <= 30:
        raise EwsError("ErrorInvalidArgument", "ConnectionTimeout must be 1..30 minutes.")
    return [s for s in found.values() if s is not None], minutes


def _error(exc: EwsError) -> Response:
    root, body = envelope()
    msg = error_message(
        response_root(body, "GetStreamingEvents"), "GetStreamingEvents", exc.code, exc.message
    )
    if isinstance(exc, InvalidSubscriptions) and exc.ids:
        ids = sub(msg, m("ErrorSubscriptionIds"))
        for sub_id in exc.ids:
            sub(ids, m("SubscriptionId"), sub_id)
    return Response(serialize(root), content_type="text/xml; charset=utf-8")


class Client:
    """The client end of one streaming connection, seen through its socket."""

    def __init__(self, environ: dict[str, Any]) -> None:
        sock = environ.get("werkzeug.socket")
        self._sock = sock if isinstance(sock, socket.socket) else None

    def gone(self) -> bool:
        """Whether the client has closed its end: a readable socket with nothing to read is a FIN.
        Events are taken from a subscription only while someone is there to receive them."""
        if self._sock is None:
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if not readable:
                return False
            return self._sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def reset(self) -> None:
        """Break the connection as a network failure would: the client sees a reset, no Closed."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self._sock.shutdown(socket.SHUT_RDWR)


def streaming_response(ctx: Ctx, req: Element, environ: dict[str, Any]) -> Response:
    try:
        subs, minutes = _subscriptions(ctx, req)
    except EwsError as exc:
        return _error(exc)
    hub: Subscriptions = ctx.subscriptions
    claims = []
    for s in subs:  # this connection takes the subscriptions over from any older one
        s.stream_epoch += 1
        claims.append((s, s.stream_epoch))
    return Response(
        stream(ctx, claims, minutes, Client(environ), hub),
        content_type="text/xml; charset=utf-8",
        direct_passthrough=True,
    )


def _doc(build: Callable[[Element], None]) -> bytes:
    root, body = envelope()
    messages = response_root(body, "GetStreamingEvents")
    build(ok_message(messages, "GetStreamingEvents"))
    # One document per chunk, without an XML declaration: clients split the stream on Envelope tags.
    return bytes(etree.tostring(root, encoding="utf-8"))


def _status(value: str) -> bytes:
    return _doc(lambda msg: sub(msg, m("ConnectionStatus"), value))


def stream(
    ctx: Ctx,
    claims: list[tuple[Subscription, int]],
    minutes: int,
    client: Client,
    hub: Subscriptions,
    poll: float = 0.1,
) -> Iterator[bytes]:
    """Documents of one GetStreamingEvents answer: OK first, notifications as changes happen,
    OK heartbeats while idle, Closed when the connection timeout ends or the subscriptions were
    taken over by a newer connection or forgotten by the server."""
    deadline = time.monotonic() + minutes * 60
    generation = hub.drop_generation
    for s, _ in claims:
        s.streams_open += 1
    try:
        yield _status("OK")
        last_beat = time.monotonic()
        while time.monotonic() < deadline and not hub.closing.is_set():
            if hub.drop_generation != generation:
                client.reset()
                return
            mine = [s for s, epoch in claims if s.stream_epoch == epoch and hub.alive(s)]
            if not mine or client.gone():
                break
            last = ctx.store.last_seq()
            pending = [s for s in mine if s.seq < last]
            if pending:
                notes_doc = _notifications(ctx, pending)
                if notes_doc is not None:
                    last_beat = time.monotonic()
                    yield notes_doc
                    continue
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                yield _status("OK")
            with ctx.store.changed:
                ctx.store.changed.wait(poll)
        yield _status("Closed")
    finally:
        for s, _ in claims:
            s.streams_open -= 1
            s.last_used = time.monotonic()


def _notifications(ctx: Ctx, pending: list[Subscription]) -> bytes | None:
    added = False

    def build(msg: Element) -> None:
        nonlocal added
        notes = sub(msg, m("Notifications"))
        for s in pending:
            added = notification(notes, s, ctx.store, status_if_empty=False) or added
        if len(notes) == 0:
            msg.remove(notes)
            sub(msg, m("ConnectionStatus"), "OK")

    doc = _doc(build)
    return doc if added else None
