"""Exactly once, in and out: crashes, two machines, lost responses, throttling and dropped connections."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from addin.bridge import Bridge, MemorySecrets
from addin.bridge_types import TrackOutcome
from addin.demo import DemoEnvironment, demo_profile, demo_secrets, start_demo
from addin.engine.outbox import CONFIRMED, DRAFT_SENT, RECOVERED, RESENT, OutboxSettings
from addin.errors import AuthError
from addin.mailbox.types import FolderKind
from addin.store import Store

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from flow_helpers import contact_addresses, crm_get, emails, mime, stamps

pytestmark = pytest.mark.integration
WORKER = Path(__file__).with_name("outbox_worker.py")


# Mail backends the outbox must be exactly once on (each against the same sandbox Exchange).
BACKENDS = ("ews", "graph")
# The request that sends a message, per backend (the sandbox's operation names).
SEND_OPERATION = {"ews": "CreateItem", "graph": "graph:SendDraft"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path, outbox_settings=OutboxSettings(grace=timedelta(seconds=0)))
    yield environment
    environment.close()


@pytest.fixture(params=BACKENDS)
def any_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(
        tmp_path, outbox_settings=OutboxSettings(grace=timedelta(seconds=0)), backend=request.param
    )
    yield environment
    environment.close()


def _second_bridge(env: DemoEnvironment, tmp_path: Path, name: str) -> Bridge:
    """Another machine of the same user: same mailbox and CRM, its own journal."""
    return Bridge(
        demo_profile(env.crm, env.mail, backend=env.backend),
        secrets=demo_secrets(env.backend),
        data_dir=tmp_path / name,
        outbox_settings=OutboxSettings(grace=timedelta(seconds=0)),
    )


def test_two_machines_send_each_email_once(any_env: DemoEnvironment, tmp_path: Path) -> None:
    env = any_env
    contacts = contact_addresses(env)
    queued = [
        env.crm.queue_email(contacts[i % len(contacts)], f"Two machines {i}", "<p>x</p>") for i in range(10)
    ]
    other = _second_bridge(env, tmp_path, "laptop")
    errors: list[BaseException] = []

    def run(bridge: Bridge) -> None:
        try:
            for _ in range(4):
                bridge._outbox_engine.poll()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (env.bridge, other, env.bridge)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    other.stop()
    assert not errors, errors
    copies = Counter(stamps(env))
    for activity_id in queued:
        assert copies[activity_id] == 1, f"{activity_id} has {copies[activity_id]} Sent Items copies"
        assert crm_get(env, f"emails({activity_id})?$select=statuscode")["statuscode"] == 3


def test_track_retried_after_a_lost_response_creates_one_activity(env: DemoEnvironment) -> None:
    inbox = env.bridge._mailbox.folder(FolderKind.INBOX)
    message = env.bridge.messages(inbox.id, limit=5).items[0]
    env.bridge._crm.context()  # who am I: fetched once and cached, so the next batches are the track's own
    # The look-up batch passes; the create batch is committed, then the connection drops.
    env.crm.faults.update({"fail_next": [{}, {"drop": "after"}], "match": "$batch"})
    [first] = env.bridge.track([message.id])
    assert first.outcome is TrackOutcome.QUEUED, first
    assert env.bridge.status().track_queue == 1
    env.crm.faults.clear()
    drained = env.bridge._tracker.drain_queue()
    assert [r.outcome for r in drained] == [TrackOutcome.ALREADY_TRACKED]
    assert env.bridge.status().track_queue == 0
    assert len(emails(env, f"subject eq '{message.subject.replace(chr(39), chr(39) * 2)}'")) == 1


def test_a_throttling_storm_loses_nothing(env: DemoEnvironment) -> None:
    inbox = env.bridge._mailbox.folder(FolderKind.INBOX)
    items = [m for m in env.bridge.messages(inbox.id, limit=30).items if not m.tracked][:12]
    env.crm.faults.update({"throttle": "3/1"})
    results = env.bridge.track([m.id for m in items])
    env.crm.faults.clear()
    for _ in range(3):
        if not env.bridge._store.queued_tracks():
            break
        for q in env.bridge._store.queued_tracks():
            env.bridge._store.defer_track(q.id, "", q.not_before - timedelta(days=1))
        env.bridge._tracker.drain_queue()
    assert env.bridge._store.queued_tracks() == []
    assert all(r.outcome in (TrackOutcome.TRACKED, TrackOutcome.QUEUED) for r in results), results
    subjects = Counter(e["subject"] for e in emails(env))
    for m in items:
        assert subjects[m.subject] >= 1
    mids = Counter(e["messageid"] for e in emails(env) if e.get("messageid"))
    assert all(n == 1 for n in mids.values()), "no message was tracked twice"


def test_a_dropped_connection_during_send_is_settled_from_sent_items(any_env: DemoEnvironment) -> None:
    env = any_env
    activity_id = env.crm.queue_email(contact_addresses(env)[0], "Dropped", "<p>x</p>")
    env.mail.faults.update({"fail_next": [{"drop": "after"}], "match": SEND_OPERATION[env.backend]})
    env.bridge._outbox_engine.poll()  # the copy is saved, but the answer never arrives
    env.mail.faults.clear()
    env.bridge._outbox_engine.poll()  # recovery finds the stamped copy instead of sending again
    assert Counter(stamps(env))[activity_id] == 1
    assert crm_get(env, f"emails({activity_id})?$select=statuscode")["statuscode"] == 3


def test_crm_outage_while_tracking_queues_durably_across_a_restart(
    env: DemoEnvironment, tmp_path: Path
) -> None:
    inbox = env.bridge._mailbox.folder(FolderKind.INBOX)
    message = env.bridge.messages(inbox.id, limit=5).items[1]
    env.crm.faults.update({"fail_next": [{"status": 503}] * 30})
    [result] = env.bridge.track([message.id])
    assert result.outcome is TrackOutcome.QUEUED
    env.crm.faults.clear()
    # "Restart": a new bridge on the same journal finds the request and finishes it.
    again = Bridge(
        demo_profile(env.crm, env.mail),
        secrets=MemorySecrets({"mailbox": "demo", "crm": "sandbox"}),
        data_dir=env.bridge.data_dir,
    )
    try:
        for q in again._store.queued_tracks():
            again._store.defer_track(q.id, "", q.not_before - timedelta(days=1))
        drained = again._tracker.drain_queue()
        assert [r.outcome for r in drained] == [TrackOutcome.TRACKED]
    finally:
        again.stop()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_at_random_moments_every_email_is_sent_exactly_once(tmp_path: Path, backend: str) -> None:
    """SIGKILL a sending bridge process 100 times while e-mails are queued; restart it each time."""
    _crash_rounds(tmp_path, backend, "prompt", int(os.environ.get("CRASH_ROUNDS", "100")))


# A slow mail server, both ways the sandbox transport can be slow.  These run fewer rounds
# (CRASH_LAG_ROUNDS, default 36 = 12 e-mails) to keep CI time reasonable: the risk they add is
# in recovery meeting a message still in Outbox, which every interrupted send of every round
# meets; more rounds repeat the same situations.
@pytest.mark.slow
@pytest.mark.parametrize("transport", ["delayed", "outage"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_while_the_mail_server_lags_every_email_is_delivered_exactly_once(
    tmp_path: Path, backend: str, transport: str
) -> None:
    """As above, with sent mail held in the sender's Outbox: a transport delay longer than the
    workers' grace period and stale-claim timeout, or an outage lasting many recovery cycles."""
    _crash_rounds(tmp_path, backend, transport, int(os.environ.get("CRASH_LAG_ROUNDS", "36")))


