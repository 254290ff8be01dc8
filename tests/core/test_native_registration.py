"""Host manifest registration and removal, per OS, through the registry's seams (system, home,
winreg): the places are Thunderbird's (reference mail-clients.md §C2), not Firefox's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from addin.native.registration import ADDON_ID, HOST_NAME, REGISTRY_KEY, HostRegistry


class FakeWinreg:
    """The few winreg calls registration makes (same names), over a dict; the real module is Windows-only."""

    HKEY_CURRENT_USER = "HKCU"
    REG_SZ = 1

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, Any]] = {}

    class _Key:
        def __init__(self, owner: FakeWinreg, path: tuple[str, str]) -> None:
            self.owner, self.path = owner, path

        def __enter__(self) -> FakeWinreg._Key:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def CreateKey(self, root: str, sub: str) -> _Key:
        self.values.setdefault((root, sub), {})
        return self._Key(self, (root, sub))

    def OpenKey(self, root: str, sub: str) -> _Key:
        if (root, sub) not in self.values:
            raise FileNotFoundError(sub)
        return self._Key(self, (root, sub))

    def SetValueEx(self, key: _Key, name: str, reserved: int, kind: int, value: str) -> None:
        assert kind == self.REG_SZ and reserved == 0
        self.values[key.path][name] = value

    def QueryValueEx(self, key: _Key, name: str) -> tuple[str, int]:
        return self.values[key.path][name], self.REG_SZ

    def DeleteKey(self, root: str, sub: str) -> None:
        if self.values.pop((root, sub), None) is None:
            raise FileNotFoundError(sub)


@pytest.mark.parametrize(
    ("system", "where"),
    [
        ("Linux", ".mozilla/native-messaging-hosts/crm_bridge.json"),
        ("Darwin", "Library/Mozilla/NativeMessagingHosts/crm_bridge.json"),
    ],
)
def test_register_and_remove_on_unix_like_systems(tmp_path: Path, system: str, where: str) -> None:
    registry = HostRegistry(system=system, home=tmp_path / "home", data_dir=tmp_path / "data")
    assert registry.status() is None
    reg = registry.register()
    assert reg.manifest == tmp_path / "home" / where and reg.registry_key is None
    manifest = json.loads(reg.manifest.read_text())
    assert manifest == {
        "name": HOST_NAME,
        "description": manifest["description"],
        "path": str(reg.launcher),
        "type": "stdio",
        "allowed_extensions": [ADDON_ID],
    }
    assert Path(manifest["path"]).is_absolute() and os.access(reg.launcher, os.X_OK)
    assert registry.status() == reg
    assert registry.unregister() is True
    assert not reg.manifest.exists() and not reg.launcher.exists() and registry.status() is None
    assert registry.unregister() is False


def test_register_and_remove_on_windows(tmp_path: Path) -> None:
    reg_module = FakeWinreg()
    registry = HostRegistry(
        system="Windows", home=tmp_path / "home", data_dir=tmp_path / "data", winreg=reg_module
    )
    reg = registry.register()
    assert reg.registry_key == rf"HKCU\{REGISTRY_KEY}"
    assert REGISTRY_KEY == r"Software\Mozilla\NativeMessagingHosts\crm_bridge"
    assert reg_module.values[("HKCU", REGISTRY_KEY)][""] == str(reg.manifest)  # default value = manifest path
    assert reg.launcher.suffix == ".bat" and "native-host %*" in reg.launcher.read_text()
    assert json.loads(reg.manifest.read_text())["path"] == str(reg.launcher)
    assert registry.status() == reg
    reg_module.values[("HKCU", REGISTRY_KEY)][""] = r"C:\elsewhere\crm_bridge.json"
    assert registry.status() is None  # the key points at somebody else's manifest
    assert registry.unregister() is True
    assert ("HKCU", REGISTRY_KEY) not in reg_module.values and not reg.manifest.exists()


def test_unsupported_systems_are_refused_readably(tmp_path: Path) -> None:
    from addin.errors import ConfigError

    with pytest.raises(ConfigError, match="not supported on Plan9"):
        HostRegistry(system="Plan9", home=tmp_path).register()


@pytest.mark.skipif(sys.platform == "win32", reason="runs the POSIX launcher")
def test_the_launcher_starts_the_host_which_answers_a_frame(tmp_path: Path) -> None:
    """The registered launcher, run as Thunderbird runs it (manifest path, add-on id), speaks
    the protocol: a ping without a configured profile comes back as a readable refusal."""
    from addin.native.framing import encode_frame, read_frame

    registry = HostRegistry(system="Linux", home=tmp_path / "home", data_dir=tmp_path / "data")
    env = {**os.environ, "CRM_BRIDGE_HOME": str(tmp_path / "bridge-home")}
    reg = registry.register()
    done = subprocess.run(
        [str(reg.launcher), str(reg.manifest), ADDON_ID],
        input=encode_frame({"action": "ping", "id": 1}) + b"\x07\x00",
        capture_output=True,
        env=env,
        timeout=60,
    )
    import io

    out = io.BytesIO(done.stdout)
    first, second = read_frame(out), read_frame(out)
    assert first["id"] == 1 and first["ok"] is False and first["error"]["title"] == "Set-up needed"
    assert second["ok"] is False and "header" in second["error"]["message"]
    assert done.returncode == 1 and b"Traceback" not in done.stderr + done.stdout
