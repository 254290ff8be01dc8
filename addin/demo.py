"""``crm-bridge demo``: both sandboxes seeded with demo data, plus the bridge on a demo profile.

The demo profile lives in its own temporary folder with in-memory secrets (the
sandboxes' well-known demo passwords), so it never touches the user's configuration or
keyring.  ``--headless --json`` runs a scripted walk-through of both flows and prints
one JSON object with the counts, including ``duplicates`` and ``lost``.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import requests

from addin.bridge import Bridge, MemorySecrets
from addin.bridge_types import RecordRef, TrackOutcome
from addin.config import Profile
from addin.crm.codes import EmailStatus
from addin.crm.records import REGARDING_TABLES
from addin.engine.outbox import OutboxSettings
from addin.mailbox.types import FolderKind, Sensitivity
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox
from addin.store import utcnow

USER = "alex@contoso.example"
DEMO_PASSWORD = "demo"
SANDBOX_TOKEN = "sandbox"
# The bearer token the sandbox Exchange accepts for USER on its Microsoft Graph endpoints
# (in production MSAL supplies it).
DEMO_GRAPH_TOKEN = "demo-graph-token"
MAILBOX_BACKENDS = ("ews", "graph")


@dataclass
class DemoEnvironment:
    root: Path
    crm: CrmSandbox
    mail: MailSandbox
    bridge: Bridge
    owns_root: bool = False
    backend: str = "ews"
    _closed: bool = field(default=False, repr=False)
    _page_url: str | None = field(default=None, repr=False)

    @property
    def crm_page_url(self) -> str:
        """The sandbox CRM's page, with a one-time token that signs one browser in."""
        if self._page_url is None:
            self._page_url = self.crm.page_url()
        return self._page_url

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.bridge.stop()
        finally:
            self.mail.stop()
            self.crm.stop()
            if self.owns_root:
                shutil.rmtree(self.root, ignore_errors=True)


def demo_profile(
    crm: CrmSandbox, mail: MailSandbox, *, poll_seconds: int = 10, backend: str = "ews"
) -> Profile:
    if backend not in MAILBOX_BACKENDS:
        raise ValueError(f"backend must be one of {MAILBOX_BACKENDS}")
    graph = backend == "graph"
    if graph:
        mail.add_token(DEMO_GRAPH_TOKEN, USER)
    profile = Profile("demo")
    profile.update(
        {
            "mailbox.backend": backend,
            "mailbox.email": USER,
            "mailbox.server": mail.graph_url if graph else mail.ews_url,
            "mailbox.auth": "token" if graph else "basic",
            "crm.url": crm.origin,
            "crm.auth": "bearer",
            "tracking.poll_seconds": max(10, poll_seconds),
            "sending.poll_seconds": max(5, poll_seconds),
        }
    )
    return profile


def demo_secrets(backend: str = "ews") -> MemorySecrets:
    """The sandboxes' well-known demo secrets: the password (EWS) or bearer token (Graph)."""
    mailbox = DEMO_GRAPH_TOKEN if backend == "graph" else DEMO_PASSWORD
    return MemorySecrets({"mailbox": mailbox, "crm": SANDBOX_TOKEN})


def start_demo(
    root: Path | None = None,
    *,
    poll_seconds: int = 10,
    outbox_settings: OutboxSettings | None = None,
    latency_ms: int = 0,
    backend: str = "ews",
) -> DemoEnvironment:
    owns = root is None
    base = Path(tempfile.mkdtemp(prefix="crm-bridge-demo-")) if root is None else root
    crm = CrmSandbox(data_dir=base / "crm", seed="demo", latency_ms=latency_ms).start()
    mail = MailSandbox(data_dir=base / "mail", seed="demo", latency_ms=latency_ms).start()
    bridge = Bridge(
        demo_profile(crm, mail, poll_seconds=poll_seconds, backend=backend),
        secrets=demo_secrets(backend),
        data_dir=base / "bridge",
        outbox_settings=outbox_settings,
    )
    return DemoEnvironment(base, crm, mail, bridge, owns_root=owns, backend=backend)


# -- the scripted walk-through --------------------------------------------------------------


def _customer_message(sender: str, subject: str, body: str, *, in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = USER
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def crm_rows(crm: CrmSandbox, path: str) -> list[dict[str, Any]]:
    """Rows of the sandbox CRM as the Web API returns them (the walk-throughs count with these)."""
    answer = requests.get(
        crm.base_url + path,
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}", "Prefer": 'odata.include-annotations="*"'},
        timeout=30,
    )
    answer.raise_for_status()
    rows: list[dict[str, Any]] = answer.json()["value"]
    return rows


