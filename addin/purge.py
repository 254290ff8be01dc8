"""``crm-bridge purge``: what an uninstall with ``--purge`` removes, listed first, then removed.

The installers call this before they delete the program, because only the program knows
where its settings, journal and logs live on this system and which keyring entries each
profile owns.  Without ``--yes`` it only lists; nothing is removed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addin import paths
from addin.config import Config
from addin.credentials import CredentialStore, has_secure_keyring
from addin.errors import ConfigError

# Keyring entries a profile may own: (kind, name, sharded blob?).  The mailbox and CRM
# secrets and the Microsoft sign-in cache (addin/signin.py).
KEYRING_ENTRIES: tuple[tuple[str, str, bool], ...] = (
    ("mailbox", "secret", False),
    ("crm", "secret", False),
    ("msal-cache", "blob", True),
)


@dataclass
class PurgePlan:
    profiles: list[str]
    folders: list[Path]
    removed_keyring_entries: int = 0
    removed_folders: list[Path] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "profiles": self.profiles,
            "folders": [str(f) for f in self.folders],
            "removed_keyring_entries": self.removed_keyring_entries,
            "removed_folders": [str(f) for f in self.removed_folders],
        }


def plan() -> PurgePlan:
    """The profiles (with the active one even if it was never saved) and the existing folders."""
    config = Config.load()
    names = sorted(set(config.profiles) | {config.active})
    folders = []
    for folder in (paths.config_dir(), paths.data_dir(), paths.log_dir()):
        if folder.exists() and folder not in folders:
            folders.append(folder)
    return PurgePlan(profiles=names, folders=folders)


def purge() -> PurgePlan:
    """Remove every profile's keyring entries, then the folders.

    The keyring goes first: if it is locked or missing this raises before any file is
    touched, so the user can unlock it and run the uninstall again with nothing lost.
    """
    done = plan()
    # With no secure keyring on the system none can hold entries; a locked one still raises.
    profiles = done.profiles if has_secure_keyring() else []
    for name in profiles:
        store = CredentialStore(name)
        for kind, entry, blob in KEYRING_ENTRIES:
            removed = store.delete_blob(kind, entry) if blob else store.delete(kind, entry)
            done.removed_keyring_entries += int(removed)
    for folder in done.folders:
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigError(f"Cannot remove {folder}: {exc.strerror or exc}") from None
        done.removed_folders.append(folder)
    return done


def main(args: Any) -> int:
    if not args.yes:
        listed = plan()
        if args.json:
            print(json.dumps(listed.as_json(), sort_keys=True))
            return 0
        print("Profiles (with their keyring entries):", ", ".join(listed.profiles))
        for folder in listed.folders:
            print(f"Folder: {folder}")
        print("Nothing was removed; add --yes to remove all of the above.")
        return 0
    done = purge()
    if args.json:
        print(json.dumps(done.as_json(), sort_keys=True))
    else:
        entries = done.removed_keyring_entries
        print(
            f"Removed {len(done.profiles)} profile(s), {entries} keyring entr{'y' if entries == 1 else 'ies'}"
            f" and {len(done.removed_folders)} folder(s)."
        )
    return 0
