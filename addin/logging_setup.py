"""Logging: a rotating file in the user's log folder, with every secret masked."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path
from typing import Any

from addin import paths
from addin.credentials import RedactingFilter
from addin.terminal_text import escape

LOG_FILE = "crm-bridge.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (the current one and each new one) is private to the user."""

    def _open(self) -> Any:
        paths.private_file(Path(self.baseFilename))
        return super()._open()


class ConsoleFormatter(logging.Formatter):
    """Log lines for a terminal: control characters from mail or CRM text escaped, and no
    traceback (it is in the log file, masked); the line says where to look instead."""

    def __init__(self, log_path: Path) -> None:
        super().__init__("%(levelname)s %(message)s")
        self._log_path = log_path

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname} {escape(record.getMessage())}"
        if record.exc_info or record.exc_text:
            line += f" (details in {self._log_path})"
        return line


def setup_logging(level: int = logging.INFO, *, log_dir: Path | None = None, console: bool = False) -> Path:
    """Install the file handler once; returns the log file's path."""
    folder = paths.ensure_private_dir(log_dir or paths.log_dir())
    path = folder / LOG_FILE
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path
    redaction = RedactingFilter()
    for old in [path, *folder.glob(LOG_FILE + ".*")]:
        paths.private_file(old)  # files left readable by an older version are tightened
    file_handler = PrivateRotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler.addFilter(redaction)
    root.addHandler(file_handler)
    if console:
        stream = logging.StreamHandler()
        stream.setFormatter(ConsoleFormatter(path))
        stream.addFilter(redaction)
        root.addHandler(stream)
    root.setLevel(min(root.level or level, level))
    # exchangelib logs request bodies at DEBUG; never let them into the file.
    logging.getLogger("exchangelib").setLevel(logging.WARNING)
    return path
