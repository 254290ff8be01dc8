"""The outbox: e-mails queued in the CRM at random moments, timed to the Sent Items copy and to
Sent in the CRM, with the whole engine running on the product's default poll settings; then the
CRM requests the bridge makes while nothing happens.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

from addin.bridge import Bridge
from addin.demo import DemoEnvironment, crm_rows, demo_profile, demo_secrets
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox
from addin.settings_schema import BY_KEY
from tests.benchmarks.bench_stats import percentile

STATUS_SENT = 3


def start_env(root: Path, *, backend: str = "ews", latency_ms: int = 0) -> DemoEnvironment:
    """The demo sandboxes and a bridge on the product's default poll intervals (not the demo's)."""
    crm = CrmSandbox(data_dir=root / "crm", seed="demo", latency_ms=latency_ms).start()
    mail = MailSandbox(data_dir=root / "mail", seed="demo", latency_ms=latency_ms).start()
    profile = demo_profile(crm, mail, backend=backend)
    profile.update({key: BY_KEY[key].default for key in ("tracking.poll_seconds", "sending.poll_seconds")})
    bridge = Bridge(profile, secrets=demo_secrets(backend), data_dir=root / "bridge")
    return DemoEnvironment(root, crm, mail, bridge, backend=backend)


def _stamped_copies(env: DemoEnvironment) -> set[str]:
    return {
        str(item["extended_properties"].get("CrmBridgeActivityId"))
        for item in env.mail.items("alex@contoso.example", "sentitems")
        if item["extended_properties"].get("CrmBridgeActivityId")
    }


def idle_rate(env: DemoEnvironment, seconds: float) -> tuple[int, float]:
    """CRM requests in an idle window, and their rate per hour.

    The rate is taken between the first and the last moment a request arrived (k polls a period
    T apart give (k - 1) / ((k - 1) T) = 1 / T), not over the whole window, which would count a
    30 s poll in a 45 s window as once or twice by chance. Fewer than two arrivals: the window."""
    start = int(env.crm.stats.snapshot()["requests"])
    last, arrivals = start, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = int(env.crm.stats.snapshot()["requests"])
        if now != last:
            arrivals.append((time.monotonic(), now))
            last = now
        time.sleep(0.05)
    total = last - start
    if len(arrivals) >= 2 and arrivals[-1][0] > arrivals[0][0]:
        return total, (arrivals[-1][1] - arrivals[0][1]) * 3600 / (arrivals[-1][0] - arrivals[0][0])
    return total, total * 3600 / seconds


def run(
    root: Path,
    emails: int,
    window_seconds: float,
    idle_seconds: float,
    latency_ms: int,
    settle_seconds: float = 0.0,
) -> dict[str, Any]:
    env = start_env(root, latency_ms=0)
    try:
        contacts = [r["emailaddress1"] for r in crm_rows(env.crm, "contacts?$select=emailaddress1")]
        contacts = [c for c in contacts if c]
        env.crm.faults.update({"latency_ms": latency_ms})
        env.mail.faults.update({"latency_ms": latency_ms})
        env.bridge.start()
        time.sleep(3.0)  # the first polls (who am I, mailbox settings, first sync) are over
        rng = random.Random(15)
        moments = sorted(rng.uniform(0, window_seconds) for _ in range(emails))
        queued_at: dict[str, float] = {}
        copy_at: dict[str, float] = {}
        sent_at: dict[str, float] = {}
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                now = time.monotonic()
                for activity_id in _stamped_copies(env):
                    if activity_id in queued_at:
                        copy_at.setdefault(activity_id, now)
                for activity_id in list(queued_at):
                    if activity_id not in sent_at:
                        row = env.crm.db.get("emails", activity_id)
                        if row is not None and row.get("statuscode") == STATUS_SENT:
                            sent_at[activity_id] = now
                done.wait(0.25)

        watcher = threading.Thread(target=watch, name="outbox-bench-watch", daemon=True)
        crm_before = int(env.crm.stats.snapshot()["requests"])
        started = time.monotonic()
        watcher.start()
        for n, moment in enumerate(moments):
            time.sleep(max(0.0, started + moment - time.monotonic()))
            activity_id = env.crm.queue_email(contacts[n % len(contacts)], f"Benchmark {n}", "<p>Hello</p>")
            queued_at[activity_id] = time.monotonic()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (len(copy_at) < emails or len(sent_at) < emails):
            time.sleep(0.2)
        done.set()
        watcher.join(5)
        if len(copy_at) < emails or len(sent_at) < emails:
            raise RuntimeError(
                f"only {len(copy_at)} Sent Items copies and {len(sent_at)} CRM Sent of {emails} e-mails "
                "within 180 s of the last one queued"
            )
        active_seconds = max(sent_at.values()) - started
        active_requests = int(env.crm.stats.snapshot()["requests"]) - crm_before
        to_copy = [copy_at[a] - queued_at[a] for a in queued_at]
        to_sent = [sent_at[a] - queued_at[a] for a in queued_at]

        # Wait out the engine's fast period after activity first, so the rate is the steady one;
        # the settle period's own requests count in the day as they were made.
        settle_before = int(env.crm.stats.snapshot()["requests"])
        time.sleep(settle_seconds)
        settle_requests = int(env.crm.stats.snapshot()["requests"]) - settle_before
        idle_requests, per_hour = idle_rate(env, idle_seconds)
        rest = max(0.0, 8 - (active_seconds + settle_seconds) / 3600)
        day = active_requests + settle_requests + per_hour * rest
        return {
            "emails": emails,
            "poll_seconds": int(env.bridge.profile.get("sending.poll_seconds")),
            "p50_seconds": round(percentile(to_copy, 50), 2),
            "p95_seconds": round(percentile(to_copy, 95), 2),
            "max_seconds": round(max(to_copy), 2),
            "idle_crm_requests_per_hour": round(per_hour, 1),
            "crm_requests_per_8h_day": round(day),
            "crm_sent_p50_seconds": round(percentile(to_sent, 50), 2),
            "crm_sent_p95_seconds": round(percentile(to_sent, 95), 2),
            "active_seconds": round(active_seconds, 1),
            "active_crm_requests": active_requests,
            "idle_window_seconds": idle_seconds,
            "idle_settle_seconds": settle_seconds,
            "idle_crm_requests": idle_requests,
        }
    finally:
        env.close()
