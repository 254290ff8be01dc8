"""Logging: a rotating file in the user's log folder, with every secret masked."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from addin import paths
from addin.credentials import RedactingFilter

LOG_FILE = "crm-bridge.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def setup_logging(level: int = logging.INFO, *, log_dir: Path | None = None, console: bool = False) -> Path:
    """Install the file handler once; returns the log file's path."""
    folder = paths.ensure_private_dir(log_dir or paths.log_dir())
    path = folder / LOG_FILE
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path
    redaction = RedactingFilter()
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler.addFilter(redaction)
    root.addHandler(file_handler)
    if console:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        stream.addFilter(redaction)
        root.addHandler(stream)
    root.setLevel(min(root.level or level, level))
    # exchangelib logs request bodies at DEBUG; never let them into the file.
    logging.getLogger("exchangelib").setLevel(logging.WARNING)
    return path
