"""``crm-bridge sandbox mail``: run the sandbox Exchange until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse

from addin.sandbox.common import run_until_signalled
from addin.sandbox.mail.sandbox import MailSandbox


def main(args: argparse.Namespace) -> int:
    """Print the EWS URL as the first stdout line, then serve."""
    sandbox = MailSandbox(
        data_dir=getattr(args, "data", None),
        seed=getattr(args, "seed", "demo") or "demo",
        latency_ms=int(getattr(args, "latency_ms", 0) or 0),
        busy=int(getattr(args, "busy", 0) or 0),
        host=getattr(args, "host", "127.0.0.1") or "127.0.0.1",
        port=int(getattr(args, "port", 0) or 0),
    )
    try:
        return run_until_signalled(sandbox.server, sandbox.ews_url)
    finally:
        sandbox.stop()
