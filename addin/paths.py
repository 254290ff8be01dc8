"""Where the bridge keeps config, data and logs (platformdirs; CRM_BRIDGE_HOME overrides all)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from addin.errors import BridgeError

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


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# Windows: the folders live under the user's profile, whose ACLs already keep other users
# out; POSIX modes mean little there, so only POSIX systems are tightened here.
_POSIX = os.name == "posix"


class PrivacyError(BridgeError):
    title = "Private folder not usable"


def ensure_private_dir(path: Path, *, root: Path | None = None) -> Path:
    """Create a folder only the user can read: the journal holds mail subjects and addresses.

    An existing folder with looser permissions (say 0755 from an older version or a
    restored backup) is tightened to 0700, as are the folders between ``root`` and
    ``path``.  A folder that cannot be created or fixed is a :class:`PrivacyError` naming it.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    except OSError as exc:
        raise PrivacyError(
            f"Cannot create the folder {path}: {exc.strerror or exc}. "
            f"Fix: make {path.parent} writable by your user account, "
            "or set CRM_BRIDGE_HOME to another folder."
        ) from None
    folders = [path]
    if root is not None and path.is_relative_to(root):
        folders += [p for p in path.parents if p.is_relative_to(root)]
    for folder in folders:
        fix_mode(folder, PRIVATE_DIR)
    return path


def fix_mode(path: Path, mode: int) -> None:
    """Tighten ``path`` to ``mode`` when group or others may read it or the user may not write it."""
    if not _POSIX:
        return
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PrivacyError(f"Cannot check the permissions of {path}: {exc.strerror or exc}.") from None
    if current == mode:
        return
    try:
        os.chmod(path, mode)
    except OSError as exc:
        raise PrivacyError(
            f"{path} is readable by other users or not writable by you ({current:o}) and cannot be fixed: "
            f"{exc.strerror or exc}. Fix: chmod {mode:o} '{path}' (it must belong to your user account)."
        ) from None


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and is readable and writable by the user only."""
    if path.exists():
        fix_mode(path, PRIVATE_FILE)
        return path
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        os.close(fd)
    except OSError as exc:
        raise PrivacyError(
            f"Cannot write {path}: {exc.strerror or exc}. "
            f"Fix: make {path.parent} writable by your user account."
        ) from None
    return path
