"""Notifications: Subscribe (pull, push and streaming), GetEvents, Unsubscribe (the streaming
connection itself is ops_streaming.py).

Events are read from the same change log SyncFolderItems uses; a watermark is a position in
it. Subscriptions live in memory, as on a real server they do not survive a restart.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import Enum

from lxml import etree  # type: ignore[import-untyped]

from addin.sandbox.mail.context import Ctx, folder_ids
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    bool_text,
    error_message,
    local,
    m,
    ok_message,
    sub,
    t,
)
from addin.sandbox.mail.store import MailStore, changekey

EVENTS_PER_NOTIFICATION = 50
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


class Kind(Enum):
    PULL = "pull"
    PUSH = "push"
    STREAMING = "streaming"


# A streaming subscription with no open connection lives on for 30 minutes, like a pull
# subscription's default timeout; then the server forgets it.
STREAMING_IDLE_MINUTES = 30


@dataclass
class Subscription:
    id: str
    mailbox: str
    folders: set[str] | None  # None: every folder of the mailbox
    event_types: set[str]
    kind: Kind
    seq: int
    timeout_minutes: int = 30
    push_url: str = ""
    last_used: float = field(default_factory=time.monotonic)
    # Which GetStreamingEvents connection owns the subscription: a newer one takes it over.
    stream_epoch: int = 0
    streams_open: int = 0

    @property
    def streaming(self) -> bool:
        return self.kind is Kind.STREAMING

    def expired(self) -> bool:
        if self.kind is Kind.PUSH:
            return False  # ends when the client answers Unsubscribe to a notification
        if self.kind is Kind.STREAMING:
            return self.streams_open == 0 and time.monotonic() - self.last_used > STREAMING_IDLE_MINUTES * 60
        return time.monotonic() - self.last_used > self.timeout_minutes * 60


class Subscriptions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, Subscription] = {}
        self.closing = threading.Event()
        # Bumped to break every open streaming connection (tests of a dropped stream).
        self.drop_generation = 0

    def add(self, sub_: Subscription) -> None:
        with self._lock:
            self._subs[sub_.id] = sub_

    def find(self, sub_id: str, mailbox: str) -> Subscription | None:
        with self._lock:
            found = self._subs.get(sub_id)
            if found is not None and found.expired():
                del self._subs[sub_id]
                found = None
        if found is None or found.mailbox != mailbox:
            return None
        found.last_used = time.monotonic()
        return found

    def get(self, sub_id: str, mailbox: str) -> Subscription:
        found = self.find(sub_id, mailbox)
        if found is None:
            raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        return found

    def remove(self, sub_id: str, mailbox: str) -> None:
        found = self.get(sub_id, mailbox)
        if found.kind is Kind.PUSH:
            # Push subscriptions end only when the client answers a notification with Unsubscribe
            # (SubscriptionStatus, https://learn.microsoft.com/en-us/exchange/client-developer/
            # web-service-reference/subscriptionstatus); Unsubscribe is for pull and streaming ones.
            raise EwsError("ErrorInvalidSubscription", "A push subscription cannot be unsubscribed.")
        with self._lock:
            self._subs.pop(sub_id, None)

    def expire(self, mailbox: str | None = None) -> int:
        """Forget subscriptions as a server does after their timeout or a restart (tests use it);
        open streams of them end. Returns how many were dropped."""
        with self._lock:
            gone = [k for k, v in self._subs.items() if mailbox is None or v.mailbox == mailbox]
            for key in gone:
                self._subs[key].stream_epoch += 1
                del self._subs[key]
        return len(gone)

    def drop(self, subscription: Subscription) -> None:
        """End one subscription (a push client answered Unsubscribe, or could not be reached)."""
        with self._lock:
            if self._subs.get(subscription.id) is subscription:
                del self._subs[subscription.id]

    def alive(self, subscription: Subscription) -> bool:
        with self._lock:
            return self._subs.get(subscription.id) is subscription


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


def notification(
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
        kinds = {
            "PullSubscriptionRequest": Kind.PULL,
            "PushSubscriptionRequest": Kind.PUSH,
            "StreamingSubscriptionRequest": Kind.STREAMING,
        }
        if spec is None or local(spec) not in kinds:
            raise EwsError("ErrorInvalidSubscriptionRequest", "The subscription request is not valid.")
        kind = kinds[local(spec)]
        folders: set[str] | None = None
        if spec.get("SubscribeToAllFolders", "false").lower() != "true":
            folders = {ctx.folder_from(f).id for f in folder_ids(spec.find(t("FolderIds")))}
            if not folders:
                raise EwsError("ErrorInvalidSubscriptionRequest", "No folders to subscribe to.")
        types = {e.text or "" for e in spec.iter(t("EventType"))}
        watermark = spec.findtext(m("Watermark"))
        seq = decode_watermark(watermark) if watermark else ctx.store.last_seq()
        timeout = int(spec.findtext(t("Timeout")) or "30")
        push_url = (spec.findtext(t("URL")) or "").strip()
        status_minutes = int(spec.findtext(t("StatusFrequency")) or "30")
        if kind is Kind.PUSH and not push_url:
            raise EwsError("ErrorInvalidPushSubscriptionUrl", "The push subscription needs a URL.")
    except EwsError as exc:
        error_message(messages, "Subscribe", exc.code, exc.message)
        return
    subscription = Subscription(
        id=secrets.token_urlsafe(24),
        mailbox=ctx.user,
        folders=folders,
        event_types=types,
        kind=kind,
        seq=seq,
        timeout_minutes=max(1, timeout),
        push_url=push_url,
    )
    hub.add(subscription)
    if kind is Kind.PUSH:
        from addin.sandbox.mail import ops_push

        ops_push.start(hub, subscription, ctx.store, status_minutes)
    msg = ok_message(messages, "Subscribe")
    sub(msg, m("SubscriptionId"), subscription.id)
    if kind is not Kind.STREAMING:
        sub(msg, m("Watermark"), encode_watermark(seq))


def get_events(ctx: Ctx, req: Element, messages: Element) -> None:
    hub: Subscriptions = ctx.subscriptions
    try:
        subscription = hub.get(req.findtext(m("SubscriptionId")) or "", ctx.user)
        if subscription.kind is not Kind.PULL:
            raise EwsError("ErrorInvalidSubscription", "GetEvents is for pull subscriptions.")
        watermark = req.findtext(m("Watermark"))
        if watermark:
            # Never rewind: exchangelib re-sends its first watermark while MoreEvents is true.
            subscription.seq = max(subscription.seq, decode_watermark(watermark))
    except EwsError as exc:
        error_message(messages, "GetEvents", exc.code, exc.message)
        return
    msg = ok_message(messages, "GetEvents")
    notification(msg, subscription, ctx.store, status_if_empty=True)


def unsubscribe(ctx: Ctx, req: Element, messages: Element) -> None:
    hub: Subscriptions = ctx.subscriptions
    try:
        hub.remove(req.findtext(m("SubscriptionId")) or "", ctx.user)
    except EwsError as exc:
        error_message(messages, "Unsubscribe", exc.code, exc.message)
        return
    ok_message(messages, "Unsubscribe")
