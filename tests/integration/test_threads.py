"""The facade under the tray's load: its worker pool calls Track, search, the outbox list and
the status while the engine thread polls, sends and auto-tracks, and the watcher thread
listens — all on one Bridge, its one CRM client and its one mailbox, against the sandboxes
over real HTTP (EWS, Graph) and a real Dovecot (IMAP + SMTP).

Run under ``faulthandler``: a deadlock dumps every thread's stack and ends the run instead of
hanging it.  Nothing here measures time; the assertions are about results.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any, cast

import pytest
from flow_helpers import USER, contact_addresses, crm_get, emails, mime, stamps

from addin.bridge import Bridge
from addin.bridge_types import MailItem, Status, TrackOutcome
from addin.demo import start_demo
from addin.demo_imap import start_imap_demo
from addin.engine.outbox import OutboxSettings
from addin.mailbox.imap_codec import STAMP_HEADER
from addin.mailbox.types import FolderKind
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.dovecot import INSTALL_HINT, DovecotServer, dovecot_binary
from addin.state import BridgeState

pytestmark = pytest.mark.integration

WORKERS = 8  # ui/tasks.py's pool size
ROUNDS = 4
WATCHDOG = 240.0  # seconds; only a hang gets near it
WAIT = 90.0


@dataclass
class Rig:
    """One Bridge on the sandboxes, whichever mail server: what the test needs of each."""

    bridge: Bridge
    crm: CrmSandbox  # what the flow helpers read the CRM through
    deliver: Callable[[bytes], None]
    sent_stamps: Callable[[], list[str]]


def _imap_stamps(dovecot: DovecotServer) -> list[str]:
    found = []
    for path in dovecot.maildir_files(USER, "Sent"):
        stamp = BytesParser(policy=default).parsebytes(path.read_bytes(), headersonly=True)[STAMP_HEADER]
        if stamp:
            found.append(str(stamp))
    return found


@pytest.fixture(params=["ews", "graph", "imap"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    settings = OutboxSettings(grace=timedelta(seconds=0))
    if request.param == "imap":
        if dovecot_binary() is None:
            if os.environ.get("CI") == "true":
                pytest.fail(INSTALL_HINT)
            pytest.skip(INSTALL_HINT)
        imap = start_imap_demo(tmp_path, outbox_settings=settings)
        contacts = contact_addresses(cast(Any, imap))
        for i in range(WORKERS + 2):
            imap.dovecot.lmtp_deliver(contacts[0], [USER], mime(contacts[i % len(contacts)], f"Customer {i}"))
        yield Rig(
            imap.bridge,
            imap.crm,
            lambda data: imap.dovecot.lmtp_deliver("customer@fabrikam.example", [USER], data),
            lambda: _imap_stamps(imap.dovecot),
        )
        imap.close()
        return
    env = start_demo(tmp_path, backend=request.param, outbox_settings=settings)
    yield Rig(env.bridge, env.crm, lambda data: env.mail.deliver(USER, data), lambda: stamps(env))
    env.close()


@pytest.fixture
def watchdog() -> Iterator[None]:
    faulthandler.enable(file=sys.__stderr__, all_threads=True)
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_the_ui_pool_and_the_engine_share_one_bridge_safely(
    rig: Rig, watchdog: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="addin")
    bridge = rig.bridge
    env = cast(Any, rig)  # the flow helpers read the CRM through .crm
    contacts = contact_addresses(env)
    bridge.start()
    _until(lambda: bridge.status().last_synced is not None, "the engine's first sync")
    profile = bridge.status().profile

    inbox = next(f for f in bridge.folders() if f.kind is FolderKind.INBOX)
    untracked = [m for m in bridge.messages(inbox.id, limit=100).items if not m.tracked and not m.private]
    targets = untracked[:WORKERS]
    assert len(targets) == WORKERS, "the demo inbox has enough untracked mail"
    # Work for the engine thread while the pool runs: e-mails to send, mail to auto-track.
    queued = [rig.crm.queue_email(contacts[i % len(contacts)], f"Hammer {i}", "<p>q</p>") for i in range(4)]
    arriving = [f"Arrived {i}" for i in range(3)]

    tracked: dict[str, list[Any]] = defaultdict(list)
    searches: list[tuple[str, ...]] = []
    statuses: list[Status] = []
    listed: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(WORKERS)

    def ui_worker(n: int) -> None:
        barrier.wait()  # every worker starts at once
        for round_ in range(ROUNDS):
            # Two workers track the same message in each round: the CRM gets one activity.
            target: MailItem = targets[(n + round_) % WORKERS]
            results = bridge.track([target.id])
            found = bridge.search_records("a", limit=10)
            status = bridge.status()
            outbox = bridge.outbox()
            page = bridge.messages(inbox.id, limit=20)
            bridge.issues()
            bridge.recent_activity(limit=20)
            if n == 0:
                bridge.sync_now()  # the tray's "Sync now" wakes the engine mid-flight
                rig.deliver(mime(contacts[round_ % len(contacts)], arriving[round_ % 3]))
            with lock:
                tracked[target.id] += results
                searches.append(tuple(sorted(r.id for r in found)))
                statuses.append(status)
                listed.append(len(outbox) + len(page.items))

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="ui-pool") as pool:
        for future in [pool.submit(ui_worker, n) for n in range(WORKERS)]:
            future.result()  # any error in a worker fails here, with its traceback

    # Every Track call answered for its message, and each message has one activity.
    assert set(tracked) == {t.id for t in targets}
    for target in targets:
        results = tracked[target.id]
        assert all(r.outcome in (TrackOutcome.TRACKED, TrackOutcome.ALREADY_TRACKED) for r in results), [
            (r.outcome, r.message) for r in results
        ]
        assert len({r.activity_id for r in results}) == 1, "one activity per message, whoever asked"
        assert sum(r.outcome is TrackOutcome.TRACKED for r in results) <= 1
        assert len(emails(env, f"messageid eq '{target.message_id}'")) == 1
    # The same search gave the same answer on every thread.
    assert len(set(searches)) == 1 and searches[0]
    assert {s.profile for s in statuses} == {profile}
    assert [s.detail for s in statuses if s.state is BridgeState.ERROR] == []
    assert len(listed) == WORKERS * ROUNDS

    # The engine kept working meanwhile: it sends each queued e-mail once and auto-tracks arrivals.
    _until(
        lambda: all(crm_get(env, f"emails({a})?$select=statuscode")["statuscode"] == 3 for a in queued),
        "the engine to send the queued e-mails",
    )
    copies = Counter(rig.sent_stamps())
    assert all(copies[a] == 1 for a in queued), "each queued e-mail has exactly one Sent Items copy"
    bridge.sync_now()
    _until(lambda: {e["subject"] for e in emails(env)} >= set(arriving), "the engine to auto-track new mail")
    assert all(len(emails(env, f"subject eq '{s}'")) >= 1 for s in arriving)
    assert bridge.status().state is not BridgeState.ERROR, bridge.status().detail
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
