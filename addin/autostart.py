"""Start at login, owned by the app: an XDG autostart entry, the HKCU Run key or a LaunchAgent.

:func:`is_enabled` always reads the real state back from the system, so a user who
removes the entry by hand (or a desktop's own startup manager) is reflected in the UI.
"""

from __future__ import annotations

import json
import os
import plistlib
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from addin.errors import ConfigError

APP_ID = "crm-bridge"
RUN_VALUE = "CRM Bridge"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
LAUNCH_AGENT = "org.crm-bridge.tray"


def default_command(platform: str | None = None, executable: str | None = None) -> list[str]:
    """How to start the tray: the installed program next to this interpreter, else ``-m addin``.

    In the frozen Windows build ``crm-bridge-tray.exe`` is the windowed twin of the console
    ``crm-bridge.exe``: a login item must not open a console window.
    """
    exe = Path(executable or sys.executable)
    names = (
        ("crm-bridge-tray.exe", "crm-bridge.exe", "crm-bridge")
        if (platform or sys.platform) == "win32"
        else ("crm-bridge",)
    )
    for name in names:
        candidate = exe.with_name(name)
        if candidate.exists():
            return [str(candidate)]
    return [str(exe), "-m", "addin"]


class Registry(Protocol):
    """The three HKCU Run operations, so the Windows path can be exercised elsewhere."""

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


if sys.platform == "win32":
    import winreg

    class WinRegistry:
        """HKEY_CURRENT_USER\\...\\Run through :mod:`winreg` (per user, no admin rights)."""

        def get(self, name: str) -> str | None:
            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                    value, _kind = winreg.QueryValueEx(key, name)
            except FileNotFoundError:
                return None
            return str(value)

        def set(self, name: str, value: str) -> None:
            with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)

        def delete(self, name: str) -> None:
            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                    winreg.DeleteValue(key, name)
            except FileNotFoundError:
                pass

else:

    class WinRegistry:
        """Elsewhere there is no registry; asking for one is a configuration mistake."""

        def get(self, name: str) -> str | None:
            raise ConfigError("The Windows registry is only available on Windows.")

        def set(self, name: str, value: str) -> None:
            raise ConfigError("The Windows registry is only available on Windows.")

        def delete(self, name: str) -> None:
            raise ConfigError("The Windows registry is only available on Windows.")


def _windows_command_line(command: Sequence[str]) -> str:
    # Run-key values are parsed like a command line: quote every part that has a space.
    return " ".join(f'"{part}"' if " " in part or not part else part for part in command)


class Autostart:
    """Start-at-login for one platform; ``platform`` and ``home`` are injectable for tests."""

    def __init__(
        self,
        platform: str | None = None,
        home: Path | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.platform = platform or sys.platform
        self.home = home or Path.home()
        self._registry = registry

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = WinRegistry()
        return self._registry

    # -- where ----------------------------------------------------------------------
    def desktop_file(self) -> Path:
        base = os.environ.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return Path(base) / "autostart" / f"{APP_ID}.desktop"

    def plist_file(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT}.plist"

    # -- read -----------------------------------------------------------------------
    def is_enabled(self) -> bool:
        try:
            if self.platform == "win32":
                return self.registry.get(RUN_VALUE) is not None
            if self.platform == "darwin":
                path = self.plist_file()
                if not path.exists():
                    return False
                with path.open("rb") as fh:
                    data = plistlib.load(fh)
                return bool(data.get("RunAtLoad")) and not data.get("Disabled", False)
            return self._desktop_enabled(self.desktop_file())
        except (OSError, ValueError, plistlib.InvalidFileException) as exc:
            raise ConfigError(f"Cannot read the start-at-login setting: {exc}") from None

    @staticmethod
    def _desktop_enabled(path: Path) -> bool:
        if not path.exists():
            return False
        in_entry = False
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = raw.strip()
            if line.startswith("["):
                in_entry = line == "[Desktop Entry]"
                continue
            if not in_entry or "=" not in line:
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip().lower()
            # Desktops mark a disabled entry in either of these two ways.
            if key == "Hidden" and value == "true":
                return False
            if key == "X-GNOME-Autostart-enabled" and value == "false":
                return False
        return True

    # -- write ----------------------------------------------------------------------
    def set_enabled(self, enabled: bool, command: Sequence[str] | None = None) -> None:
        cmd = list(command) if command is not None else default_command()
        try:
            if self.platform == "win32":
                if enabled:
                    self.registry.set(RUN_VALUE, _windows_command_line(cmd))
                else:
                    self.registry.delete(RUN_VALUE)
            elif self.platform == "darwin":
                self._write_or_remove(self.plist_file(), self._plist(cmd) if enabled else None)
            else:
                self._write_or_remove(self.desktop_file(), self._desktop(cmd).encode() if enabled else None)
        except OSError as exc:
            raise ConfigError(f"Cannot change the start-at-login setting: {exc.strerror or exc}") from None

    @staticmethod
    def _write_or_remove(path: Path, content: bytes | None) -> None:
        if content is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)

    @staticmethod
    def _desktop(command: Sequence[str]) -> str:
        return (
            "[Desktop Entry]\n"
            "Type=Application\n"
            "Name=CRM Bridge\n"
            "Comment=Bridge your mailbox and your CRM\n"
            f"Exec={shlex.join(command)}\n"
            "Icon=mail-send-receive\n"
            "Terminal=false\n"
            "X-GNOME-Autostart-enabled=true\n"
        )

    @staticmethod
    def _plist(command: Sequence[str]) -> bytes:
        return plistlib.dumps(
            {
                "Label": LAUNCH_AGENT,
                "ProgramArguments": list(command),
                "RunAtLoad": True,
                "ProcessType": "Interactive",
            }
        )


def is_enabled() -> bool:
    return Autostart().is_enabled()


def set_enabled(enabled: bool, command: Sequence[str] | None = None) -> None:
    Autostart().set_enabled(enabled, command)


def main(args: Any) -> int:
    """``crm-bridge autostart on|off|status``: the installers use this, so the app owns the entry."""
    auto = Autostart()
    if args.state in ("on", "off"):
        command = [*default_command(), "--minimized"] if args.state == "on" else None
        auto.set_enabled(args.state == "on", command)
    enabled = auto.is_enabled()
    if args.json:
        print(json.dumps({"enabled": enabled}))
    else:
        print(f"Start at login is {'on' if enabled else 'off'}.")
    return 0