def walkthrough(env: DemoEnvironment) -> dict[str, Any]:
    """Drive both flows the way a salesperson would, then count what the CRM and mailbox hold."""
    started = time.monotonic()
    bridge = env.bridge
    mailbox = bridge._mailbox
    autotrack = bridge._autotrack
    tracker = bridge._tracker
    autotrack.run_once()  # first sync: establishes "now", tracks nothing retroactively
    report: dict[str, Any] = {}

    # 1. Track selected messages with a Regarding (the Track window).
    inbox = mailbox.folder(FolderKind.INBOX)
    listing = bridge.messages(inbox.id, limit=50).items
    contacts = {a.lower() for a in _contact_addresses(env)}
    candidates = [m for m in listing if not m.private and not m.tracked and _address_of(m.sender) in contacts]
    chosen = candidates[:3]
    opportunities = bridge.search_records("a", ("opportunity",), limit=5) or bridge.search_records(
        "e", ("opportunity",), limit=5
    )
    regarding: RecordRef | None = opportunities[0] if opportunities else None
    results = bridge.track([m.id for m in chosen], regarding)
    report["tracked_selected"] = sum(r.outcome is TrackOutcome.TRACKED for r in results)
    # Tracking the same messages again must not create anything.
    again = bridge.track([m.id for m in chosen], regarding)
    report["retrack_already_tracked"] = sum(r.outcome is TrackOutcome.ALREADY_TRACKED for r in again)

    # 2. A category put on a message in "another mail client".
    rest = [m for m in candidates[3:] if not m.tracked]
    category_results = []
    if rest:
        target = rest[0]
        mailbox.set_categories(
            target.id, [*target.categories, bridge.profile.get("tracking.request_category")]
        )
        category_results = autotrack.run_once()
    report["tracked_by_category"] = sum(r.outcome is TrackOutcome.TRACKED for r in category_results)

    # 3. New mail from a customer arrives: auto-track by the user's CRM rule.
    customer = sorted(contacts)[0]
    env.mail.deliver(
        USER, _customer_message(customer, "Question about the renewal", "Can we talk on Friday?")
    )
    private = _customer_message(customer, "Dinner on Saturday?", "Personal note.")
    private = private.replace(b"Subject:", b"Sensitivity: Private\nSubject:", 1)
    env.mail.deliver(USER, private)
    auto_results = autotrack.run_once()
    report["tracked_automatically"] = sum(r.outcome is TrackOutcome.TRACKED for r in auto_results)
    report["private_tracked"] = sum(
        1 for m in bridge.messages(inbox.id, limit=100).items if m.private and m.tracked
    )

    # 4. Three e-mails written in the CRM leave through the outbox.
    queued = [
        env.crm.queue_email(
            sorted(contacts)[i + 1],
            f"Proposal follow-up #{i + 1}",
            f"<p>Hello, here is update {i + 1}.</p>",
            regarding=(REGARDING_TABLES[regarding.table].entity_set, regarding.id) if regarding else None,
        )
        for i in range(3)
    ]
    outbox = bridge._outbox_engine
    for _ in range(3):
        outbox.poll()
    sent_rows = {
        row["activityid"]: row for row in crm_rows(env.crm, "emails?$select=activityid,statuscode,messageid")
    }
    report["sent"] = sum(1 for q in queued if sent_rows.get(q, {}).get("statuscode") == EmailStatus.SENT)
    sent_items = env.mail.items(USER, "sentitems")
    copies = Counter(
        item["extended_properties"].get("CrmBridgeActivityId")
        for item in sent_items
        if item["extended_properties"].get("CrmBridgeActivityId")
    )
    report["sent_items_copies"] = sum(copies[q] for q in queued)

    # 5. The customer replies to one of them: the reply inherits the Regarding.
    first = sent_rows.get(queued[0], {})
    reply_results = []
    if first.get("messageid"):
        recipient = sorted(contacts)[1]
        env.mail.deliver(
            USER,
            _customer_message(
                recipient, "Re: Proposal follow-up #1", "Thanks, looks good.", in_reply_to=first["messageid"]
            ),
        )
        reply_results = autotrack.run_once()
    reply = next((r for r in reply_results if r.outcome is TrackOutcome.TRACKED), None)
    reply_regarding = None
    if reply is not None and reply.activity_id:
        row = crm_rows(
            env.crm, f"emails?$select=_regardingobjectid_value&$filter=activityid eq {reply.activity_id}"
        )
        reply_regarding = row[0].get("_regardingobjectid_value") if row else None
    report["reply_correlated"] = bool(regarding and reply_regarding == regarding.id)

    # Counts: every message tracked once, every queued e-mail sent once with one copy.
    emails = crm_rows(env.crm, "emails?$select=activityid,messageid,statuscode")
    by_mid = Counter(e["messageid"] for e in emails if e.get("messageid"))
    report["duplicates"] = sum(n - 1 for n in by_mid.values() if n > 1) + sum(
        n - 1 for n in copies.values() if n > 1
    )
    expected_tracked = [
        r
        for r in (*results, *category_results, *auto_results, *reply_results)
        if r.outcome is TrackOutcome.TRACKED
    ]
    known = {e["activityid"] for e in emails}
    lost = sum(1 for r in expected_tracked if r.activity_id not in known)
    lost += sum(
        1 for q in queued if sent_rows.get(q, {}).get("statuscode") != EmailStatus.SENT or copies[q] != 1
    )
    lost += len(tracker.store.queued_tracks())
    report["lost"] = lost
    report["crm_requests"] = env.crm.stats.snapshot()["requests"]
    report["mailbox_backend"] = env.backend
    report["mailbox_requests"] = env.mail.stats.snapshot()["requests"]
    report["seconds"] = round(time.monotonic() - started, 2)
    report["ok"] = (
        report["duplicates"] == 0
        and report["lost"] == 0
        and report["tracked_selected"] == len(chosen) > 0
        and report["sent"] == 3
        and report["reply_correlated"]
        and report["private_tracked"] == 0
    )
    return report


