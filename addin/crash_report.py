"""The last line of defence: an unexpected exception becomes a short message and a crash report.

Expected failures are ``BridgeError``s and are shown as such (exit 2).  Anything else is a
bug: the user gets one readable line and the path of a report holding the traceback (with
every secret masked, private to the user), never the traceback itself; exit 3.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

from addin import __version__, paths
from addin.credentials import redact

EXIT_UNEXPECTED = 3


def write_crash_report(exc: BaseException, argv: list[str] | None = None) -> Path | None:
    """Write the report in the log folder (or the temporary folder); None if neither is writable."""
    now = datetime.now(UTC)
    body = "\n".join(
        [
            f"CRM Bridge {__version__} crash report",
            f"time: {now.isoformat(timespec='seconds')}",
            f"python: {platform.python_version()} on {platform.platform()}",
            f"command: {redact(' '.join(argv if argv is not None else sys.argv))}",
            "",
            redact("".join(traceback.format_exception(exc))),
        ]
    )
    name = f"crash-{now:%Y%m%d-%H%M%S}-{os.getpid()}.txt"
    for folder in _candidate_folders():
        try:
            paths.ensure_private_dir(folder)
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body)
            return path
        except OSError:
            continue
    return None


def _candidate_folders() -> list[Path]:
    folders: list[Path] = []
    # A broken environment (no home folder) must not stop the report.
    with contextlib.suppress(Exception):
        folders.append(paths.log_dir())
    folders.append(Path(tempfile.gettempdir()) / f"crm-bridge-crash-{_user_tag()}")
    return folders


def _user_tag() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid else os.environ.get("USERNAME", "user")


def unexpected_failure(exc: BaseException, *, json_mode: bool, argv: list[str] | None = None) -> int:
    """Tell the user briefly, keep the details in a report, and return the exit code 3."""
    report = write_crash_report(exc, argv)
    where = (
        f"The details are in {report}; please attach that file when you report the problem."
        if report
        else "No crash report could be written (the log and temporary folders are not writable)."
    )
    message = f"Something unexpected went wrong ({type(exc).__name__}). {where}"
    try:
        if json_mode:
            document = {
                "error": {
                    "title": "Internal error",
                    "message": message,
                    "code": "internal",
                    "crash_report": str(report) if report else None,
                }
            }
            print(json.dumps(document, sort_keys=True), flush=True)
        print(f"crm-bridge: Internal error: {message}", file=sys.stderr, flush=True)
    except OSError:  # stdout or stderr closed: the exit code still tells
        pass
    return EXIT_UNEXPECTED
