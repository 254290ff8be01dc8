"""First sync of a big inbox: the bridge's CPU, wall time and peak memory growth, and that nothing
old is auto-tracked.

The inbox is filled directly through the sandbox's own store (one parsed message written N times
with its own Message-ID, subject and date; senders are CRM contacts, so the user's auto-track rule
would match every one of them if the bridge tracked history). The sandbox Exchange then serves it
from its own process (``crm-bridge sandbox mail``), and the bridge runs in a child process of its
own, so CPU time and resident memory are the bridge's alone: CPU is the child's process time over
the first ``run_once`` of auto-track (what a fresh start does), memory is the growth of its peak
resident set (VmHWM, reset just before) over its resident set just before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import requests

from addin.demo import DEMO_PASSWORD, SANDBOX_TOKEN, USER, crm_rows
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail.mime import parse_mime
from addin.sandbox.mail.soap import iso
from addin.sandbox.mail.store import MailStore
from addin.store import utcnow

ROOT = Path(__file__).resolve().parents[2]


def fill(data_dir: Path, count: int, senders: list[str]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = MailStore(data_dir / "mail.sqlite3")
    try:
        store.add_mailbox(USER, DEMO_PASSWORD, "Alex Wu")
        inbox = store.distinguished(USER, "inbox")
        assert inbox is not None
        msg = EmailMessage()
        msg["From"] = senders[0]
        msg["To"] = USER
        msg["Subject"] = "old message"
        msg["Date"] = format_datetime(utcnow())
        msg["Message-ID"] = "<old@customer.example>"
        msg.set_content("An old message that a fresh start must not load or track.\n" * 10)
        mime = msg.as_bytes()
        fields, _ = parse_mime(mime)
        start = utcnow() - timedelta(days=400)
        with store.tx():
            for i in range(count):
                sender = senders[i % len(senders)]
                data = dict(fields)
                data["subject"] = f"Old message {i}"
                data["message_id"] = f"<old-{i}@customer.example>"
                when = iso(start + timedelta(minutes=5 * i))
                data["datetime_received"] = data["datetime_sent"] = when
                author = dict(data.get("author") or {})
                author["email"] = sender
                data["author"] = author
                data["sender"] = author
                store.insert_item(USER, inbox.id, data, mime, [])
    finally:
        store.close()


def _status(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])  # kB
    raise RuntimeError(f"no {name} in /proc/self/status")


def child(crm_origin: str, ews_url: str, data_dir: str) -> dict[str, Any]:
    """Runs in its own process: a fresh bridge's first sync, measured."""
    from addin.bridge import Bridge, MemorySecrets
    from addin.config import Profile
    from addin.mailbox.types import FolderKind

    profile = Profile("bench")
    profile.update(
        {
            "mailbox.backend": "ews",
            "mailbox.email": USER,
            "mailbox.server": ews_url,
            "mailbox.auth": "basic",
            "crm.url": crm_origin,
            "crm.auth": "bearer",
        }
    )
    bridge = Bridge(
        profile,
        secrets=MemorySecrets({"mailbox": DEMO_PASSWORD, "crm": SANDBOX_TOKEN}),
        data_dir=Path(data_dir),
    )
    stats_url = ews_url.split("/EWS/")[0] + "/_sandbox/stats"
    try:
        # Warm: the connection, the folder list and the user's CRM settings are not the sync.
        bridge._mailbox.folder(FolderKind.INBOX)
        bridge._crm.context()
        autotrack = bridge._autotrack
        before = requests.get(stats_url, timeout=30).json()["requests"]
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
        rss_before = _status("VmRSS")
        cpu, wall = time.process_time(), time.perf_counter()
        results = autotrack.run_once()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        peak = _status("VmHWM")
        after = requests.get(stats_url, timeout=30).json()["requests"]
        return {
            "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "peak_rss_growth_mb": round(max(0, peak - rss_before) / 1024, 1),
            "auto_tracked": sum(1 for r in results if r.outcome.name == "TRACKED"),
            "mailbox_requests": int(after) - int(before),
        }
    finally:
        bridge.stop()


def run(root: Path, messages: int, latency_ms: int) -> dict[str, Any]:
    crm = CrmSandbox(data_dir=root / "crm", seed="demo", latency_ms=latency_ms).start()
    try:
        senders = [
            r["emailaddress1"]
            for r in crm_rows(crm, "contacts?$select=emailaddress1")
            if r.get("emailaddress1")
        ]
        started = time.perf_counter()
        fill(root / "mail", messages, senders)
        fill_seconds = time.perf_counter() - started
        sandbox = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "addin",
                "sandbox",
                "mail",
                "--data",
                str(root / "mail"),
                "--seed",
                "empty",
                "--latency-ms",
                str(latency_ms),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            assert sandbox.stdout is not None
            ews = sandbox.stdout.readline().strip()
            if not ews.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"the mail sandbox did not start: {ews!r}")
            if "/EWS/" not in ews:
                ews = ews.rstrip("/") + "/EWS/Exchange.asmx"
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.benchmarks.bench_first_sync",
                    crm.origin,
                    ews,
                    str(root / "bridge"),
                ],
                cwd=ROOT,
                env=dict(os.environ, PYTHONPATH=str(ROOT)),
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"the first-sync run failed: {done.stderr.strip()[-800:]}")
            measured = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            sandbox.terminate()
            try:
                sandbox.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sandbox.kill()
        return {"messages": messages, **measured, "fill_seconds": round(fill_seconds, 1)}
    finally:
        crm.stop()


if __name__ == "__main__":
    print(json.dumps(child(*sys.argv[1:4])))
