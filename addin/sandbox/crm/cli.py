"""``crm-bridge sandbox crm``: run the sandbox CRM until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

from addin.errors import ConfigError
from addin.sandbox.common import data_folder_error, run_until_signalled, set_request_log
from addin.sandbox.crm.sandbox import CrmSandbox


def main(args: argparse.Namespace) -> int:
    set_request_log(bool(getattr(args, "verbose", False)))
    try:
        sandbox = CrmSandbox(
            Path(args.data) if args.data else None,
            seed=args.seed,
            latency_ms=int(args.latency_ms or 0),
            throttle=getattr(args, "throttle", None),
            host=args.host,
            port=args.port,
            tls=bool(getattr(args, "tls", False)),
        )
    except ValueError as exc:
        raise ConfigError(str(exc), title="Sandbox not started") from None
    except (OSError, sqlite3.Error) as exc:
        raise data_folder_error("CRM", args.data, exc) from None
    # Human hints go to stderr: the first stdout line stays the API URL for scripts.
    print(f"sandbox crm: the e-mail page (signs this browser in once): {sandbox.page_url()}", file=sys.stderr)
    if sandbox.ca_pem is not None:
        # The base URL stays the first line on stdout; clients read the CA from stderr's note.
        print(f"crm-bridge sandbox crm: HTTPS; trust the CA certificate {sandbox.ca_pem}", file=sys.stderr)
    sandbox._running = True  # run_until_signalled starts and stops the server
    try:
        first = (
            json.dumps({"url": sandbox.base_url, "page_url": sandbox.page_url()})
            if getattr(args, "json", False)
            else sandbox.base_url
        )
        return run_until_signalled(sandbox.server, first)
    finally:
        sandbox._running = False
        sandbox.stop()
