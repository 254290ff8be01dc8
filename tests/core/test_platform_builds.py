"""Windows and macOS build definitions, checked here where neither platform can run.

The Inno Setup script is parsed (no Inno Setup compiler runs on Linux: Debian packages only
innoextract, which unpacks installers); the commands it and the workflow give the program are
parsed by the program's own argument parser; the platform code paths (HKCU Run, the
LaunchAgent, the menu-bar template icon) run with the platform faked at their one seam.
"""

from __future__ import annotations

import ast
import plistlib
import re
import shlex
from pathlib import Path

import pytest

from addin.autostart import RUN_VALUE, Autostart, default_command
from addin.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
ISS = ROOT / "installer/windows/crm-bridge.iss"
SPEC = ROOT / "installer/crm-bridge.spec"
WORKFLOW = ROOT / ".github/workflows/release.yml"

# Parameters Inno Setup accepts per entry section (the ones this script may use).
ENTRY_PARAMS = {
    "Languages": {"Name", "MessagesFile"},
    "Tasks": {"Name", "Description", "Flags", "GroupDescription"},
    "InstallDelete": {"Type", "Name"},
    "Files": {"Source", "DestDir", "Flags", "Excludes"},
    "Icons": {"Name", "Filename", "Parameters", "Comment", "WorkingDir", "IconFilename"},
    "Run": {"Filename", "Parameters", "Flags", "Tasks", "Description", "StatusMsg", "WorkingDir"},
}


def parse_iss(text: str) -> tuple[dict[str, str], dict[str, list[dict[str, str]]], str]:
    """([Setup] directives, entries of the other sections, [Code]) of an Inno Setup script."""
    setup: dict[str, str] = {}
    entries: dict[str, list[dict[str, str]]] = {}
    code: list[str] = []
    section = None
    depth = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if section == "Code" and not line.startswith("[Code"):
            code.append(raw)
            continue
        if not line or line.startswith(";"):
            continue
        if line.startswith("#"):
            word = line[1:].split()[0]
            depth += word in ("if", "ifdef", "ifndef")
            depth -= word == "endif"
            assert word in ("if", "ifdef", "ifndef", "endif", "else", "define"), f"line {number}: {line}"
            assert depth >= 0, f"line {number}: #endif without #if"
            continue
        match = re.fullmatch(r"\[(\w+)\]", line)
        if match:
            section = match.group(1)
            assert section == "Setup" or section == "Code" or section in ENTRY_PARAMS, section
            continue
        assert section is not None, f"line {number} outside any section"
        if section == "Setup":
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Za-z0-9]+", key), f"line {number}: {line}"
            assert key not in setup, f"line {number}: {key} twice"
            setup[key] = value
            continue
        entry: dict[str, str] = {}
        for part in re.findall(r'(\w+):\s*("(?:[^"]|"")*"|[^;]+)\s*(?:;|$)', line):
            name, value = part
            entry[name] = value.strip().strip('"')
        assert entry and set(entry) <= ENTRY_PARAMS[section], f"line {number}: {line}"
        entries.setdefault(section, []).append(entry)
    assert depth == 0, "an #if is not closed"
    return setup, entries, "\n".join(code)


@pytest.fixture(scope="module")
def iss() -> tuple[dict[str, str], dict[str, list[dict[str, str]]], str]:
    return parse_iss(ISS.read_text(encoding="utf-8"))


def test_inno_setup_installs_per_user_without_elevation(iss) -> None:  # type: ignore[no-untyped-def]
    setup, entries, _code = iss
    assert setup["PrivilegesRequired"] == "lowest"
    assert "PrivilegesRequiredOverridesAllowed" not in setup  # no "for all users" offer
    assert setup["DefaultDirName"] == r"{localappdata}\Programs\CRM Bridge"
    assert re.fullmatch(r"\{\{[0-9A-F-]{36}\}", setup["AppId"])  # fixed: upgrades find the install
    assert setup["CloseApplications"] == "no"  # the app's own channel closes it
    # Per-user Start-menu entry: {autoprograms} is the user's Programs folder under "lowest".
    (icon,) = entries["Icons"]
    assert icon["Name"].startswith("{autoprograms}") and icon["Filename"] == r"{app}\crm-bridge-tray.exe"
    # Files named by the script exist in the tree.
    for key in ("SetupIconFile", "LicenseFile"):
        assert (ISS.parent / setup[key].replace("\\", "/")).resolve().exists(), key
    # Code signing is a hook: on only when the build passes SignTool.
    text = ISS.read_text(encoding="utf-8")
    assert "#ifdef SignTool\nSignTool={#SignTool}" in text


