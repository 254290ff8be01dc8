"""``crm-bridge sandbox crm``: run the sandbox CRM until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from addin.sandbox.common import run_until_signalled, set_request_log
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
        raise SystemExit(f"crm-bridge sandbox crm: {exc}") from None
    if sandbox.ca_pem is not None:
        # The base URL stays the first line on stdout; clients read the CA from stderr's note.
        print(f"crm-bridge sandbox crm: HTTPS; trust the CA certificate {sandbox.ca_pem}", file=sys.stderr)
    sandbox._running = True  # run_until_signalled starts and stops the server
    try:
        return run_until_signalled(sandbox.server, sandbox.base_url)
    finally:
        sandbox._running = False
        sandbox.stop()
