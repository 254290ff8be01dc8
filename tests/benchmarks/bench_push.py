"""Category -> tracked: "Track in CRM" set by another mail client on its own connection, timed
until the e-mail exists in the CRM, with the bridge's engine running (its poll at the product's
default interval, so what is measured is the push: EWS streaming notifications, Graph's short
delta watch, IMAP IDLE on Dovecot).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from addin.bridge import Bridge
from addin.demo import DEMO_PASSWORD, USER, crm_rows
from addin.mailbox.graph_sync import WATCH_INTERVAL
from addin.mailbox.port import Mailbox
from addin.mailbox.registry import open_mailbox
from addin.mailbox.types import TRACK_REQUEST_CATEGORY, FolderKind, MailboxSettings
from addin.sandbox.crm import CrmSandbox
from addin.settings_schema import BY_KEY
from tests.benchmarks.bench_outbox import start_env
from tests.benchmarks.bench_stats import percentile

log = logging.getLogger(__name__)
TIMEOUT = 90.0  # longer than the default mailbox poll: a missed push shows as a long wait
BACKENDS = ("ews", "graph", "imap")


def _address(sender: str) -> str:
    return sender.rpartition("<")[2].rstrip(">").strip().lower()


def _measure(
    bridge: Bridge,
    other: Mailbox,
    crm: CrmSandbox,
    samples: int,
    gap: Callable[[], float],
    watching: Callable[[], bool] = lambda: True,
) -> list[float]:
    contacts = {
        str(r["emailaddress1"]).lower()
        for r in crm_rows(crm, "contacts?$select=emailaddress1")
        if r.get("emailaddress1")
    }
    inbox = bridge._mailbox.folder(FolderKind.INBOX)
    candidates = [
        m
        for m in bridge.messages(inbox.id, limit=200).items
        if not m.tracked and not m.private and _address(m.sender) in contacts
    ][:samples]
    if len(candidates) < samples:
        raise RuntimeError(f"only {len(candidates)} untracked messages from contacts to sample")
    bridge._autotrack.run_once()  # the first sync establishes "now"
    bridge.start()
    deadline = time.monotonic() + TIMEOUT
    while not watching():  # a change made before the server watches would wait for the poll
        if time.monotonic() > deadline:
            raise RuntimeError(f"the bridge did not start watching within {TIMEOUT:.0f} s")
        time.sleep(0.1)
    time.sleep(1.0)  # the first polls are over
    latencies: list[float] = []
    for message in candidates:
        time.sleep(gap())
        before = crm.db.count("emails")
        started = time.monotonic()
        other.set_categories(message.id, [*message.categories, TRACK_REQUEST_CATEGORY])
        while crm.db.count("emails") == before:
            if time.monotonic() - started > TIMEOUT:
                raise RuntimeError(f"{message.subject!r} was not tracked within {TIMEOUT:.0f} s")
            time.sleep(0.02)
        latencies.append(time.monotonic() - started)
    return latencies


def _summary(latencies: list[float]) -> dict[str, Any]:
    return {
        "messages": len(latencies),
        "p50_seconds": round(percentile(latencies, 50), 3),
        "p95_seconds": round(percentile(latencies, 95), 3),
    }


def run_sandbox(root: Path, backend: str, samples: int, latency_ms: int) -> dict[str, Any]:
    env = start_env(root, backend=backend, latency_ms=0)
    env.crm.faults.update({"latency_ms": latency_ms})
    env.mail.faults.update({"latency_ms": latency_ms})
    # The other mail client (Outlook on another computer) on its own connection, over EWS.
    other = open_mailbox(
        MailboxSettings(backend="ews", email=USER, server=env.mail.ews_url, timeout=10.0),
        lambda: DEMO_PASSWORD,
    )
    rng = random.Random(15)
    spread = WATCH_INTERVAL if backend == "graph" else 2.0
    # What says the bridge watches: an open streaming request (EWS), a delta watch cycle (Graph).
    operation = "graph:Batch" if backend == "graph" else "GetStreamingEvents"

    def watching() -> bool:
        return any(operation in op for op in env.mail.stats.snapshot()["by_operation"])

    try:
        latencies = _measure(env.bridge, other, env.crm, samples, lambda: rng.uniform(0, spread), watching)
        return _summary(latencies)
    finally:
        other.close()
        env.close()  # stops the bridge too


def run_imap(root: Path, samples: int, latency_ms: int) -> dict[str, Any]:
    from addin.demo_imap import IMAP_PASSWORD, customer_message, start_imap_demo

    env = start_imap_demo(root, poll_seconds=int(BY_KEY["tracking.poll_seconds"].default))
    try:
        env.crm.faults.update({"latency_ms": latency_ms})
        contacts = sorted(
            str(r["emailaddress1"]).lower()
            for r in crm_rows(env.crm, "contacts?$select=emailaddress1")
            if r.get("emailaddress1")
        )
        for i in range(samples):
            sender = contacts[i % len(contacts)]
            env.dovecot.lmtp_deliver(sender, [USER], customer_message(sender, f"Enquiry {i}", "Prices?"))
        other = open_mailbox(env.bridge.profile.mailbox_settings(), lambda: IMAP_PASSWORD)
        rng = random.Random(15)
        try:
            return _summary(_measure(env.bridge, other, env.crm, samples, lambda: rng.uniform(0, 2.0)))
        finally:
            other.close()
    finally:
        env.close()


def run(root: Path, samples: int, latency_ms: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Per backend its figures; a backend that cannot run here (no Dovecot) is named with why.

    The three backends run side by side, each with its own servers (their figures are waits)."""
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def one(backend: str) -> None:
        try:
            if backend == "imap":
                out[backend] = run_imap(root / backend, samples, latency_ms)
            else:
                out[backend] = run_sandbox(root / backend, backend, samples, latency_ms)
        except Exception as exc:  # one backend's trouble is reported, the others still run
            log.debug("push on %s", backend, exc_info=True)
            errors[f"push.{backend}"] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=one, args=(b,), name=f"push-{b}") for b in BACKENDS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {b: out[b] for b in BACKENDS if b in out}, errors
