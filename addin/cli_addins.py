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

    nh = command("native-host", "the native messaging host Thunderbird starts (reads stdin)", "x")
    nh.set_defaults(handler="addin.native.host:main")
    nh.add_argument(
        "caller", nargs="*", help="the host manifest's path and the add-on's id (from Thunderbird)"
    )
    nm = command("native-messaging", "register the native host with Thunderbird, or remove it", "x")
    nm.set_defaults(handler="addin.commands_native:native_messaging")
    nm.add_argument("action", choices=["register", "remove", "status"])
    tb = command("thunderbird-addon", "the Thunderbird add-on (build the .xpi)", "x")
    tb.set_defaults(handler="addin.native.xpi:main")
    tb.add_argument("action", choices=["build"])
    tb.add_argument(
        "--output", "-o", metavar="FILE", help="where to write the .xpi (default: ./track-in-crm-VERSION.xpi)"
    )
    ol = command("outlook-addin", "the Outlook add-in: its manifest, or its files to host", "x")
    ol.set_defaults(handler="addin.outlook_addin:main")
    ol.add_argument("action", choices=["manifest", "files"])
    ol.add_argument("--base-url", metavar="URL", help="HTTPS folder where the add-in's files are hosted")
    ol.add_argument("--full", action="store_true", help="the task pane manifest (ReadWriteMailbox)")
    ol.add_argument("--output", "-o", metavar="PATH", help="manifest file, or folder for 'files'")