def test_inno_setup_commands_are_ones_the_program_understands(iss) -> None:  # type: ignore[no-untyped-def]
    _setup, entries, code = iss
    parser = build_parser()
    autostart = [e for e in entries["Run"] if e.get("Tasks") == "autostart"]
    assert len(autostart) == 1 and autostart[0]["Filename"] == r"{app}\crm-bridge.exe"
    assert parser.parse_args(shlex.split(autostart[0]["Parameters"])).state == "on"
    assert entries["Tasks"][0]["Name"] == "autostart" and "unchecked" in entries["Tasks"][0]["Flags"]
    # The [Code] calls: quit the running copy, switch start at login off, list then purge.
    calls = re.findall(r"Exec\(Exe, '([^']*)'", code)
    assert {"--quit", "autostart off", "purge --yes"} <= set(calls)
    for call in set(calls) - {"--quit"}:
        parser.parse_args(shlex.split(call))
    from ui.app import parse as tray_parse

    assert tray_parse(["--quit"]).quit
    routines = (
        "function PrepareToInstall",
        "function InitializeUninstall",
        "procedure CurUninstallStepChanged",
    )
    assert all(routine in code for routine in routines)
    # Pascal blocks are balanced (case/try also close with "end").
    opened = len(re.findall(r"\b(begin|case|try)\b", code, re.IGNORECASE))
    closed = len(re.findall(r"\bend\b", code, re.IGNORECASE))
    assert opened == closed


def _spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"))


def test_spec_defines_the_macos_agent_app_and_the_windowed_windows_program() -> None:
    tree = _spec_tree()
    calls = {n.func.id: n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    bundle = calls["BUNDLE"]
    keywords = {k.arg: k.value for k in bundle.keywords}
    info = keywords["info_plist"]
    assert isinstance(info, ast.Dict)
    plist = {ast.literal_eval(k): v for k, v in zip(info.keys, info.values, strict=True) if k is not None}
    assert ast.literal_eval(plist["LSUIElement"]) is True
    assert ast.literal_eval(keywords["bundle_identifier"]) == "org.crm-bridge.tray"
    text = SPEC.read_text(encoding="utf-8")
    assert '_exe("crm-bridge-tray", console=False)' in text
    assert 'collect_submodules("addin.mailbox")' in text and "entry_points(group=MAILBOX_GROUP)" in text


def test_workflow_builds_and_checks_on_windows_and_macos() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "runs-on: windows-latest" in text and "runs-on: macos-latest" in text
    assert text.count("installer/build-frozen.sh dist") == 2
    assert text.count("demo --headless --json") == 2 and text.count("--version") >= 2
    assert r"installer\windows\crm-bridge.iss" in text and "installer/macos/make-dmg.sh dist" in text
    assert "\t" not in text


def test_windows_login_item_runs_the_windowed_tray(tmp_path: Path) -> None:
    folder = tmp_path / "CRM Bridge"
    folder.mkdir()
    for name in ("crm-bridge.exe", "crm-bridge-tray.exe"):
        (folder / name).write_bytes(b"")
    command = default_command(platform="win32", executable=str(folder / "crm-bridge.exe"))
    assert command == [str(folder / "crm-bridge-tray.exe")]

    class Registry:
        def __init__(self) -> None:
            self.values: dict[str, str] = {}

        def get(self, name: str) -> str | None:
            return self.values.get(name)

        def set(self, name: str, value: str) -> None:
            self.values[name] = value

        def delete(self, name: str) -> None:
            self.values.pop(name, None)

    reg = Registry()
    auto = Autostart(platform="win32", registry=reg)
    auto.set_enabled(True, [*command, "--minimized"])
    assert reg.values[RUN_VALUE] == f'"{folder / "crm-bridge-tray.exe"}" --minimized'
    assert auto.is_enabled()


def test_windows_without_the_frozen_twin_uses_the_console_script(tmp_path: Path) -> None:
    (tmp_path / "crm-bridge.exe").write_bytes(b"")
    python = tmp_path / "python.exe"
    assert default_command(platform="win32", executable=str(python)) == [str(tmp_path / "crm-bridge.exe")]


def test_macos_launch_agent_points_into_the_app_bundle(tmp_path: Path) -> None:
    macos = tmp_path / "Applications/CRM Bridge.app/Contents/MacOS"
    macos.mkdir(parents=True)
    (macos / "crm-bridge").write_bytes(b"")
    command = default_command(platform="darwin", executable=str(macos / "crm-bridge"))
    auto = Autostart(platform="darwin", home=tmp_path / "home")
    auto.set_enabled(True, [*command, "--minimized"])
    with auto.plist_file().open("rb") as fh:
        agent = plistlib.load(fh)
    assert agent["Label"] == "org.crm-bridge.tray"
    assert agent["ProgramArguments"] == [str(macos / "crm-bridge"), "--minimized"]
    assert agent["RunAtLoad"] is True
    assert auto.is_enabled()
    auto.set_enabled(False)
    assert not auto.plist_file().exists()


def test_menu_bar_icon_is_a_template_on_macos_only(qapp) -> None:  # type: ignore[no-untyped-def]
    from ui.icons import IconState, tray_icon

    assert tray_icon(IconState.ATTENTION, platform="darwin").isMask()
    assert not tray_icon(IconState.ATTENTION, dark_panel=True, platform="linux").isMask()
