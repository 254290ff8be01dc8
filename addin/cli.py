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

    demo = sub.add_parser("demo", help="both sandboxes with demo data, plus the bridge (tray with a display)")
    demo.add_argument("--headless", action="store_true", help="run a scripted walk-through, no UI")
    demo.add_argument("--json", action="store_true", help="print the walk-through's counts as JSON")
    demo.add_argument(
        "--mailbox", choices=["ews", "graph"], default="ews", help="mailbox backend (default: ews)"
    )
    demo.set_defaults(handler="addin.demo:main")

    def command(name: str, help_text: str, handler: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--profile", help="profile name (default: the active one)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=f"addin.commands:{handler}")
        return p

    command("run", "run the bridge without the tray", "run")
    command("status", "show the bridge's state", "status")
    tr = command("track", "track messages in the CRM", "track")
    tr.add_argument("--message-id", action="append", help="Internet Message-ID (repeatable)")
    tr.add_argument("--item-id", action="append", help="mailbox item id (repeatable)")
    tr.add_argument(
        "--search", metavar="TEXT", help="track the messages matching TEXT in Inbox and Sent Items"
    )
    tr.add_argument("--limit", type=int, default=20, help="at most this many matches per folder (default 20)")
    tr.add_argument("--regarding", metavar="TABLE:ID", help="e.g. account:<guid>")
    un = command("untrack", "remove the CRM link of messages", "untrack")
    un.add_argument("item_id", nargs="+", help="mailbox item id")
    un.add_argument("--delete", action="store_true", default=None, help="also delete the CRM e-mail")
    ob = command("outbox", "list the CRM outbox; --retry ID queues a failed e-mail again", "outbox")
    ob.add_argument("--retry", metavar="ACTIVITY_ID")
    lg = command("log", "what the bridge did (the audit log)", "log")
    lg.add_argument("--limit", type=int, default=50)
    lg.add_argument("--filter", metavar="TEXT")
    si = command("sign-in", "sign in with your Microsoft account (CRM online, Graph mailbox)", "sign_in")
    si.add_argument("--device-code", action="store_true", help="show a code to enter on another device")
    si.add_argument("--status", action="store_true", help="only show who is signed in")
    si.add_argument("--sign-out", action="store_true", help="forget the sign-in (the keyring cache)")
    cf = command("config", "profiles and credentials", "config")
    cf.add_argument("action", choices=["show", "set", "keys", "secret"])
    cf.add_argument("values", nargs="*", help="KEY=VALUE for 'set'; for 'secret': mailbox or crm")
    cf.add_argument("--activate", action="store_true", help="make this profile the active one")
    from addin.cli_addins import add_commands  # the mail-client commands

    add_commands(sub, command)
    return parser


TRAY_OPTIONS = ("--minimized", "--show", "--profile")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0].split("=")[0] in TRAY_OPTIONS:
        # `crm-bridge --minimized` (the login item) and friends: options of the tray itself.
        from ui.app import main as tray_main

        return int(tray_main(args_list))
    parser = build_parser()
    args, extra = parser.parse_known_args(args_list)
    if extra:
        # argparse cannot interleave options with `config set`'s KEY=VALUE list; take them here.
        pairs = all("=" in e and not e.startswith("-") for e in extra)
        if getattr(args, "command", None) == "config" and pairs:
            args.values = [*args.values, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    handler = getattr(args, "handler", None)
    if getattr(args, "command", None) == "config" and args.action == "secret":
        args.kind = args.values[0] if args.values else ""
    if handler is None:
        # No subcommand: the tray app.
        from ui.app import main as tray_main

        return int(tray_main([]))
    module_name, _, func_name = handler.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(func(args) or 0)
    except BridgeError as exc:
        print(f"crm-bridge: {exc.title}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
