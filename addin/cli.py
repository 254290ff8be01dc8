"""``crm-bridge`` command line.

Each subcommand lives in its own module; this file only parses arguments and
dispatches, importing the module lazily so ``crm-bridge --help`` stays fast and the
sandboxes are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from addin import __version__
from addin.cli_output import UsageError, report_error
from addin.errors import BridgeError

TRAY_HELP = """\
Without a COMMAND, crm-bridge starts the tray app. Its options:
  --minimized          start in the tray only (how the login item starts it)
  --show WINDOW        open a window at start: track, outbox, activity or settings
  --profile NAME       use this profile instead of the active one
A second launch brings the running tray app forward.

Every everyday command takes --json: one JSON document on stdout; an error is
{"error": {"title": ..., "message": ..., "code": ...}} with exit code 2.
"""


class Parser(argparse.ArgumentParser):
    """argparse with errors in user words, raised as :class:`UsageError` (exit 2, JSON with --json)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(_user_words(message), command=self.prog)


def _user_words(message: str) -> str:
    text = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
    text = re.sub(
        r"invalid choice: '([^']*)' \(choose from (.*)\)",
        lambda m: f"'{m.group(1)}' is not one of {m.group(2).replace(chr(39), '')}",
        text,
    )
    # "invalid int value: 'x'" (a type= function's name) in words; validators named _x read as "x".
    kinds = {"int": "whole number", "float": "number"}
    text = re.sub(
        r"invalid (\w+) value: ",
        lambda m: f"expected a {kinds.get(m.group(1), m.group(1).strip('_').replace('_', ' '))}, got ",
        text,
    )
    text = text.replace("the following arguments are required:", "missing")
    text = text.replace("unrecognized arguments:", "unknown option or argument:")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a whole number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0..65535 (0 picks a free port)")
    return value


def _bounded(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} is a whole number, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what} is {low}..{high}, got {text[:40]}")
    return value


def limit(text: str) -> int:
    """A result count: at least 1 (0 or less would mean "nothing"), at most 10,000."""
    return _bounded(text, 1, 10_000, "a limit")


def count(text: str) -> int:
    """A count or a number of milliseconds for the sandboxes: 0..10,000."""
    return _bounded(text, 0, 10_000, "the value")


_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")


def guid(text: str) -> str:
    """A CRM record id (a GUID, with or without braces), normalised to lower case."""
    match = _GUID.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"an e-mail id is a GUID like 0f8fad5b-d9cb-469f-a165-70867728950e, got {text[:40]!r}"
        )
    return match.group(1).lower()


