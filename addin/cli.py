"""``crm-bridge`` command line.

Each subcommand lives in its own module; this file only parses arguments and
dispatches, importing the module lazily so ``crm-bridge --help`` stays fast and the
sandboxes are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from addin import __version__
from addin.errors import BridgeError


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("port must be 0..65535 (0 picks a free port)")
    return value


def _add_sandbox_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=0, help="TCP port; 0 picks a free one (default)")
    p.add_argument("--data", metavar="DIR", help="keep the SQLite data here (default: a temporary folder)")
    p.add_argument("--seed", choices=["demo", "empty"], default="demo", help="initial data (default demo)")
    p.add_argument("--latency-ms", type=int, default=0, metavar="N", help="delay every answer by N ms")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-bridge",
        description="Bridge your mailbox and Microsoft Dynamics 365 / Dataverse.",
    )
    parser.add_argument("--version", action="version", version=f"crm-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sandbox = sub.add_parser("sandbox", help="run a local stand-in server (CRM or mail)")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox", metavar="KIND", required=True)

    crm = sandbox_sub.add_parser("crm", help="a Dataverse Web API stand-in")
    _add_sandbox_common(crm)
    crm.add_argument("--throttle", metavar="N/SECONDS", help="answer 429 past N requests per SECONDS window")
    crm.set_defaults(handler="addin.sandbox.crm.cli:main")

    mail = sandbox_sub.add_parser("mail", help="an Exchange (EWS) stand-in")
    _add_sandbox_common(mail)
    mail.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="answer the next N requests ErrorServerBusy",
    )
    mail.set_defaults(handler="addin.sandbox.mail.cli:main")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    module_name, _, func_name = handler.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(func(args) or 0)
    except BridgeError as exc:
        print(f"crm-bridge: {exc.title}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
