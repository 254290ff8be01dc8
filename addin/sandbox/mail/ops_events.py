"""Notifications: Subscribe (pull and streaming), GetEvents, GetStreamingEvents, Unsubscribe.

Events are read from the same change log SyncFolderItems uses; a watermark is a position in
it. Subscriptions live in memory, as on a real server they do not survive a restart.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree  # type: ignore[import-untyped]

from addin.sandbox.mail.context import Ctx, folder_ids
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    bool_text,
    envelope,
    error_message,
    local,
    m,
    ok_message,
    response_root,
    sub,
    t,
)
from addin.sandbox.mail.store import MailStore, changekey

EVENTS_PER_NOTIFICATION = 50
STREAM_HEARTBEAT_SECONDS = 5.0
_WATERMARK_PREFIX = "SBXW"
_KIND_EVENTS = {
    "create": "CreatedEvent",
    "update": "ModifiedEvent",
    "read": "ModifiedEvent",
    "delete": "DeletedEvent",
}


def encode_watermark(seq: int) -> str:
    return _WATERMARK_PREFIX + base64.urlsafe_b64encode(str(seq).encode()).decode("ascii")


def decode_watermark(text: str) -> int:
    try:
        if not text.startswith(_WATERMARK_PREFIX):
            raise ValueError(text)
        return int(base64.urlsafe_b64decode(text[len(_WATERMARK_PREFIX) :].encode("ascii")))
    except ValueError:
        raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.") from None


@dataclass
class Subscription:
    id: str
    mailbox: str
    folders: set[str] | None  # None: every folder of the mailbox
    event_types: set[str]
    streaming: bool
    seq: int
    timeout_minutes: int = 30
    last_used: float = field(default_factory=time.monotonic)

    def expired(self) -> bool:
        return not self.streaming and time.monotonic() - self.last_used > self.timeout_minutes * 60


class Subscriptions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, Subscription] = {}
        self.closing = threading.Event()

    def add(self, sub_: Subscription) -> None:
        with self._lock:
            self._subs[sub_.id] = sub_

    def get(self, sub_id: str, mailbox: str) -> Subscription:
        with self._lock:
            found = self._subs.get(sub_id)
            if found is not None and found.expired():
                del self._subs[sub_id]
                found = None
        if found is None or found.mailbox != mailbox:
            raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        found.last_used = time.monotonic()
        return found

    def remove(self, sub_id: str, mailbox: str) -> None:
        self.get(sub_id, mailbox)
        with self._lock:
            self._subs.pop(sub_id, None)


def _events(store: MailStore, subscription: Subscription, limit: int) -> tuple[list[Element], int, bool]:
    """Event elements after the subscription's position: (events, new position, more left)."""
    rows = store.mailbox_changes_since(subscription.mailbox, subscription.seq, limit * 2 + 1)
    out: list[Element] = []
    position = subscription.seq
    more = False
    for n, (seq, folder_id, item_id, kind, at) in enumerate(rows):
        if len(out) >= limit or n >= limit * 2:
            more = True
            break
        position = seq
        if subscription.folders is not None and folder_id not in subscription.folders:
            continue
        names = [_KIND_EVENTS.get(kind, "ModifiedEvent")]
        folder = store.folder(folder_id)
        if kind == "create" and folder is not None and folder.distinguished == "inbox":
            names.insert(0, "NewMailEvent")
        item = store.item(item_id)
        for name in names:
            if name not in subscription.event_types:
                continue
            ev = etree.Element(t(name))
            sub(ev, t("Watermark"), encode_watermark(seq))
            sub(ev, t("TimeStamp"), at or "1970-01-01T00:00:00Z")
            sub(ev, t("ItemId"), Id=item_id, ChangeKey=item.changekey if item is not None else changekey(0))
            if folder is not None:
                sub(ev, t("ParentFolderId"), Id=folder.id, ChangeKey=folder.changekey)
            out.append(ev)
    return out, position, more


def _notification(
    parent: Element, subscription: Subscription, store: MailStore, status_if_empty: bool
) -> bool:
    """Append a m:Notification with pending events; returns whether any event was added."""
    previous = subscription.seq
    events, position, more = _events(store, subscription, EVENTS_PER_NOTIFICATION)
    if not events and not status_if_empty:
        subscription.seq = position
        return False
    note = sub(parent, m("Notification"))
    sub(note, t("SubscriptionId"), subscription.id)
    sub(note, t("PreviousWatermark"), encode_watermark(previous))
    sub(note, t("MoreEvents"), bool_text(more))
    for ev in events:
        note.append(ev)
    if not events:
        status = sub(note, t("StatusEvent"))
        sub(status, t("Watermark"), encode_watermark(position))
    subscription.seq = position
    return bool(events)