def _add_sandbox_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=0, help="TCP port; 0 picks a free one (default)")
    p.add_argument("--data", metavar="DIR", help="keep the SQLite data here (default: a temporary folder)")
    p.add_argument("--seed", choices=["demo", "empty"], default="demo", help="initial data (default demo)")
    p.add_argument("--latency-ms", type=count, default=0, metavar="N", help="delay every answer by N ms")
    p.add_argument("--json", action="store_true", help="print the addresses as one JSON line first")
    p.add_argument("-v", "--verbose", action="store_true", help="log one line per request")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="crm-bridge",
        description="Bridge your mailbox and Microsoft Dynamics 365 / Dataverse.",
        epilog=TRAY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"crm-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sandbox = sub.add_parser("sandbox", help="run a local stand-in server (CRM or mail)")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox", metavar="KIND", required=True)

    crm = sandbox_sub.add_parser("crm", help="a Dataverse Web API stand-in")
    _add_sandbox_common(crm)
    crm.add_argument("--throttle", metavar="N/SECONDS", help="answer 429 past N requests per SECONDS window")
    crm.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate from a throw-away local CA (its path is printed on stderr)",
    )
    crm.set_defaults(handler="addin.sandbox.crm.cli:main")

    mail = sandbox_sub.add_parser("mail", help="an Exchange (EWS) stand-in")
    _add_sandbox_common(mail)
    mail.add_argument(
        "--busy",
        type=count,
        default=0,
        metavar="N",
        help="answer the next N requests ErrorServerBusy",
    )
    mail.add_argument(
        "--transport-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="hold every sent message SECONDS in the sender's Outbox before it is delivered",
    )
    mail.add_argument(
        "--transport-outage",
        action="store_true",
        help="start with the transport down: sent mail waits in Outbox until the outage is ended "
        '(POST /_sandbox/faults {"transport_outage": false})',
    )
    mail.set_defaults(handler="addin.sandbox.mail.cli:main")

    demo = sub.add_parser("demo", help="both sandboxes with demo data, plus the bridge (tray with a display)")
    demo.add_argument("--headless", action="store_true", help="run a scripted walk-through, no UI")
    demo.add_argument("--json", action="store_true", help="print the walk-through's counts as JSON")
    demo.add_argument(
        "--mailbox",
        choices=["ews", "graph", "imap"],
        default="ews",
        help="ews: the Exchange sandbox over EWS (default); graph: the same over Microsoft Graph; "
        "imap: real Dovecot + SMTP (needs dovecot-imapd)",
    )
    demo.set_defaults(handler="addin.demo:main")

    purge = sub.add_parser("purge", help="list, then (--yes) remove all profiles, keyring entries and data")
    purge.add_argument("--yes", action="store_true", help="remove them (without it, only list)")
    purge.add_argument("--json", action="store_true", help="machine-readable output")
    purge.set_defaults(handler="addin.purge:main")

    auto = sub.add_parser("autostart", help="start the tray at login: on, off or status")
    auto.add_argument("state", choices=["on", "off", "status"])
    auto.add_argument("--json", action="store_true", help="machine-readable output")
    auto.set_defaults(handler="addin.autostart:main")

    upd = sub.add_parser("update-check", help="ask the release feed whether a newer version exists")
    upd.add_argument("--feed", metavar="URL", help="the release feed (default: the profile's setting)")
    upd.add_argument("--profile", help="profile name (default: the active one)")
    upd.add_argument("--json", action="store_true", help="machine-readable output")
    upd.set_defaults(handler="addin.updates:main")

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
    tr.add_argument(
        "--limit", type=limit, default=20, help="at most this many matches per folder (default 20)"
    )
    tr.add_argument("--regarding", metavar="TABLE:ID", help="e.g. account:<guid>")
    un = command("untrack", "remove the CRM link of messages", "untrack")
    un.add_argument("item_id", nargs="+", metavar="ITEM_ID", help="mailbox item id")
    un.add_argument("--delete", action="store_true", default=None, help="also delete the CRM e-mail")
    ob = command("outbox", "list the CRM outbox; --retry ID queues a failed e-mail again", "outbox")
    ob.add_argument("--retry", metavar="ACTIVITY_ID", type=guid)
    lg = command("log", "what the bridge did (the audit log)", "log")
    lg.add_argument("--limit", type=limit, default=50, help="at most this many entries (default 50)")
    lg.add_argument("--filter", metavar="TEXT")
    si = command("sign-in", "sign in with your Microsoft account (CRM online, Graph mailbox)", "sign_in")
    si.add_argument("--device-code", action="store_true", help="show a code to enter on another device")
    si.add_argument("--status", action="store_true", help="only show who is signed in")
    si.add_argument("--sign-out", action="store_true", help="forget the sign-in (the keyring cache)")
    cf = command("config", "profiles and credentials", "config")
    cf.add_argument(
        "action",
        metavar="ACTION",
        choices=["show", "set", "keys", "secret", "import-thunderbird"],
        help="show, set, keys, secret or import-thunderbird",
    )
    cf.add_argument(
        "values", nargs="*", metavar="VALUE", help="KEY=VALUE for 'set'; for 'secret': mailbox or crm"
    )
    cf.add_argument("--activate", action="store_true", help="make this profile the active one")
    cf.add_argument(
        "--profile-dir", metavar="DIR", help="import-thunderbird: this Thunderbird profile folder"
    )
    cf.add_argument("--account", type=int, metavar="N", help="import-thunderbird: the N-th account listed")
    from addin.cli_addins import add_commands  # the mail-client commands

    add_commands(sub, command)
    return parser


TRAY_OPTIONS = ("--minimized", "--show", "--profile", "--quit")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args_list
    _no_stray_log_lines()
    try:
        return _dispatch(args_list)
    except BridgeError as exc:
        return report_error(exc, as_json=as_json)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`crm-bridge log | head`): not a failure to report.  Point stdout
        # at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:
        # A bug: one line and the path of a crash report, never a traceback (exit 3).
        from addin.crash_report import unexpected_failure

        return unexpected_failure(exc, json_mode=as_json, argv=args_list)
    finally:
        _print_notices()


def _no_stray_log_lines() -> None:
    """Without a configured handler Python prints warnings raw on stderr ("last resort"); a
    command's output is its own lines only.  ``run`` and the tray set up real logging."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def _print_notices() -> None:
    """What loading the settings had to tell (a damaged file set aside), on stderr."""
    from addin.config import take_notices
    from addin.terminal_text import escape

    for notice in take_notices():
        print(f"crm-bridge: {escape(notice)}", file=sys.stderr)


def _tray(args_list: list[str]) -> int:
    """The tray app, after checking there is a desktop to show it on."""
    from addin.desktop import desktop_problem

    problem = desktop_problem()
    if problem is not None:
        raise problem
    from ui.app import main as tray_main

    return int(tray_main(args_list))


def _dispatch(args_list: list[str]) -> int:
    if len(args_list) > 1 and args_list[0] == "--json":
        # `crm-bridge --json status` reads as naturally as `crm-bridge status --json`.
        args_list = [*args_list[1:], "--json"]
    if args_list and args_list[0].split("=")[0] in TRAY_OPTIONS:
        # `crm-bridge --minimized` (the login item) and friends: options of the tray itself.
        return _tray(args_list)
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
        return _tray([])
    module_name, _, func_name = handler.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(args) or 0)
