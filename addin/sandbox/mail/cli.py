"""``crm-bridge sandbox mail``: run the sandbox Exchange until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys

from addin.sandbox.common import data_folder_error, run_until_signalled, set_request_log
from addin.sandbox.mail.sandbox import MailSandbox
from addin.sandbox.mail.seed import ALEX


def main(args: argparse.Namespace) -> int:
    """Print the EWS URL as the first stdout line and the Graph base URL as the second, then serve."""
    set_request_log(bool(getattr(args, "verbose", False)))
    try:
        sandbox = MailSandbox(
            data_dir=getattr(args, "data", None),
            seed=getattr(args, "seed", "demo") or "demo",
            latency_ms=int(getattr(args, "latency_ms", 0) or 0),
            busy=int(getattr(args, "busy", 0) or 0),
            host=getattr(args, "host", "127.0.0.1") or "127.0.0.1",
            port=int(getattr(args, "port", 0) or 0),
        )
    except (OSError, sqlite3.Error) as exc:
        raise data_folder_error("mail", getattr(args, "data", None), exc) from None
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
        if getattr(args, "json", False):
            document = {
                "url": sandbox.ews_url,
                "graph_url": sandbox.graph_url,
                "autodiscover_url": sandbox.autodiscover_url,
                "mailboxes": boxes,
            }
            return run_until_signalled(sandbox.server, json.dumps(document))
        return run_until_signalled(sandbox.server, sandbox.ews_url, sandbox.graph_url)
    finally:
        sandbox.stop()