# The workers' grace is 1 s and their stale-claim timeout 2 s (outbox_worker.py): a 4 s
# transport delay outlasts both, as a slow Exchange outlasts the 60 s / 10 min defaults.
TRANSPORT_DELAY_SECONDS = 4.0


def _crash_rounds(tmp_path: Path, backend: str, transport: str, rounds: int) -> None:
    """Kill bridge processes at random moments; two machines (journals) take turns, so stale
    claims of the other machine meet recovery too.  Then count deliveries, not only copies."""
    env = start_demo(tmp_path / "sandboxes", backend=backend)
    rng = random.Random(20261127)
    # Recipients with mailboxes on the sandbox Exchange, so every delivered copy is counted.
    recipients = contact_addresses(env)[:4]
    for address in recipients:
        env.mail.add_mailbox(address, "recipient-pw")
    if transport == "delayed":
        env.mail.faults.update({"transport_delay_seconds": TRANSPORT_DELAY_SECONDS})
    elif transport == "outage":
        env.mail.faults.update({"transport_outage": True})
    queued: dict[str, str] = {}  # activity id -> subject
    machines = [tmp_path / "desktop", tmp_path / "laptop"]
    mailbox_url = env.mail.graph_url if backend == "graph" else env.mail.ews_url
    child_env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

    def worker(data_dir: Path) -> subprocess.Popen[bytes]:
        command = [sys.executable, str(WORKER), env.crm.origin, mailbox_url, str(data_dir), backend]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env)

    try:
        for round_no in range(rounds):
            if round_no % 3 == 0:
                subject = f"Crash round {round_no:03d}"
                activity_id = env.crm.queue_email(recipients[round_no % len(recipients)], subject, "<p>x</p>")
                queued[activity_id] = subject
                if transport != "prompt" and round_no % 12 == 0:
                    # Besides the random kills: this e-mail's send is accepted (held in Outbox)
                    # but its answer is lost, so recovery surely meets a message in transport.
                    env.mail.faults.update(
                        {"fail_next": [{"drop": "after"}], "match": SEND_OPERATION[backend]}
                    )
            if transport == "outage" and round_no == rounds * 2 // 3:
                # The outage ends after many recovery cycles of both machines (each poll recovers).
                assert env.mail.app.transport.waiting() > 0, "the outage held nothing back"
                env.mail.faults.update({"transport_outage": False})
            proc = worker(machines[(round_no // 2) % 2])
            assert proc.stdout is not None
            proc.stdout.readline()  # "ready": the bridge is up; now kill it at a random moment
            time.sleep(rng.uniform(0.0, 0.25))
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            # The sandbox finishes what the killed worker had already sent before the next worker
            # looks (a real server within the product's 60 s grace; the workers' grace is 1 s).
            assert env.mail.server.open_connections.wait_none(30), "a killed worker's request hangs"
        # Both machines run on, allowed to finish: everything must settle.
        env.mail.faults.update({"transport_outage": False})
        finals = [worker(m) for m in machines]
        deadline = time.monotonic() + 180
        try:
            while time.monotonic() < deadline:
                states = [crm_get(env, f"emails({a})?$select=statuscode")["statuscode"] for a in queued]
                # Settled means the CRM says Sent, the transport holds nothing, *and* each journal has
                # finished its sends (the CRM is marked just before "done" and its audit row).
                if (
                    all(s == 3 for s in states)
                    and env.mail.app.transport.waiting() == 0
                    and not any(_unfinished(m) for m in machines)
                ):
                    break
                time.sleep(0.5)
        finally:
            for proc in finals:
                proc.send_signal(signal.SIGTERM)
                proc.kill()
                proc.wait(30)
        copies = Counter(stamps(env))
        problems = {a: copies[a] for a in queued if copies[a] != 1}
        assert not problems, f"e-mails without exactly one Sent Items copy: {problems}"
        for a in queued:
            assert crm_get(env, f"emails({a})?$select=statuscode")["statuscode"] == 3
        # What a recipient sees: each e-mail delivered once -- 0 duplicates, 0 lost.
        inboxes = [str(i["subject"]) for c in recipients for i in _safe_items(env, c)]
        delivered = {subject: sum(1 for s in inboxes if s.startswith(subject)) for subject in queued.values()}
        assert all(n == 1 for n in delivered.values()), f"deliveries per e-mail: {delivered}"
        # The kills must have landed inside the protocol, not only between e-mails: some
        # e-mails were settled by the recovery paths (journal or stale claim).
        recovered = []
        sent_rows: Counter[str] = Counter()
        for data_dir in machines:
            if (data_dir / "journal.sqlite3").exists():
                journal = Store(data_dir / "journal.sqlite3")
                entries = journal.recent_audit(1000)
                journal.close()
                recovered += [
                    e
                    for e in entries
                    if e.detail in (RECOVERED, RESENT, DRAFT_SENT, CONFIRMED) or e.action == "send_released"
                ]
                # The audit log is as truthful as the mailbox: a machine's log says "sent" at most
                # once per e-mail, written in the same transaction as the journal state, whatever
                # moment the kill hit.
                mine = Counter(e.activity_id for e in entries if e.action == "sent")
                twice = {a: n for a, n in mine.items() if n > 1}
                assert not twice, f"{data_dir.name}: e-mails with more than one audit row: {twice}"
                sent_rows.update(mine)
        unlogged = [a for a in queued if sent_rows[a] == 0]
        assert not unlogged, f"sent e-mails no machine's audit log records: {unlogged}"
        assert recovered, "no kill interrupted a send; the test did not exercise recovery"
    finally:
        env.close()


def _unfinished(data_dir: Path) -> int:
    """Sends the worker's journal has not finished yet (read beside the running worker)."""
    if not (data_dir / "journal.sqlite3").exists():
        return 0
    journal = Store(data_dir / "journal.sqlite3")
    try:
        return len(journal.outbox_in_states("sending", "submitting", "sent"))
    finally:
        journal.close()


def _safe_items(env: DemoEnvironment, address: str) -> list[dict[str, object]]:
    try:
        return env.mail.items(address, "inbox")
    except KeyError:
        return []


def test_no_secret_reaches_any_file_the_bridge_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from addin.logging_setup import setup_logging

    password = "Planted-Pa55word-7f3c9e"
    env = start_demo(tmp_path / "sandboxes")
    try:
        env.mail.add_mailbox("sam@contoso.example", password, "Sam")
        log_dir = tmp_path / "logs"
        setup_logging(logging.DEBUG, log_dir=log_dir)
        profile = demo_profile(env.crm, env.mail)
        profile.update({"mailbox.email": "sam@contoso.example"})
        bridge = Bridge(
            profile, secrets=MemorySecrets({"mailbox": password, "crm": "sandbox"}), data_dir=tmp_path / "sam"
        )
        inbox = bridge._mailbox.folder(FolderKind.INBOX)
        env.mail.deliver(
            "sam@contoso.example", mime(contact_addresses(env)[0], "For Sam", to="sam@contoso.example")
        )
        bridge.track([m.id for m in bridge.messages(inbox.id).items])
        bridge.set_secret("mailbox", password + "-wrong")
        with pytest.raises(Exception) as info:
            bridge.folders()
        assert password not in str(info.value)
        bridge.stop()
        # A CRM token the server refuses: the failure path is where a token would leak.
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.planted-token-5b7e"
        refused = Bridge(
            demo_profile(env.crm, env.mail),
            secrets=MemorySecrets({"mailbox": "demo", "crm": token}),
            data_dir=tmp_path / "refused",
        )
        with pytest.raises(AuthError) as denied:
            refused.track(
                [m.id for m in refused.messages(refused._mailbox.folder(FolderKind.INBOX).id).items][:2]
            )
        assert token not in str(denied.value) and token not in denied.value.title
        refused.stop()
        logging.getLogger("addin").error("about to fail with %s and %s", password, token)
        for path in [*tmp_path.rglob("*")]:
            if path.is_file() and "sandboxes" not in path.parts:
                content = path.read_bytes()
                assert password.encode() not in content, f"the password leaked into {path}"
                assert token.encode() not in content, f"the token leaked into {path}"
        log_text = (log_dir / "crm-bridge.log").read_text()
        assert "about to fail with" in log_text, "the log file was written, and masked"
    finally:
        env.close()
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "baseFilename", "").startswith(str(tmp_path)):
                logging.getLogger().removeHandler(handler)
                handler.close()
