"""Start at login: written where each desktop looks, and read back from the real files."""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

import pytest

from addin import autostart
from addin.autostart import RUN_VALUE, Autostart
from addin.errors import ConfigError


def test_xdg_entry_round_trip(isolated_dirs: Path) -> None:
    auto = Autostart(platform="linux")
    path = auto.desktop_file()
    assert path == Path(os.environ["XDG_CONFIG_HOME"]) / "autostart" / "crm-bridge.desktop"
    assert not auto.is_enabled()

    auto.set_enabled(True, ["/opt/crm bridge/crm-bridge"])
    text = path.read_text()
    assert "[Desktop Entry]" in text
    assert "Exec='/opt/crm bridge/crm-bridge'" in text  # quoted for the desktop's shell-like parser
    assert auto.is_enabled()

    auto.set_enabled(False)
    assert not path.exists()
    assert not auto.is_enabled()
    auto.set_enabled(False)  # disabling twice is fine


@pytest.mark.parametrize("line", ["Hidden=true", "X-GNOME-Autostart-enabled=false"])
def test_xdg_entry_disabled_by_the_desktop_reads_as_off(line: str) -> None:
    auto = Autostart(platform="linux")
    auto.set_enabled(True, ["crm-bridge"])
    path = auto.desktop_file()
    path.write_text(path.read_text().replace("X-GNOME-Autostart-enabled=true\n", "") + line + "\n")
    assert not auto.is_enabled()


def test_module_functions_use_this_platform(isolated_dirs: Path) -> None:
    autostart.set_enabled(True, ["crm-bridge"])
    assert autostart.is_enabled()
    autostart.set_enabled(False)
    assert not autostart.is_enabled()


def test_default_command_is_runnable() -> None:
    cmd = autostart.default_command()
    assert Path(cmd[0]).exists()


def test_launch_agent_round_trip(tmp_path: Path) -> None:
    auto = Autostart(platform="darwin", home=tmp_path)
    assert not auto.is_enabled()
    auto.set_enabled(True, ["/Applications/CRM Bridge.app/Contents/MacOS/crm-bridge"])
    data = plistlib.loads(auto.plist_file().read_bytes())
    assert data["RunAtLoad"] is True
    assert data["ProgramArguments"] == ["/Applications/CRM Bridge.app/Contents/MacOS/crm-bridge"]
    assert auto.is_enabled()
    data["Disabled"] = True
    auto.plist_file().write_bytes(plistlib.dumps(data))
    assert not auto.is_enabled()
    auto.set_enabled(False)
    assert not auto.plist_file().exists()


def test_broken_launch_agent_is_a_config_error(tmp_path: Path) -> None:
    auto = Autostart(platform="darwin", home=tmp_path)
    auto.plist_file().parent.mkdir(parents=True)
    auto.plist_file().write_bytes(b"not a plist")
    with pytest.raises(ConfigError):
        auto.is_enabled()


class DictRegistry:
    """Stands in for HKCU\\...\\Run: winreg exists only on Windows."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


def test_run_key_quotes_paths_with_spaces() -> None:
    reg = DictRegistry()
    auto = Autostart(platform="win32", registry=reg)
    assert not auto.is_enabled()
    auto.set_enabled(True, [r"C:\Users\Ann\AppData\Local\Programs\CRM Bridge\crm-bridge.exe"])
    assert reg.values[RUN_VALUE] == r'"C:\Users\Ann\AppData\Local\Programs\CRM Bridge\crm-bridge.exe"'
    assert auto.is_enabled()
    auto.set_enabled(False)
    assert not auto.is_enabled()


def test_unwritable_location_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))  # a file where a folder must go
    with pytest.raises(ConfigError, match="start-at-login"):
        Autostart(platform="linux").set_enabled(True, ["crm-bridge"])
