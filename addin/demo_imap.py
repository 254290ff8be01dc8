"""``crm-bridge demo --mailbox imap``: the sandbox CRM with a real Dovecot and SMTP server.

Dovecot (Debian's ``dovecot-imapd`` + ``dovecot-lmtpd``) runs from a throw-away
configuration on a free loopback port; an aiosmtpd submission server hands what the
bridge sends to Dovecot's LMTP, so sent mail really lands in the recipients' mailboxes.
Where Dovecot is not installed the demo says what to install.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from addin.bridge import Bridge, MemorySecrets
from addin.bridge_types import TrackOutcome
from addin.config import Profile
from addin.crm.codes import EmailStatus
from addin.demo import crm_rows
from addin.engine.outbox import OutboxSettings
from addin.mailbox.types import FolderKind
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.dovecot import DovecotServer, SubmissionServer
from addin.store import utcnow

USER = "alex@contoso.example"
IMAP_PASSWORD = "demo-imap"
SANDBOX_TOKEN = "sandbox"


@dataclass
class ImapDemo:
    root: Path
    crm: CrmSandbox
    dovecot: DovecotServer
    smtp: SubmissionServer
    bridge: Bridge
    owns_root: bool = False
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.bridge.stop()
        finally:
            self.smtp.stop()
            self.dovecot.stop()
            self.crm.stop()
            if self.owns_root:
                shutil.rmtree(self.root, ignore_errors=True)


def imap_profile(crm_origin: str, imap_url: str, smtp_url: str, *, poll_seconds: int = 10) -> Profile:
    profile = Profile("demo-imap")
    profile.update(
        {
            "mailbox.backend": "imap",
            "mailbox.email": USER,
            "mailbox.imap_server": imap_url,
            "mailbox.smtp_server": smtp_url,
            "mailbox.auth": "basic",
            "crm.url": crm_origin,
            "crm.auth": "bearer",
            "tracking.poll_seconds": max(10, poll_seconds),
            "sending.poll_seconds": max(5, poll_seconds),
        }
    )
    return profile


def customer_message(sender: str, subject: str, body: str = "Hello") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = USER
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    msg.set_content(body)
    return msg.as_bytes()


def start_imap_demo(
    root: Path | None = None, *, outbox_settings: OutboxSettings | None = None, poll_seconds: int = 10
) -> ImapDemo:
    owns = root is None
    base = Path(tempfile.mkdtemp(prefix="crm-bridge-imap-demo-")) if root is None else root
    base.mkdir(parents=True, exist_ok=True)
    # Dovecot first: where it is missing, nothing else was started.
    dovecot = DovecotServer({USER: IMAP_PASSWORD}).start()
    try:
        smtp = SubmissionServer(dovecot).start()
    except BaseException:
        dovecot.stop()
        raise
    crm = CrmSandbox(data_dir=base / "crm", seed="demo").start()
    bridge = Bridge(
        imap_profile(crm.origin, dovecot.url, smtp.url, poll_seconds=poll_seconds),
        secrets=MemorySecrets({"mailbox": IMAP_PASSWORD, "crm": SANDBOX_TOKEN}),
        data_dir=base / "bridge",
        outbox_settings=outbox_settings,
    )
    return ImapDemo(base, crm, dovecot, smtp, bridge, owns_root=owns)


def walkthrough(env: ImapDemo) -> dict[str, Any]:
    """Both flows on IMAP + SMTP, counted where the mail really is (Dovecot's Maildirs)."""
    started = time.monotonic()
    bridge = env.bridge
    mailbox = bridge._mailbox
    contacts = sorted(
        r["emailaddress1"].lower()
        for r in crm_rows(env.crm, "contacts?$select=emailaddress1")
        if r.get("emailaddress1")
    )
    for i, sender in enumerate(contacts[:4]):
        env.dovecot.lmtp_deliver(
            sender, [USER], customer_message(sender, f"Enquiry {i + 1}", "Prices, please.")
        )
    autotrack = bridge._autotrack
    autotrack.run_once()  # first sync: "now"; nothing old is tracked by rule
    report: dict[str, Any] = {}
    inbox = mailbox.folder(FolderKind.INBOX)
    listing = [m for m in bridge.messages(inbox.id, limit=50).items if not m.tracked]
    chosen = listing[:2]
    results = bridge.track([m.id for m in chosen])
    report["tracked_selected"] = sum(r.outcome is TrackOutcome.TRACKED for r in results)
    again = bridge.track([m.id for m in chosen])
    report["retrack_already_tracked"] = sum(r.outcome is TrackOutcome.ALREADY_TRACKED for r in again)

    # A category (an IMAP keyword) set "in another mail client" asks for tracking.
    category_results = []
    if len(listing) > 2:
        target = listing[2]
        mailbox.set_categories(
            target.id, [*target.categories, bridge.profile.get("tracking.request_category")]
        )
        category_results = autotrack.run_once()
    report["tracked_by_category"] = sum(r.outcome is TrackOutcome.TRACKED for r in category_results)

    private = customer_message(contacts[0], "Dinner on Saturday?", "Personal note.")
    private = private.replace(b"Subject:", b"Sensitivity: Private\nSubject:", 1)
    env.dovecot.lmtp_deliver(contacts[0], [USER], private)
    env.dovecot.lmtp_deliver(contacts[0], [USER], customer_message(contacts[0], "Renewal", "Friday?"))
    auto_results = autotrack.run_once()
    report["tracked_automatically"] = sum(r.outcome is TrackOutcome.TRACKED for r in auto_results)
    report["private_tracked"] = sum(
        1 for m in bridge.messages(inbox.id, limit=100).items if m.private and m.tracked
    )

    queued = [
        (
            env.crm.queue_email(contacts[i + 1], f"Proposal #{i + 1}", f"<p>Update {i + 1}</p>"),
            contacts[i + 1],
        )
        for i in range(3)
    ]
    for _ in range(3):
        bridge._outbox_engine.poll()
    status = {
        r["activityid"]: r.get("statuscode")
        for r in crm_rows(env.crm, "emails?$select=activityid,statuscode")
    }
    sent_folder = mailbox.folder(FolderKind.SENT).id
    copies = {a: len(mailbox.find_by_stamp(sent_folder, a)) for a, _ in queued}
    delivered = {
        a: sum(1 for p in env.dovecot.maildir_files(to) if f"Proposal #{i + 1}".encode() in p.read_bytes())
        for i, (a, to) in enumerate(queued)
    }
    report["sent"] = sum(1 for a, _ in queued if status.get(a) == EmailStatus.SENT)
    report["sent_folder_copies"] = sum(copies.values())
    report["delivered"] = sum(delivered.values())
    emails = crm_rows(env.crm, "emails?$select=messageid")
    by_mid = Counter(e["messageid"] for e in emails if e.get("messageid"))
    report["duplicates"] = sum(n - 1 for n in by_mid.values() if n > 1) + sum(
        n - 1 for n in (*copies.values(), *delivered.values()) if n > 1
    )
    report["lost"] = sum(1 for a, _ in queued if status.get(a) != 3 or copies[a] != 1 or delivered[a] != 1)
    report["seconds"] = round(time.monotonic() - started, 2)
    report["ok"] = (
        report["duplicates"] == 0
        and report["lost"] == 0
        and report["tracked_selected"] == len(chosen) > 0
        and report["tracked_by_category"] == 1
        and report["private_tracked"] == 0
        and report["sent"] == 3
    )
    return report


def main(args: Any) -> int:
    """``crm-bridge demo --mailbox imap``; Dovecot missing -> a ConfigError saying what to install."""
    import logging

    from addin.cli_render import demo_report_text
    from addin.desktop import desktop_problem, has_display

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's per-session chatter
    tray = not args.headless and has_display()
    if tray:
        # Before anything starts: a display without the libraries Qt needs is named here.
        problem = desktop_problem()
        if problem is not None:
            raise problem
    env = start_imap_demo()
    try:
        if args.headless:
            report = walkthrough(env)
            print(json.dumps(report, sort_keys=True) if args.json else demo_report_text(report))
            return 0 if report["ok"] else 1
        print(f"Sandbox CRM: {env.crm.page_url()}")
        print(f"Dovecot IMAP: {env.dovecot.url}  SMTP: {env.smtp.url}  ({USER} / {IMAP_PASSWORD})")
        sys.stdout.flush()
        if tray:
            from ui.app import main as tray_main

            return int(tray_main(["--show", "track"], bridge=env.bridge))
        env.bridge.start()
        print("Bridge running on IMAP + SMTP without a display; press Ctrl-C to stop.")
        stop = threading.Event()
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        env.close()
