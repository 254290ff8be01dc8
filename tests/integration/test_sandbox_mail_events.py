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
