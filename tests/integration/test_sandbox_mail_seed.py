"""Sandbox Exchange: the demo seed, persistence under --data, MIME uploads and latency."""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import exchangelib
import pytest
from exchangelib import BASIC, DELEGATE, Account, Build, Configuration, Credentials, Message, Version

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX, PASSWORD, demo_mailboxes

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    yield
    exchangelib.close_connections()


def account(mail: MailSandbox, address: str = ALEX.email) -> Account:
    config = Configuration(
        service_endpoint=mail.ews_url,
        credentials=Credentials(address, PASSWORD),
        auth_type=BASIC,
        version=Version(build=Build(15, 2, 1544, 4)),
    )
    return Account(address, config=config, autodiscover=False, access_type=DELEGATE)


def test_demo_seed_content() -> None:
    with MailSandbox(seed="demo") as mail:
        inbox = mail.items(ALEX.email, "inbox")
        sent = mail.items(ALEX.email, "sentitems")
        everything = inbox + sent
        assert len(inbox) >= 35 and len(sent) >= 20
        threads = {i["subject"].removeprefix("RE: ") for i in everything}
        assert len(threads) >= 35
        assert sum(1 for i in everything if i["sensitivity"] == "Private") == 1
        replies = [i for i in everything if i["in_reply_to"]]
        assert len(replies) >= 15
        ids = {i["message_id"] for i in everything}
        assert all(r["in_reply_to"] in ids and r["in_reply_to"] in r["references"] for r in replies)
        kinds = Counter(name.rsplit(".", 1)[1] for i in everything for name, _, _ in i["attachments"])
        assert {"pdf", "xlsx", "png", "txt", "ics"} <= set(kinds)
        senders = {i["from"] for i in inbox}
        assert any(s.endswith("@contoso.example") for s in senders)  # internal mail
        assert any(s.startswith("news@") for s in senders)  # newsletters
        assert any(not i["is_read"] for i in inbox) and any(i["is_read"] for i in inbox)
        # The customers can answer in the demo: Alex's mail reached their own Inbox.
        customer = next(i["to"][0] for i in sent if not i["to"][0].endswith("@contoso.example"))
        assert any(i["from"] == ALEX.email for i in mail.items(customer, "inbox"))


def test_demo_seed_is_deterministic() -> None:
    def snapshot() -> list[tuple[str, str, str]]:
        with MailSandbox(seed="demo") as mail:
            return sorted(
                (i["message_id"], i["subject"], i["datetime_received"])
                for folder in ("inbox", "sentitems")
                for i in mail.items(ALEX.email, folder)
            )

    assert snapshot() == snapshot()


def test_demo_mailboxes_match_the_sandbox_crm_contacts() -> None:
    from addin.sandbox.crm.seed import DEMO_COLLEAGUES, DEMO_CONTACTS

    addresses = {p.email for p in demo_mailboxes()}
    assert {c.email for c in DEMO_CONTACTS} <= addresses
    assert {c.email for c in DEMO_COLLEAGUES} <= addresses
    assert ALEX.email in addresses


def test_empty_seed_has_no_mailboxes() -> None:
    with MailSandbox(seed="empty") as mail:
        assert mail.mailboxes() == []
        mail.add_mailbox("solo@example.org", "pw", "Solo")
        assert mail.items("solo@example.org", "inbox") == []
        ids = mail.deliver_many(
            "solo@example.org", (f"Subject: bulk {n}\r\n\r\nbody\r\n".encode() for n in range(50))
        )
        assert len(set(ids)) == 50
        assert len(mail.items("solo@example.org", "inbox")) == 50


def test_data_survives_a_restart_without_reseeding(tmp_path: Path) -> None:
    with MailSandbox(data_dir=tmp_path, seed="demo") as mail:
        acct = account(mail)
        Message(
            account=acct, folder=acct.sent, subject="Kept", body="b", to_recipients=["megan@contoso.example"]
        ).send_and_save()
        count = len(mail.items(ALEX.email, "sentitems"))
    exchangelib.close_connections()
    with MailSandbox(data_dir=tmp_path, seed="demo") as again:
        assert len(again.items(ALEX.email, "sentitems")) == count
        assert any(i["subject"] == "Kept" for i in again.items(ALEX.email, "sentitems"))
        assert account(again).sent.filter(subject="Kept").count() == 1


def test_items_created_from_mime_and_uploaded(mail_sandbox: MailSandbox) -> None:
    acct = account(mail_sandbox)
    raw = (
        b"From: Alex Wilber <alex@contoso.example>\r\nTo: megan@contoso.example\r\n"
        b"Subject: Built elsewhere\r\nMessage-ID: <mime-1@contoso.example>\r\n"
        b"X-Crm-Activity-Id: act-42\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody text\r\n"
    )
    Message(account=acct, folder=acct.sent, mime_content=raw).send_and_save()
    copy = acct.sent.get(message_id="<mime-1@contoso.example>")
    assert copy.subject == "Built elsewhere"
    assert copy.mime_content == raw
    delivered = account(mail_sandbox, "megan@contoso.example").inbox.get(
        message_id="<mime-1@contoso.example>"
    )
    assert message_from_bytes(delivered.mime_content, policy=default)["X-Crm-Activity-Id"] == "act-42"

    uploaded = (
        b"From: someone@example.org\r\nSubject: Archived\r\nMessage-ID: <up-1@example.org>\r\n\r\nold\r\n"
    )
    # UploadItems data is opaque to clients (Exchange's export stream); the sandbox uses MIME.
    results = list(acct.upload([(acct.inbox, (None, False, base64.b64encode(uploaded).decode()))]))
    assert len(results) == 1 and not isinstance(results[0], Exception)
    stored = acct.inbox.get(message_id="<up-1@example.org>")
    assert stored.mime_content == uploaded
    stored.categories = ["Kept"]
    stored.save(update_fields=["categories"])
    exported = list(acct.export([stored]))
    # The export stream is opaque too: uploaded again it is the same message, categories and all.
    again = list(acct.upload([(acct.drafts, (None, False, exported[0]))]))
    copy = acct.drafts.get(id=again[0][0])
    assert copy.mime_content == uploaded
    assert copy.categories == ["Kept"]


def test_injected_latency_delays_every_answer() -> None:
    with MailSandbox(seed="demo", latency_ms=150) as mail:
        acct = account(mail)
        started = time.monotonic()
        _ = acct.inbox
        elapsed = time.monotonic() - started
        requests_made = mail.stats.snapshot()["requests"]
        assert elapsed >= 0.15 * requests_made
        mail.faults.update({"latency_ms": 0})
        assert mail.faults.latency_ms == 0


@pytest.fixture
def mail_sandbox() -> Iterator[MailSandbox]:
    with MailSandbox(seed="demo") as sandbox:
        yield sandbox
