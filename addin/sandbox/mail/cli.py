"""``crm-bridge sandbox mail``: run the sandbox Exchange until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import sys

from addin.sandbox.common import run_until_signalled
from addin.sandbox.mail.sandbox import MailSandbox
from addin.sandbox.mail.seed import ALEX


def main(args: argparse.Namespace) -> int:
    """Print the EWS URL as the first stdout line and the Graph base URL as the second, then serve."""
    sandbox = MailSandbox(
        data_dir=getattr(args, "data", None),
        seed=getattr(args, "seed", "demo") or "demo",
        latency_ms=int(getattr(args, "latency_ms", 0) or 0),
        busy=int(getattr(args, "busy", 0) or 0),
        host=getattr(args, "host", "127.0.0.1") or "127.0.0.1",
        port=int(getattr(args, "port", 0) or 0),
    )
    delay = float(getattr(args, "transport_delay", 0.0) or 0.0)
    if delay < 0:
        print("sandbox mail: --transport-delay must be 0 or more seconds", file=sys.stderr)
        sandbox.stop()
        return 2
    sandbox.faults.update(
        {"transport_delay_seconds": delay, "transport_outage": bool(getattr(args, "transport_outage", False))}
    )
    try:
        boxes = sandbox.mailboxes()
        if boxes:
            example = ALEX.email if ALEX.email in boxes else boxes[0]
            # Human hints go to stderr: the first stdout line stays the URL for scripts.
            print(
                f"sandbox mail: {len(boxes)} mailboxes, e.g. {example}; "
                f"autodiscover at {sandbox.autodiscover_url}; Graph needs a bearer token: "
                f'POST {sandbox.origin}/_sandbox/tokens {{"token": ..., "address": ...}}',
                file=sys.stderr,
            )
        return run_until_signalled(sandbox.server, sandbox.ews_url, sandbox.graph_url)
    finally:
        sandbox.stop()
