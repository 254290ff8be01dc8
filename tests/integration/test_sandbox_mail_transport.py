"""The sandbox Exchange's transport: one queue for EWS and Graph sends that can lag and fail.

Driven by the real clients (unmodified exchangelib; requests for Graph) over loopback HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, FailFast, Mailbox, Message
from sandbox_graph_helpers import ALEX_TOKEN, VERSION, Graph, ews_account, running_sandbox, session_for

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX, PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def graph(mail: MailSandbox) -> Iterator[Graph]:
    with session_for(ALEX_TOKEN) as session:
        yield Graph(mail, session)


def _peer(mail: MailSandbox) -> str:
    return next(m for m in mail.mailboxes() if m != ALEX.email)


def _subjects(mail: MailSandbox, address: str, folder: str) -> list[str]:
    return [str(i["subject"]) for i in mail.items(address, folder)]


def _arrival_order(mail: MailSandbox, address: str) -> list[str]:
    """Subjects of the inbox's items in the order they were created there."""
    inbox = mail.store.distinguished(address, "inbox")
    assert inbox is not None
    subjects = {str(i["id"]): str(i["subject"]) for i in mail.items(address, "inbox")}
    return [
        subjects[item_id]
        for _, item_id, kind in mail.store.changes_since(inbox.id, 0)
        if kind == "create" and item_id in subjects
    ]


def _send_ews(mail: MailSandbox, to: str, subject: str) -> None:
    account = ews_account(mail)
    Message(
        account=account,
        folder=account.sent,
        subject=subject,
        body="x",
        to_recipients=[Mailbox(email_address=to)],
    ).send_and_save()


def _send_graph(graph: Graph, to: str, subject: str) -> None:
    body = {
        "subject": subject,
        "body": {"contentType": "text", "content": "x"},
        "toRecipients": [{"emailAddress": {"address": to}}],
    }
    draft = graph.post("/me/messages", body)
    assert draft.status_code == 201, draft.text
    sent = graph.post(f"/me/messages/{draft.json()['id']}/send")
    assert sent.status_code == 202, sent.text