def subscribe(ctx: Ctx, req: Element, messages: Element) -> None:
    hub: Subscriptions = ctx.subscriptions
    try:
        spec = next((c for c in req if isinstance(c.tag, str)), None)
        if spec is None or local(spec) not in ("PullSubscriptionRequest", "StreamingSubscriptionRequest"):
            raise EwsError(
                "ErrorInvalidSubscriptionRequest", "Only pull and streaming subscriptions are supported."
            )
        streaming = local(spec) == "StreamingSubscriptionRequest"
        folders: set[str] | None = None
        if spec.get("SubscribeToAllFolders", "false").lower() != "true":
            folders = {ctx.folder_from(f).id for f in folder_ids(spec.find(t("FolderIds")))}
            if not folders:
                raise EwsError("ErrorInvalidSubscriptionRequest", "No folders to subscribe to.")
        types = {e.text or "" for e in spec.iter(t("EventType"))}
        watermark = spec.findtext(m("Watermark"))
        seq = decode_watermark(watermark) if watermark else ctx.store.last_seq()
        timeout = int(spec.findtext(t("Timeout")) or "30")
    except EwsError as exc:
        error_message(messages, "Subscribe", exc.code, exc.message)
        return
    subscription = Subscription(
        id=secrets.token_urlsafe(24),
        mailbox=ctx.user,
        folders=folders,
        event_types=types,
        streaming=streaming,
        seq=seq,
        timeout_minutes=max(1, timeout),
    )
    hub.add(subscription)
    msg = ok_message(messages, "Subscribe")
    sub(msg, m("SubscriptionId"), subscription.id)
    if not streaming:
        sub(msg, m("Watermark"), encode_watermark(seq))


def get_events(ctx: Ctx, req: Element, messages: Element) -> None:
    hub: Subscriptions = ctx.subscriptions
    try:
        subscription = hub.get(req.findtext(m("SubscriptionId")) or "", ctx.user)
        if subscription.streaming:
            raise EwsError("ErrorInvalidSubscription", "Use GetStreamingEvents for a streaming subscription.")
        watermark = req.findtext(m("Watermark"))
        if watermark:
            # Never rewind: exchangelib re-sends its first watermark while MoreEvents is true.
            subscription.seq = max(subscription.seq, decode_watermark(watermark))
    except EwsError as exc:
        error_message(messages, "GetEvents", exc.code, exc.message)
        return
    msg = ok_message(messages, "GetEvents")
    _notification(msg, subscription, ctx.store, status_if_empty=True)


def unsubscribe(ctx: Ctx, req: Element, messages: Element) -> None:
    hub: Subscriptions = ctx.subscriptions
    try:
        hub.remove(req.findtext(m("SubscriptionId")) or "", ctx.user)
    except EwsError as exc:
        error_message(messages, "Unsubscribe", exc.code, exc.message)
        return
    ok_message(messages, "Unsubscribe")


def _stream_doc(build: Callable[[Element], None]) -> bytes:
    root, body = envelope()
    messages = response_root(body, "GetStreamingEvents")
    msg = ok_message(messages, "GetStreamingEvents")
    build(msg)
    # One document per chunk, without an XML declaration: clients split the stream on Envelope tags.
    return bytes(etree.tostring(root, encoding="utf-8"))


def streaming_subscriptions(ctx: Ctx, req: Element) -> tuple[list[Subscription], int]:
    """Validate a GetStreamingEvents request: (subscriptions, connection timeout in minutes)."""
    hub: Subscriptions = ctx.subscriptions
    ids = [e.text or "" for e in req.iter(t("SubscriptionId"))]
    if not ids:
        raise EwsError("ErrorInvalidSubscription", "No subscription ids given.")
    subs = [hub.get(i, ctx.user) for i in ids]
    if not all(s.streaming for s in subs):
        raise EwsError("ErrorInvalidSubscription", "Only streaming subscriptions can be streamed.")
    minutes = int(req.findtext(m("ConnectionTimeout")) or "30")
    if not 1 <= minutes <= 30:
        raise EwsError("ErrorInvalidArgument", "ConnectionTimeout must be 1..30 minutes.")
    return subs, minutes


def stream(ctx: Ctx, subs: list[Subscription], minutes: int, poll: float = 0.1) -> Iterator[bytes]:
    """Documents of a GetStreamingEvents answer: notifications as changes happen, an OK status as
    a heartbeat, and Closed when the connection timeout ends."""
    hub: Subscriptions = ctx.subscriptions
    deadline = time.monotonic() + minutes * 60
    last_beat = time.monotonic()
    yield _stream_doc(lambda msg: sub(msg, m("ConnectionStatus"), "OK"))
    while time.monotonic() < deadline and not hub.closing.is_set():
        pending: list[Subscription] = [s for s in subs if s.seq < ctx.store.last_seq()]
        if pending:

            def build(msg: Element, pending: list[Subscription] = pending) -> None:
                notes = sub(msg, m("Notifications"))
                for s in pending:
                    _notification(notes, s, ctx.store, status_if_empty=False)
                if len(notes) == 0:
                    msg.remove(notes)
                    sub(msg, m("ConnectionStatus"), "OK")

            doc = _stream_doc(build)
            if b"Notification>" in doc:
                last_beat = time.monotonic()
                yield doc
                continue
        if time.monotonic() - last_beat >= STREAM_HEARTBEAT_SECONDS:
            last_beat = time.monotonic()
            yield _stream_doc(lambda msg: sub(msg, m("ConnectionStatus"), "OK"))
        with ctx.store.changed:
            ctx.store.changed.wait(poll)
    yield _stream_doc(lambda msg: sub(msg, m("ConnectionStatus"), "Closed"))
