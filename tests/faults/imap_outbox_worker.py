"""A bridge process on the IMAP + SMTP backend for the crash-injection test.

Usage: python imap_outbox_worker.py CRM_ORIGIN IMAP_URL SMTP_URL DATA_DIR [KILL_POINT]

KILL_POINT ``after-submit`` SIGKILLs the process right after the SMTP server answered
DATA (before the Sent copy and before the journal write); ``after-copy`` right after
the copy is filed in Sent (before the journal write).  Without it the process sends the
CRM outbox in a tight loop until killed from outside.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from addin.bridge import Bridge, MemorySecrets
from addin.demo_imap import IMAP_PASSWORD, imap_profile
from addin.engine.outbox import OutboxSettings
from addin.mailbox import imap, smtp_submit


def _die_after(cls: Any, name: str) -> None:
    original = getattr(cls, name)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(cls, name, wrapper)


def main() -> None:
    crm_origin, imap_url, smtp_url, data_dir = sys.argv[1:5]
    kill_point = sys.argv[5] if len(sys.argv) > 5 else ""
    if kill_point == "after-submit":
        _die_after(smtp_submit.Submission, "send")
    elif kill_point == "after-copy":
        _die_after(imap.ImapMailbox, "_file_sent_copy")
    bridge = Bridge(
        imap_profile(crm_origin, imap_url, smtp_url),
        secrets=MemorySecrets({"mailbox": IMAP_PASSWORD, "crm": "sandbox"}),
        data_dir=Path(data_dir),
        outbox_settings=OutboxSettings(grace=timedelta(seconds=1), stale_claim=timedelta(seconds=2)),
    )
    # An account that has sent before: the bridge learnt that this server does not file
    # Sent copies itself (Dovecot), so every send appends its own copy at once.
    bridge._store.put("mailbox_hints", {"provider_files_sent": "no"})
    outbox = bridge._outbox_engine
    print("ready", flush=True)
    while True:
        outbox.poll()
        time.sleep(0.02)


if __name__ == "__main__":
    main()
