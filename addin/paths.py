"""Where the bridge keeps config, data and logs (platformdirs; CRM_BRIDGE_HOME overrides all)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "crm-bridge"


def _home_override() -> Path | None:
    value = os.environ.get("CRM_BRIDGE_HOME")
    return Path(value) if value else None


def config_dir() -> Path:
    home = _home_override()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    home = _home_override()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    home = _home_override()
    return home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create a folder only the user can read: the journal holds mail subjects and addresses."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
