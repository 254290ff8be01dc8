"""A bridge process for the crash-injection test: sends the CRM outbox in a tight loop until killed.

Usage: python outbox_worker.py CRM_ORIGIN EWS_URL DATA_DIR
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

from addin.bridge import Bridge, MemorySecrets
from addin.config import Profile
from addin.engine.outbox import OutboxSettings


def main() -> None:
    crm_origin, ews_url, data_dir = sys.argv[1:4]
    profile = Profile("crash")
    profile.update(
        {
            "mailbox.email": "alex@contoso.example",
            "mailbox.server": ews_url,
            "crm.url": crm_origin,
            "crm.auth": "bearer",
        }
    )
    bridge = Bridge(
        profile,
        secrets=MemorySecrets({"mailbox": "demo", "crm": "sandbox"}),
        data_dir=Path(data_dir),
        # A short grace and stale-claim time so a test can settle within seconds; the
        # sandbox finishes a send long before the next worker process has started.
        outbox_settings=OutboxSettings(grace=timedelta(seconds=1), stale_claim=timedelta(seconds=2)),
    )
    outbox = bridge.outbox_engine
    print("ready", flush=True)
    while True:
        outbox.poll()
        time.sleep(0.02)


if __name__ == "__main__":
    main()