def _address_of(sender: str) -> str:
    return sender.rpartition("<")[2].rstrip(">").strip().lower()


def _contact_addresses(env: DemoEnvironment) -> list[str]:
    rows = crm_rows(env.crm, "contacts?$select=emailaddress1")
    return [r["emailaddress1"] for r in rows if r.get("emailaddress1")]


# -- the command ------------------------------------------------------------------------------


def guidance(env: DemoEnvironment, *, tray: bool) -> str:
    """What to try once the demo is up, and how to stop it (printed by ``crm-bridge demo``)."""
    category = env.bridge.profile.get("tracking.request_category")
    where = "the tray icon's menu" if tray else "'crm-bridge' in another terminal (it uses your own profile)"
    steps = [
        f"Sandbox CRM:      {env.crm_page_url}",
        (
            f"Sandbox Exchange: {env.mail.graph_url}  ({USER}, Microsoft Graph; EWS at {env.mail.ews_url})"
            if env.backend == "graph"
            else f"Sandbox Exchange: {env.mail.ews_url}  ({USER} / {DEMO_PASSWORD})"
        ),
        "",
        "Things to try:",
        "  1. Queue an e-mail on the sandbox CRM page (the first address above): the bridge sends it",
        "     through the demo mailbox, the copy lands in Sent Items and the CRM marks it Sent.",
        f"  2. Put the “{category}” category on a message in any mail client signed in to the",
        "     sandbox Exchange (the EWS URL and password above): the bridge tracks it into the CRM.",
        "  3. Open the Track window"
        + (" (it is open now; the tray menu has it too)" if tray else f" from {where}")
        + ": pick messages, set Regarding, Track.",
        "",
        "Stop the demo with Ctrl-C here" + (" or Quit in the tray menu." if tray else "."),
        "Nothing of the demo is kept: it runs on a throw-away profile, never your own settings or keyring.",
        "To connect your own mailbox and CRM afterwards: docs/CONNECT.md (then 'crm-bridge status').",
    ]
    return "\n".join(steps)


def main(args: Any) -> int:
    import logging

    from addin.desktop import desktop_problem, has_display

    # The sandboxes' per-request access log would drown the demo's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if getattr(args, "mailbox", "ews") == "imap":
        from addin.demo_imap import main as imap_main

        return imap_main(args)
    tray = not args.headless and has_display()
    if tray:
        # Before anything starts: a display without the libraries Qt needs is named here.
        problem = desktop_problem()
        if problem is not None:
            raise problem
    env = start_demo(backend=getattr(args, "mailbox", "ews") or "ews")
    try:
        if args.headless:
            report = walkthrough(env)
            if args.json:
                print(json.dumps(report, sort_keys=True))
            else:
                from addin.cli_render import demo_report_text

                print(demo_report_text(report))
            return 0 if report["ok"] else 1
        if args.json:
            print(
                json.dumps(
                    {
                        "crm_page_url": env.crm_page_url,
                        "crm_api_url": env.crm.base_url,
                        "ews_url": env.mail.ews_url,
                        "graph_url": env.mail.graph_url,
                        "mailbox_backend": env.backend,
                        "user": USER,
                        "tray": tray,
                    },
                    sort_keys=True,
                )
            )
        else:
            print(guidance(env, tray=tray))
        sys.stdout.flush()
        if tray:
            from ui.app import main as tray_main

            return int(tray_main(["--show", "track"], bridge=env.bridge))
        env.bridge.start()
        if not args.json:
            print("Bridge running without a display; press Ctrl-C to stop.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        env.close()


__all__ = ["DemoEnvironment", "Sensitivity", "guidance", "start_demo", "uuid", "walkthrough"]
