"""Registering ``crm-bridge native-host`` with Thunderbird, per user, without an administrator.

Where Thunderbird looks (Gecko ``NativeManifests.sys.mjs``; reference mail-clients.md §C2):

- Linux: ``~/.mozilla/native-messaging-hosts/<name>.json`` (not ``~/.thunderbird``);
- macOS: ``~/Library/Mozilla/NativeMessagingHosts/<name>.json`` (Firefox uses
  ``~/Library/Application Support/Mozilla/…``; Thunderbird does not);
- Windows: registry ``HKCU\\Software\\Mozilla\\NativeMessagingHosts\\<name>``, default value =
  the manifest's path (the manifest itself lives in the app's data folder).

The manifest's ``path`` must be absolute and name an executable that takes no extra
arguments, so registration also writes a small launcher (a shell script, or a ``.bat`` on
Windows) that runs ``crm-bridge native-host`` with this Python.  Every OS difference sits
behind the constructor's ``system``, ``home`` and ``winreg`` seams, so each is tested anywhere.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from addin import paths
from addin.errors import ConfigError

HOST_NAME = "crm_bridge"  # ^\w+(\.\w+)*$, equal to the manifest's file name
ADDON_ID = "track-in-crm@crm-bridge"
DESCRIPTION = "CRM Bridge: track mail in Microsoft Dynamics 365 / Dataverse"
REGISTRY_KEY = rf"Software\Mozilla\NativeMessagingHosts\{HOST_NAME}"


@dataclass(frozen=True)
class Registration:
    manifest: Path
    launcher: Path
    registry_key: str | None = None  # Windows only


class HostRegistry:
    def __init__(
        self,
        *,
        system: str | None = None,
        home: Path | None = None,
        data_dir: Path | None = None,
        winreg: Any = None,
        command: list[str] | None = None,
        addon_ids: tuple[str, ...] = (ADDON_ID,),
    ) -> None:
        import platform

        self.system = system or platform.system()
        self.home = home or Path.home()
        self.data_dir = data_dir or paths.data_dir()
        self._winreg = winreg
        self.addon_ids = addon_ids
        if command is None:
            frozen = getattr(sys, "frozen", False)
            command = (
                [sys.executable, "native-host"] if frozen else [sys.executable, "-m", "addin", "native-host"]
            )
        self.command = command

    @property
    def winreg(self) -> Any:
        if self._winreg is None:
            import winreg  # type: ignore[import-not-found,unused-ignore]

            self._winreg = winreg
        return self._winreg

    def manifest_path(self) -> Path:
        if self.system == "Linux":
            return self.home / ".mozilla" / "native-messaging-hosts" / f"{HOST_NAME}.json"
        if self.system == "Darwin":
            return self.home / "Library" / "Mozilla" / "NativeMessagingHosts" / f"{HOST_NAME}.json"
        if self.system == "Windows":
            return self.data_dir / "native-messaging" / f"{HOST_NAME}.json"
        raise ConfigError(f"Native messaging is not supported on {self.system}.", title="Not supported")

    def launcher_path(self) -> Path:
        name = "crm-bridge-native-host" + (".bat" if self.system == "Windows" else "")
        return self.data_dir / "native-messaging" / name

    def _launcher_text(self) -> str:
        home = os.environ.get("CRM_BRIDGE_HOME")
        if self.system == "Windows":
            lines = ["@echo off"]
            if home:
                lines.append(f'set "CRM_BRIDGE_HOME={home}"')
            args = " ".join(f'"{part}"' if " " in part or not part else part for part in self.command)
            lines.append(f"{args} %*")
            return "\r\n".join(lines) + "\r\n"
        lines = ["#!/bin/sh", "# Started by Thunderbird for the Track in CRM add-on; written by crm-bridge."]
        if home:
            lines.append(f"export CRM_BRIDGE_HOME={shlex.quote(home)}")
        lines.append("exec " + " ".join(shlex.quote(part) for part in self.command) + ' "$@"')
        return "\n".join(lines) + "\n"

    def manifest(self) -> dict[str, Any]:
        return {
            "name": HOST_NAME,
            "description": DESCRIPTION,
            "path": str(self.launcher_path()),
            "type": "stdio",
            "allowed_extensions": list(self.addon_ids),
        }

    def register(self) -> Registration:
        launcher = self.launcher_path()
        paths.ensure_private_dir(launcher.parent)
        launcher.write_text(self._launcher_text(), encoding="utf-8", newline="")
        launcher.chmod(0o700)
        manifest = self.manifest_path()
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(self.manifest(), indent=2) + "\n", encoding="utf-8")
        key_name = None
        if self.system == "Windows":
            reg = self.winreg
            with reg.CreateKey(reg.HKEY_CURRENT_USER, REGISTRY_KEY) as key:
                reg.SetValueEx(key, "", 0, reg.REG_SZ, str(manifest))
            key_name = rf"HKCU\{REGISTRY_KEY}"
        return Registration(manifest, launcher, key_name)

    def status(self) -> Registration | None:
        """The registration when Thunderbird would find our host, else None."""
        manifest = self.manifest_path()
        if self.system == "Windows":
            reg = self.winreg
            try:
                with reg.OpenKey(reg.HKEY_CURRENT_USER, REGISTRY_KEY) as key:
                    value, _ = reg.QueryValueEx(key, "")
            except OSError:
                return None
            if Path(str(value)) != manifest:
                return None
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        launcher = Path(str(data.get("path") or ""))
        if data.get("name") != HOST_NAME or not launcher.is_file():
            return None
        return Registration(manifest, launcher, rf"HKCU\{REGISTRY_KEY}" if self.system == "Windows" else None)

    def unregister(self) -> bool:
        """Remove the manifest, the launcher and (Windows) the registry key; True if anything was there."""
        removed = False
        if self.system == "Windows":
            reg = self.winreg
            try:
                reg.DeleteKey(reg.HKEY_CURRENT_USER, REGISTRY_KEY)
                removed = True
            except OSError:
                pass
        for path in (self.manifest_path(), self.launcher_path()):
            try:
                path.unlink()
                removed = True
            except FileNotFoundError:
                pass
        return removed
