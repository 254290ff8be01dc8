"""Parsers of the mail-client subcommands (Regarding categories, native messaging host, add-ons).

Kept apart from ``cli.py`` so that file only calls :func:`add_commands`; handlers are named as
``module:function`` strings and imported only when their command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

Command = Callable[[str, str, str], argparse.ArgumentParser]


def add_commands(sub: argparse._SubParsersAction, command: Command) -> None:  # type: ignore[type-arg]
    rg = command("regarding", "Regarding categories: pinned records any mail client can use", "x")
    rg.set_defaults(handler="addin.commands_regarding:regarding")
    rg.add_argument("action", choices=["list", "pin", "unpin", "sync"])
    rg.add_argument("record", nargs="?", metavar="TABLE:ID", help="for pin/unpin, e.g. account:<guid>")
