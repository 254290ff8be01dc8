"""A bridge process for the crash-injection test: sends the CRM outbox in a tight loop until killed.

Usage: python outbox_worker.py CRM_ORIGIN MAILBOX_URL DATA_DIR [ews|graph]

MAILBOX_URL is the sandbox's EWS URL, or its Graph root for ``graph`` (the demo token
must already be registered with the sandbox, as ``demo_profile`` does).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

from addin.bridge import Bridge
from addin.config import Profile
from addin.demo import demo_secrets
from addin.engine.outbox import OutboxSettings


def main() -> None:
    crm_origin, mailbox_url, data_dir = sys.argv[1:4]
    backend = sys.argv[4] if len(sys.argv) > 4 else "ews"
    profile = Profile("crash")
    profile.update(
        {
            "mailbox.backend": backend,
            "mailbox.email": "alex@contoso.example",
            "mailbox.server": mailbox_url,
            "mailbox.auth": "token" if backend == "graph" else "basic",
            "crm.url": crm_origin,
            "crm.auth": "bearer",
        }
    )
    bridge = Bridge(
        profile,
        secrets=demo_secrets(backend),
        data_dir=Path(data_dir),
        # A short grace and stale-claim time so a test can settle within seconds; the
        # sandbox finishes a send long before the next worker process has started.
        outbox_settings=OutboxSettings(grace=timedelta(seconds=1), stale_claim=timedelta(seconds=2)),
    )
    outbox = bridge._outbox_engine
    print("ready", flush=True)
    while True:
        outbox.poll()
        time.sleep(0.02)


if __name__ == "__main__":
    main()
