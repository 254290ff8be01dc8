"""Push subscriptions: the server posts SendNotification requests to the client's URL.

As Exchange documents it (PushSubscriptionRequest and SendNotification,
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/pushsubscriptionrequest,
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sendnotification):
events are posted as they happen, a StatusEvent every StatusFrequency minutes while nothing does;
the client answers ``SendNotificationResult`` with ``SubscriptionStatus`` OK or Unsubscribe, and
Unsubscribe ends the subscription. A notification that cannot be delivered is retried after 30 s,
then after twice as long each time; once StatusFrequency minutes pass without a delivery the
subscription ends. The sandbox posts only to loopback addresses: any other URL counts as
unreachable, so no request ever leaves the machine.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import requests
from lxml import etree  # type: ignore[import-untyped]

from addin.sandbox.common import LOOPBACK_HOSTS
from addin.sandbox.mail.ops_events import Subscription, Subscriptions, notification
from addin.sandbox.mail.soap import M, envelope, m, ok_message, response_root, serialize
from addin.sandbox.mail.store import MailStore

FIRST_RETRY_SECONDS = 30.0
POLL_SECONDS = 0.2


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def _document(subscription: Subscription, store: MailStore) -> tuple[bytes, int]:
    """A SendNotification request with the pending events (or a StatusEvent), and the position
    the subscription reaches once it is delivered."""
    saved = subscription.seq
    root, body = envelope()
    messages = response_root(body, "SendNotification")
    notification(ok_message(messages, "SendNotification"), subscription, store, status_if_empty=True)
    reached = subscription.seq
    subscription.seq = saved  # only a delivered notification moves the subscription on
    # response_root names the answer element "SendNotificationResponse"; the request is SendNotification.
    body[0].tag = m("SendNotification")
    return serialize(root), reached


def _answer_unsubscribes(content: bytes) -> bool:
    try:
        doc = etree.fromstring(content)
    except etree.XMLSyntaxError:
        return False
    status = doc.findtext(f".//{{{M}}}SubscriptionStatus") or ""
    return status.strip() == "Unsubscribe"


def deliver(hub: Subscriptions, subscription: Subscription, store: MailStore, status_minutes: int) -> None:
    """The life of one push subscription (a daemon thread per subscription)."""
    last_delivery = time.monotonic()
    retry_at = 0.0
    wait = FIRST_RETRY_SECONDS
    while not hub.closing.is_set() and hub.alive(subscription):
        now = time.monotonic()
        status_due = now - last_delivery >= status_minutes * 60
        pending = subscription.seq < store.last_seq()
        if (pending or status_due) and now >= retry_at:
            doc, reached = _document(subscription, store)
            if b"StatusEvent" not in doc or status_due:
                delivered, unsubscribe = _post(subscription.push_url, doc)
                if delivered:
                    subscription.seq = reached
                    last_delivery, retry_at, wait = time.monotonic(), 0.0, FIRST_RETRY_SECONDS
                    if unsubscribe:
                        hub.drop(subscription)
                        return
                elif time.monotonic() - last_delivery >= status_minutes * 60:
                    hub.drop(subscription)  # undeliverable for StatusFrequency minutes: it ends
                    return
                else:
                    retry_at, wait = time.monotonic() + wait, wait * 2
            else:
                subscription.seq = reached  # only events the subscription does not watch
        with store.changed:
            store.changed.wait(POLL_SECONDS)


def _post(url: str, doc: bytes) -> tuple[bool, bool]:
    """(delivered, the client answered Unsubscribe)."""
    if not _loopback(url):
        return False, False
    try:
        answer = requests.post(url, data=doc, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
    except requests.RequestException:
        return False, False
    if answer.status_code != 200:
        return False, False
    return True, _answer_unsubscribes(answer.content)


def start(hub: Subscriptions, subscription: Subscription, store: MailStore, status_minutes: int) -> None:
    threading.Thread(
        target=deliver,
        args=(hub, subscription, store, max(1, min(1440, status_minutes))),
        name=f"sandbox-push-{subscription.id[:8]}",
        daemon=True,
    ).start()
