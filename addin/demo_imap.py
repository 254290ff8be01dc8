"""``crm-bridge demo --mailbox imap``: the sandbox CRM with a real Dovecot and SMTP server.

Dovecot (Debian's ``dovecot-imapd`` + ``dovecot-lmtpd``) runs from a throw-away
configuration on a free loopback port; an aiosmtpd submission server hands what the
bridge sends to Dovecot's LMTP, so sent mail really lands in the recipients' mailboxes.
Where Dovecot is not installed the demo says what to install.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from addin.bridge import Bridge, MemorySecrets
from addin.config import Profile
from addin.engine.outbox import OutboxSettings
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
    crm = CrmSandbox(data_dir=base / "crm", seed="demo").start()
    dovecot = DovecotServer({USER: IMAP_PASSWORD}).start()
    smtp = SubmissionServer(dovecot).start()
    bridge = Bridge(
        imap_profile(crm.origin, dovecot.url, smtp.url, poll_seconds=poll_seconds),
        secrets=MemorySecrets({"mailbox": IMAP_PASSWORD, "crm": SANDBOX_TOKEN}),
        data_dir=base / "bridge",
        outbox_settings=outbox_settings,
    )
    return ImapDemo(base, crm, dovecot, smtp, bridge, owns_root=owns)
