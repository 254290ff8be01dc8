"""Both flows and the exactly-once rules on the IMAP + SMTP backend, against a real Dovecot
(IMAP, LMTP) and an SMTP submission server that delivers into it.

Sent mail is counted where it really lands: the recipients' Maildirs on disk.  SMTP
cannot say whether a message whose DATA answer was lost left (RFC 1047), so the rule
checked here is: never a second copy; without evidence the e-mail becomes Failed with
a reason the user can act on.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from addin.bridge_types import TrackOutcome
from addin.crm import records as r
from addin.demo_imap import USER, ImapDemo, customer_message, start_imap_demo
from addin.engine.outbox import UNKNOWN_SENT, OutboxSettings
from addin.errors import ThrottledError
from addin.mailbox.types import TRACKED_CATEGORY, FolderKind
from addin.sandbox.dovecot import INSTALL_HINT, dovecot_binary

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from flow_helpers import contact_addresses, crm_get, emails

pytestmark = pytest.mark.integration
WORKER = Path(__file__).with_name("imap_outbox_worker.py")


def _require_dovecot() -> None:
    if dovecot_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[ImapDemo]:
    _require_dovecot()
    environment = start_imap_demo(tmp_path, outbox_settings=OutboxSettings(grace=timedelta(seconds=0)))
    yield environment
    environment.close()


def _status(env: ImapDemo, activity_id: str) -> int:
    return int(crm_get(env, f"emails({activity_id})?$select=statuscode")["statuscode"])


def _delivered(env: ImapDemo, address: str, subject: str) -> int:
    # The CRM may append its tracking token to the subject: match the start.
    pattern = re.compile(rb"^Subject: " + re.escape(subject.encode()) + rb"(?:\s|$)", re.MULTILINE)
    return sum(1 for path in env.dovecot.maildir_files(address) if pattern.search(path.read_bytes()))


def _sent_copies(env: ImapDemo, activity_id: str) -> int:
    mailbox = env.bridge._mailbox
    return len(mailbox.find_by_stamp(mailbox.folder(FolderKind.SENT).id, activity_id))


def test_tracking_a_message_creates_one_activity_and_marks_it_on_the_server(env: ImapDemo) -> None:
    sender = contact_addresses(env)[0]
    env.dovecot.lmtp_deliver(sender, [USER], customer_message(sender, "Order over IMAP", "Ten units"))
    inbox = env.bridge._mailbox.folder(FolderKind.INBOX)
    [message] = env.bridge.messages(inbox.id).items
    [result] = env.bridge.track([message.id])
    assert result.outcome is TrackOutcome.TRACKED, result.message
    row = crm_get(env, f"emails({result.activity_id})?$select=subject,statuscode,directioncode")
    assert row["subject"] == "Order over IMAP" and row["directioncode"] is False
    # The mark is on the server, where any other machine or mail client sees it.
    fresh = start_imap_demo_mailbox(env)
    (copy,) = fresh.fetch([message.id], with_attachments=False)
    assert TRACKED_CATEGORY in copy.categories and copy.stamp == result.activity_id
    fresh.close()
    [again] = env.bridge.track([message.id])
    assert again.outcome is TrackOutcome.ALREADY_TRACKED
    assert len(emails(env, "subject eq 'Order over IMAP'")) == 1


def start_imap_demo_mailbox(env: ImapDemo):
    from addin.mailbox.registry import open_mailbox

    return open_mailbox(
        env.bridge.profile.mailbox_settings(), lambda: env.bridge.secrets.get("mailbox") or ""
    )


def test_outbox_sends_each_email_once_with_a_copy_in_sent(env: ImapDemo) -> None:
    contacts = contact_addresses(env)
    queued = [env.crm.queue_email(contacts[i], f"IMAP quote {i}", f"<p>Quote {i}</p>") for i in range(3)]
    env.bridge._outbox_engine.poll()
    env.bridge._outbox_engine.poll()  # a second poll sends nothing more
    for i, activity_id in enumerate(queued):
        assert _status(env, activity_id) == r.STATUS_SENT
        assert _delivered(env, contacts[i], f"IMAP quote {i}") == 1
        assert _sent_copies(env, activity_id) == 1


def test_a_lost_data_answer_never_sends_twice_and_fails_with_a_reason(env: ImapDemo) -> None:
    contact = contact_addresses(env)[0]
    activity_id = env.crm.queue_email(contact, "Lost answer", "<p>x</p>")
    env.smtp.drop_after_data = 1  # delivered, but the "250" never reaches the bridge
    env.bridge._outbox_engine.poll()
    assert _delivered(env, contact, "Lost answer") == 1
    for _ in range(3):
        env.bridge._outbox_engine.poll()
    assert _delivered(env, contact, "Lost answer") == 1, "sent again without evidence"
    assert _status(env, activity_id) == r.STATUS_FAILED
    [item] = [i for i in env.bridge.outbox() if i.activity_id == activity_id]
    assert item.reason == UNKNOWN_SENT


def test_a_definite_refusal_is_sent_later_exactly_once(env: ImapDemo) -> None:
    contact = contact_addresses(env)[1]
    activity_id = env.crm.queue_email(contact, "Refused once", "<p>x</p>")
    env.smtp.refuse_next = 1  # "451 try again later": nothing left
    # The server asks to be left alone: the poll stops there (the scheduler backs off) and the
    # e-mail goes back to Pending Send, since nothing left.
    with pytest.raises(ThrottledError):
        env.bridge._outbox_engine.poll()
    assert _delivered(env, contact, "Refused once") == 0
    assert _status(env, activity_id) == r.STATUS_PENDING_SEND
    env.bridge._outbox_engine.poll()
    assert _delivered(env, contact, "Refused once") == 1
    assert _status(env, activity_id) == r.STATUS_SENT
    assert _sent_copies(env, activity_id) == 1


def _run_worker(env: ImapDemo, data_dir: Path, kill_point: str = "") -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        str(WORKER),
        env.crm.origin,
        env.dovecot.url,
        env.smtp.url,
        str(data_dir),
        kill_point,
    ]
    child_env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env)


def _settle(env: ImapDemo, proc: subprocess.Popen[bytes], queued: list[str]) -> None:
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if all(_status(env, a) in (r.STATUS_SENT, r.STATUS_FAILED) for a in queued):
                return
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait(30)


@pytest.mark.parametrize(
    ("kill_point", "expected"), [("after-submit", r.STATUS_FAILED), ("after-copy", r.STATUS_SENT)]
)
def test_killed_between_the_smtp_answer_and_the_journal(
    env: ImapDemo, tmp_path: Path, kill_point: str, expected: int
) -> None:
    contact = contact_addresses(env)[2]
    subject = f"Killed {kill_point}"
    activity_id = env.crm.queue_email(contact, subject, "<p>x</p>")
    data_dir = tmp_path / "worker"
    proc = _run_worker(env, data_dir, kill_point)
    assert proc.wait(60) == -signal.SIGKILL
    assert _delivered(env, contact, subject) == 1
    _settle(env, _run_worker(env, data_dir), [activity_id])
    assert _status(env, activity_id) == expected
    assert _delivered(env, contact, subject) == 1, "never a second copy"
    assert _sent_copies(env, activity_id) == (1 if expected == r.STATUS_SENT else 0)


@pytest.mark.slow
def test_killed_at_random_moments_no_email_is_ever_sent_twice(env: ImapDemo, tmp_path: Path) -> None:
    rounds = int(os.environ.get("IMAP_CRASH_ROUNDS", "40"))
    rng = random.Random(20261201)
    contacts = contact_addresses(env)
    queued: list[tuple[str, str, str]] = []
    data_dir = tmp_path / "bridge-under-test"
    for round_no in range(rounds):
        if round_no % 2 == 0:
            contact = contacts[round_no % len(contacts)]
            subject = f"Crash round {round_no}"
            queued.append((env.crm.queue_email(contact, subject, "<p>x</p>"), contact, subject))
        proc = _run_worker(env, data_dir)
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    _settle(env, _run_worker(env, data_dir), [a for a, _, _ in queued])
    outcomes = {}
    for activity_id, contact, subject in queued:
        status = _status(env, activity_id)
        copies = _delivered(env, contact, subject)
        outcomes[subject] = (status, copies)
        assert copies <= 1, f"{subject} was delivered {copies} times"
        if status == r.STATUS_SENT:
            assert copies == 1, f"{subject} is marked Sent but was not delivered"
        else:
            assert status == r.STATUS_FAILED, outcomes
    print("IMAP crash outcomes (status, delivered copies):", Counter(outcomes.values()))
    assert any(s == r.STATUS_SENT for s, _ in outcomes.values()), outcomes


def test_the_imap_demo_walkthrough_counts_no_duplicate_and_nothing_lost(env: ImapDemo) -> None:
    from addin.demo_imap import walkthrough

    report = walkthrough(env)
    assert report["ok"], report
    assert report["duplicates"] == 0 and report["lost"] == 0
    assert report["sent"] == report["delivered"] == report["sent_folder_copies"] == 3


def test_with_a_hidden_copy_to_myself_a_lost_answer_is_settled_as_sent(env: ImapDemo) -> None:
    assert not env.bridge._mailbox.missing_copy_means_unsent()
    env.bridge.update_settings({"sending.bcc_self": True})  # on a running bridge
    assert env.bridge._mailbox.missing_copy_means_unsent()
    contact = contact_addresses(env)[3]
    first = env.crm.queue_email(contact, "Hidden copy one", "<p>x</p>")
    env.bridge._outbox_engine.poll()  # sent normally: own copy filed in Sent
    assert _status(env, first) == r.STATUS_SENT
    lost = env.crm.queue_email(contact, "Hidden copy two", "<p>x</p>")
    env.smtp.drop_after_data = 1  # left, but the answer is lost
    env.bridge._outbox_engine.poll()
    env.bridge._outbox_engine.poll()  # the hidden copy that came back proves it left
    assert _status(env, lost) == r.STATUS_SENT
    for activity_id, subject in ((first, "Hidden copy one"), (lost, "Hidden copy two")):
        assert _delivered(env, contact, subject) == 1
        assert _sent_copies(env, activity_id) == 1
    inbox = env.bridge._mailbox.folder(FolderKind.INBOX)
    assert env.bridge._mailbox.list_messages(inbox.id, text="Hidden copy").items == (), (
        "hidden copies do not stay in the Inbox"
    )


def test_two_machines_send_each_email_once(env: ImapDemo, tmp_path: Path) -> None:
    from addin.bridge import Bridge, MemorySecrets
    from addin.demo_imap import IMAP_PASSWORD, imap_profile

    contacts = contact_addresses(env)
    queued = [
        (env.crm.queue_email(contacts[i % len(contacts)], f"Two machines {i}", "<p>x</p>"), i)
        for i in range(8)
    ]
    laptop = Bridge(
        imap_profile(env.crm.origin, env.dovecot.url, env.smtp.url),
        secrets=MemorySecrets({"mailbox": IMAP_PASSWORD, "crm": "sandbox"}),
        data_dir=tmp_path / "laptop",
        outbox_settings=OutboxSettings(grace=timedelta(seconds=0)),
    )
    errors: list[BaseException] = []

    def run(bridge: Any) -> None:
        try:
            for _ in range(3):
                bridge._outbox_engine.poll()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (env.bridge, laptop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    laptop.stop()
    assert not errors, errors
    for activity_id, i in queued:
        assert _delivered(env, contacts[i % len(contacts)], f"Two machines {i}") == 1
        assert _status(env, activity_id) == r.STATUS_SENT
        assert _sent_copies(env, activity_id) == 1