def _wait(check: object, timeout: float = 30.0) -> None:
    """Wait for the transport's worker thread (a deadline only against a hang; no timing asserted)."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the transport never drained"
        time.sleep(0.05)


def test_an_outage_holds_ews_and_graph_sends_in_outbox_then_drains_them_in_order(
    mail: MailSandbox, graph: Graph
) -> None:
    peer = _peer(mail)
    mail.faults.update({"transport_outage": True})
    order = ["Queue 1 (EWS)", "Queue 2 (Graph)", "Queue 3 (EWS)", "Queue 4 (Graph)"]
    for subject in order:
        if "EWS" in subject:
            _send_ews(mail, peer, subject)
        else:
            _send_graph(graph, peer, subject)
    # Held: in Alex's Outbox, seen through both protocols; not delivered, no Sent Items copy.
    account = ews_account(mail)
    assert sorted(m.subject for m in account.outbox.all()) == sorted(order)
    listed = graph.get("/me/mailFolders/outbox/messages?$select=subject,isDraft").json()["value"]
    assert sorted(m["subject"] for m in listed) == sorted(order)
    assert all(m["isDraft"] is False for m in listed)
    assert not any(s.startswith("Queue") for s in _subjects(mail, ALEX.email, "sentitems"))
    assert not any(s.startswith("Queue") for s in _subjects(mail, peer, "inbox"))
    assert mail.app.transport.waiting() == 4
    # A held Graph message is no longer a draft: it cannot be sent a second time.
    held = next(m for m in listed if "Graph" in m["subject"])
    assert graph.post(f"/me/messages/{held['id']}/send").status_code == 400

    mail.faults.update({"transport_outage": False})
    _wait(lambda: mail.app.transport.waiting() == 0)
    assert _subjects(mail, ALEX.email, "outbox") == []
    assert sorted(s for s in _subjects(mail, ALEX.email, "sentitems") if s.startswith("Queue")) == order
    assert _arrival_order(mail, peer)[-4:] == order, "the queue drains in the order it was sent"
    # The Graph copy keeps the draft's immutable id, now in Sent Items.
    sent_id = graph.get("/me/mailFolders/sentitems").json()["id"]
    assert graph.get(f"/me/messages/{held['id']}").json()["parentFolderId"] == sent_id


def test_a_transport_delay_holds_each_send_in_outbox_then_delivers_it_once(mail: MailSandbox) -> None:
    peer = _peer(mail)
    mail.faults.update({"transport_delay_seconds": 0.5})
    _send_ews(mail, peer, "Delayed once")
    _wait(lambda: "Delayed once" in _subjects(mail, peer, "inbox"))
    assert _subjects(mail, peer, "inbox").count("Delayed once") == 1
    assert _subjects(mail, ALEX.email, "sentitems").count("Delayed once") == 1
    assert "Delayed once" not in _subjects(mail, ALEX.email, "outbox")


def test_a_message_deleted_from_outbox_while_held_is_never_sent(mail: MailSandbox) -> None:
    peer = _peer(mail)
    mail.faults.update({"transport_outage": True})
    _send_ews(mail, peer, "Cancelled")
    account = ews_account(mail)
    [held] = list(account.outbox.filter(subject="Cancelled"))
    held.delete()
    mail.faults.update({"transport_outage": False})
    _wait(lambda: mail.app.transport.waiting() == 0)
    assert "Cancelled" not in _subjects(mail, peer, "inbox")
    assert "Cancelled" not in _subjects(mail, ALEX.email, "sentitems")


def test_the_older_graph_knob_name_sets_the_same_delay(mail: MailSandbox) -> None:
    response = requests.post(
        f"{mail.origin}/_sandbox/faults", json={"sent_copy_delay_seconds": 2.5}, timeout=10
    )
    assert response.ok
    assert mail.faults.transport_delay_seconds == 2.5


def test_the_command_line_starts_the_transport_held_and_the_fault_switch_releases_it() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "addin", "sandbox", "mail", "--transport-delay", "0.2", "--transport-outage"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ews_url = proc.stdout.readline().strip()
        origin = ews_url.split("/EWS/")[0]
        config = Configuration(
            service_endpoint=ews_url,
            credentials=Credentials(ALEX.email, PASSWORD),
            auth_type=BASIC,
            version=VERSION,
            retry_policy=FailFast(),
        )
        account = Account(ALEX.email, config=config, autodiscover=False, access_type=DELEGATE)
        Message(
            account=account,
            folder=account.sent,
            subject="From the command line",
            body="x",
            to_recipients=[Mailbox(email_address=ALEX.email)],
        ).send_and_save()
        assert [m.subject for m in account.outbox.all()] == ["From the command line"]
        assert requests.post(f"{origin}/_sandbox/faults", json={"transport_outage": False}, timeout=10).ok
        _wait(lambda: account.outbox.all().count() == 0)
        assert account.sent.filter(subject="From the command line").count() == 1
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.parametrize("held", [False, True], ids=["prompt", "held"])
def test_one_draft_sent_by_two_requests_at_once_is_delivered_once(
    mail: MailSandbox, graph: Graph, held: bool
) -> None:
    """Two machines settling one claim may send the same draft at the same moment: one send."""
    import threading

    peer = _peer(mail)
    if held:
        mail.faults.update({"transport_delay_seconds": 0.2})
    subjects = [f"Raced {n}" for n in range(8)]
    for subject in subjects:
        body = {"subject": subject, "toRecipients": [{"emailAddress": {"address": peer}}]}
        draft_id = graph.post("/me/messages", body).json()["id"]
        answers: list[int] = []
        start = threading.Barrier(2)

        def send(
            draft: str = draft_id, start: threading.Barrier = start, answers: list[int] = answers
        ) -> None:
            with session_for(ALEX_TOKEN) as session:
                start.wait()
                answers.append(
                    session.post(f"{mail.graph_url}/me/messages/{draft}/send", timeout=30).status_code
                )

        threads = [threading.Thread(target=send) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(answers) in ([202, 400], [202, 202]), answers
    _wait(lambda: mail.app.transport.waiting() == 0)
    inbox = _subjects(mail, peer, "inbox")
    assert {s: inbox.count(s) for s in subjects} == dict.fromkeys(subjects, 1)
    sent = _subjects(mail, ALEX.email, "sentitems")
    assert {s: sent.count(s) for s in subjects} == dict.fromkeys(subjects, 1)
