"""Sandbox Exchange notifications (pull and streaming subscriptions) through unmodified exchangelib."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import exchangelib
import pytest
from exchangelib import BASIC, DELEGATE, Account, Build, Configuration, Credentials, Version
from exchangelib.properties import CreatedEvent, DeletedEvent, ModifiedEvent, NewMailEvent, StatusEvent

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX, PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with MailSandbox(seed="demo") as sandbox:
        yield sandbox
    exchangelib.close_connections()


def account(mail: MailSandbox) -> Account:
    config = Configuration(
        service_endpoint=mail.ews_url,
        credentials=Credentials(ALEX.email, PASSWORD),
        auth_type=BASIC,
        version=Version(build=Build(15, 2, 1544, 4)),
        max_connections=3,  # a streaming answer holds one connection
    )
    return Account(ALEX.email, config=config, autodiscover=False, access_type=DELEGATE)


def _events(acct: Account, sub_id: str, watermark: str) -> list[object]:
    out: list[object] = []
    for note in acct.inbox.get_events(sub_id, watermark):
        out.extend(note.events)
    return out


def test_pull_subscription_reports_changes_after_its_watermark(mail: MailSandbox) -> None:
    acct = account(mail)
    inbox = acct.inbox
    sub_id, watermark = inbox.subscribe_to_pull()
    quiet = _events(acct, sub_id, watermark)
    assert [type(e) for e in quiet] == [StatusEvent]

    item = inbox.all().order_by("-datetime_received")[0]
    item.categories = ["Track in CRM"]
    item.save(update_fields=["categories"])
    new_id = mail.deliver(ALEX.email, b"From: a@fabrikam.example\r\nSubject: fresh\r\n\r\nhello\r\n")
    sent_only = acct.sent.all()[0]
    sent_only.categories = ["elsewhere"]
    sent_only.save(update_fields=["categories"])  # another folder: not in this subscription

    events = _events(acct, sub_id, quiet[-1].watermark)
    kinds = [(type(e), e.item_id.id) for e in events]
    assert kinds == [(ModifiedEvent, item.id), (NewMailEvent, new_id), (CreatedEvent, new_id)]
    assert _events(acct, sub_id, events[-1].watermark)[0].__class__ is StatusEvent
    assert inbox.unsubscribe(sub_id) is True
    with pytest.raises(exchangelib.errors.ErrorSubscriptionNotFound):
        _events(acct, sub_id, watermark)


def test_pull_subscription_sees_a_move_out_as_a_delete(mail: MailSandbox) -> None:
    acct = account(mail)
    sub_id, watermark = acct.inbox.subscribe_to_pull()
    item = acct.inbox.all()[0]
    item.move(acct.trash)
    events = _events(acct, sub_id, watermark)
    assert [type(e) for e in events] == [DeletedEvent]  # only the Inbox was subscribed


def test_streaming_subscription_delivers_new_mail_while_connected(mail: MailSandbox) -> None:
    acct = account(mail)
    sub_id = acct.inbox.subscribe_to_streaming()
    delivered: list[str] = []

    def deliver_soon() -> None:
        time.sleep(0.3)
        delivered.append(
            mail.deliver(ALEX.email, b"From: a@fabrikam.example\r\nSubject: pushed\r\n\r\nhi\r\n")
        )

    threading.Thread(target=deliver_soon, daemon=True).start()
    seen: list[object] = []
    for note in acct.inbox.get_streaming_events(sub_id, connection_timeout=1):
        seen.extend(note.events)
        if any(isinstance(e, CreatedEvent) for e in seen):
            break
    assert [type(e) for e in seen] == [NewMailEvent, CreatedEvent]
    assert seen[-1].item_id.id == delivered[0]
    acct.inbox.unsubscribe(sub_id)


def test_streaming_subscription_keeps_every_event_across_connections(mail: MailSandbox) -> None:
    """Events that happen between two GetStreamingEvents calls arrive on the next one, and a
    newer connection on the subscription takes it over from an older one."""
    acct = account(mail)
    sub_id = acct.inbox.subscribe_to_streaming()
    ids = []
    for n in range(3):
        ids.append(
            mail.deliver(ALEX.email, f"From: a@fabrikam.example\r\nSubject: n{n}\r\n\r\nhi\r\n".encode())
        )
        created = []
        for note in acct.inbox.get_streaming_events(sub_id, connection_timeout=1):
            created += [e.item_id.id for e in note.events if isinstance(e, CreatedEvent)]
            if created:
                break  # the client closes this connection; the next event waits for the next one
        assert created == [ids[-1]]
    assert mail.expire_subscriptions(ALEX.email) == 1
    with pytest.raises(exchangelib.errors.ErrorInvalidSubscription):
        list(acct.inbox.get_streaming_events(sub_id, connection_timeout=1))


class _PushReceiver:
    """The client's web service for push notifications, on loopback."""

    def __init__(self, answer: str = "OK") -> None:
        import http.server

        self.answer = answer
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                reply = (
                    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
                    '<s:Body><m:SendNotificationResult xmlns:m="http://schemas.microsoft.com/exchange/'
                    f'services/2006/messages"><m:SubscriptionStatus>{receiver.answer}</m:SubscriptionStatus>'
                    "</m:SendNotificationResult></s:Body></s:Envelope>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def events(self) -> list[object]:
        from exchangelib.services import SendNotification

        out: list[object] = []
        for body in list(self.bodies):
            for note in SendNotification(protocol=None).parse(body):
                out.extend(note.events)
        return out


def test_push_subscription_posts_events_until_the_client_unsubscribes(mail: MailSandbox) -> None:
    receiver = _PushReceiver()
    try:
        acct = account(mail)
        sub_id, _ = acct.inbox.subscribe_to_push(callback_url=receiver.url)
        with pytest.raises(exchangelib.errors.ErrorInvalidSubscription):
            acct.inbox.unsubscribe(sub_id)  # a push subscription ends only through its callback
        new_id = mail.deliver(ALEX.email, b"From: a@fabrikam.example\r\nSubject: pushed\r\n\r\nhi\r\n")
        deadline = time.monotonic() + 30
        while not any(isinstance(e, CreatedEvent) for e in receiver.events()):
            assert time.monotonic() < deadline, "the notification was posted"
            time.sleep(0.1)
        assert [e.item_id.id for e in receiver.events() if isinstance(e, CreatedEvent)] == [new_id]
        receiver.answer = "Unsubscribe"
        mail.deliver(ALEX.email, b"From: a@fabrikam.example\r\nSubject: last\r\n\r\nhi\r\n")
        while sub_id in mail.app.subscriptions._subs:
            assert time.monotonic() < deadline, "answering Unsubscribe ended the subscription"
            time.sleep(0.1)
    finally:
        receiver.server.shutdown()
