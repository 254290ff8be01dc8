"""``crm-bridge thunderbird-addon build``: the Thunderbird add-on as an ``.xpi`` (a zip with
``manifest.json`` at its root), checked before it is written."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from addin.errors import ConfigError
from addin.native.registration import ADDON_ID

SOURCE = Path(__file__).resolve().parents[2] / "resources" / "mail-clients" / "thunderbird"
# Only what Thunderbird loads; package.json exists for Node's test runner.
SUFFIXES = {".js", ".json", ".html", ".css", ".svg", ".png"}
LEAVE_OUT = {"package.json"}


def _referenced(manifest: dict[str, Any]) -> set[str]:
    """Files the manifest names (background scripts, icons, popups)."""
    names: set[str] = set(manifest.get("background", {}).get("scripts", []))
    for key in ("message_display_action", "action", "browser_action"):
        section = manifest.get(key) or {}
        for field in ("default_icon", "default_popup"):
            value = section.get(field)
            if isinstance(value, str):
                names.add(value)
            elif isinstance(value, dict):
                names.update(str(v) for v in value.values())
    names.update(str(v) for v in (manifest.get("icons") or {}).values())
    return names


def check(source: Path) -> dict[str, Any]:
    """The parsed manifest, or ConfigError naming what is wrong with the add-on's sources."""
    try:
        manifest: dict[str, Any] = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"The add-on's manifest.json cannot be read: {exc}", title="Add-on not built"
        ) from None
    problems: list[str] = []
    gecko = manifest.get("browser_specific_settings", {}).get("gecko", {})
    if gecko.get("id") != ADDON_ID:
        problems.append(f"gecko id must be {ADDON_ID} (the native host allows only that id)")
    version = str(gecko.get("strict_min_version", ""))
    if not re.fullmatch(r"\d+\.\d+", version) or int(version.split(".")[0]) < 128:
        problems.append("strict_min_version must be 128.0 or later")
    if manifest.get("manifest_version") not in (2, 3):
        problems.append("manifest_version must be 2 or 3")
    if "nativeMessaging" not in manifest.get("permissions", []):
        problems.append("the nativeMessaging permission is missing")
    for name in sorted(_referenced(manifest)):
        if ".." in Path(name).parts or not (source / name).is_file():
            problems.append(f"{name} is named in the manifest but missing")
    if problems:
        raise ConfigError("; ".join(problems) + ".", title="Add-on not built")
    return manifest


def build(output: Path, source: Path = SOURCE) -> Path:
    check(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(
        p for p in source.rglob("*") if p.is_file() and p.suffix in SUFFIXES and p.name not in LEAVE_OUT
    )
    tmp = output.with_suffix(output.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as xpi:
        for path in files:
            # A fixed timestamp: the same sources give the same .xpi.
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            xpi.writestr(info, path.read_bytes())
    tmp.replace(output)
    return output


def main(args: Any) -> int:
    from addin.cli_output import emit

    out = Path(args.output or f"track-in-crm-{check(SOURCE)['version']}.xpi")
    path = build(out)
    emit(
        args,
        {"xpi": str(path)},
        f"Built {path} (install it in Thunderbird: Add-ons Manager → Install Add-on From File).",
    )
    return 0
