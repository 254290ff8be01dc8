"""How every ``crm-bridge`` command speaks: plain sentences and aligned tables for people,
one JSON document for scripts, and errors in both shapes.

Plain output goes to stdout; a plain error goes to stderr as ``title: message``.  With
``--json`` both success and error are one JSON document on stdout, so a script reads
one stream; an error is ``{"error": {"title", "message", "code"}}`` with exit code 2.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TextIO

from addin.errors import BridgeError
from addin.terminal_text import escape

EXIT_ERROR = 2


class UsageError(BridgeError):
    """The command line itself is wrong (unknown option, bad number, missing argument)."""

    title = "Command line not understood"

    def __init__(self, message: str, *, command: str = "crm-bridge") -> None:
        super().__init__(message)
        self.command = command


def terminal_text(text: object) -> str:
    """Text that came from a mailbox or the CRM, made safe to print on a terminal."""
    return escape(text)


# -- values --------------------------------------------------------------------------------


def to_plain(value: Any) -> Any:
    """Dataclasses, enums and datetimes as JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: to_plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def wants_json(args: Any) -> bool:
    return bool(getattr(args, "json", False))


def emit(args: Any, value: Any, text: str) -> None:
    """One command's answer: ``value`` as JSON with ``--json``, else ``text``."""
    if wants_json(args):
        print(json.dumps(to_plain(value), sort_keys=True), flush=True)
    else:
        print(text, flush=True)


# -- words -----------------------------------------------------------------------------------


def local_time(moment: datetime | None, *, now: datetime | None = None) -> str:
    """A moment in the user's own time zone: ``14:03`` today, else ``3 Mar 14:03`` or with the year."""
    if moment is None:
        return "never"
    here = moment.astimezone()
    today = (now or datetime.now().astimezone()).astimezone()
    if here.date() == today.date():
        return here.strftime("%H:%M")
    if here.year == today.year:
        return f"{here.day} {here:%b %H:%M}"
    return f"{here.day} {here:%b %Y %H:%M}"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def words(code: str) -> str:
    """``send_failed`` → ``Send failed``: an internal code read as words."""
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def quoted(subject: str) -> str:
    return f"“{terminal_text(subject)}”" if subject else "(no subject)"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns aligned to their widest cell; the last column is not padded."""
    cells = [[terminal_text(c) for c in headers], *[[terminal_text(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def pairs(rows: Sequence[tuple[str, object]]) -> str:
    """Label/value lines with the values aligned."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {terminal_text(value)}" for label, value in rows)


# -- errors ----------------------------------------------------------------------------------


def error_code(exc: BridgeError) -> str:
    """A stable machine name for the kind of error: ``ConfigError`` → ``config``."""
    name = type(exc).__name__.removesuffix("Error") or "bridge"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_document(exc: BridgeError) -> dict[str, dict[str, str]]:
    return {"error": {"title": exc.title, "message": exc.message, "code": error_code(exc)}}


def report_error(exc: BridgeError, *, as_json: bool, stderr: TextIO | None = None) -> int:
    """Tell the user what went wrong, in the shape they asked for; the exit code to use."""
    if as_json:
        print(json.dumps(error_document(exc), sort_keys=True), flush=True)
    else:
        err = stderr or sys.stderr
        print(f"{exc.title}: {terminal_text(exc.message)}", file=err)
        if isinstance(exc, UsageError):
            print(f"See '{exc.command} --help'.", file=err)
    return EXIT_ERROR
