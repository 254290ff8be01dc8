"""Which system libraries Qt's X11 (xcb) platform plugin cannot load, asked of the dynamic loader.

Qt's own message when the plugin fails is misleading (it names ``libxcb-cursor0`` even when
that is installed and ``libxcb-icccm4`` is what is missing), so the bridge asks ``ldd``
about the plugin and its Qt libraries, and ``ldconfig -p`` about the libraries Qt opens
at run time, and names the real missing library and its Debian/Ubuntu package.  No Qt is
imported here: the check runs before a QApplication would abort the process.

``python -m addin.qt_libs`` prints the missing packages (exit 1) or nothing (exit 0).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Opened with dlopen() by Qt 6.5+ rather than linked, so ldd cannot see them.
DLOPENED = ("libxcb-cursor.so.0",)
# Where Debian's package name does not follow the naming rule in package_for().
_PACKAGES = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


@dataclass(frozen=True)
class Missing:
    library: str  # e.g. libxcb-icccm.so.4
    package: str  # e.g. libxcb-icccm4


def platform_plugin() -> Path | None:
    """PySide6's xcb platform plugin, or None when PySide6 (or the plugin) is not installed."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        plugin = Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None


def package_for(library: str) -> str:
    """The Debian/Ubuntu package that ships a shared library, by the distribution's naming rule.

    ``libNAME.so.N`` is packaged as ``libNAMEN``, or ``libNAME-N`` when NAME ends in a digit
    (``libxcb-icccm.so.4`` → ``libxcb-icccm4``, ``libdbus-1.so.3`` → ``libdbus-1-3``).
    """
    if library in _PACKAGES:
        return _PACKAGES[library]
    match = re.match(r"^(lib[^/]+?)\.so\.(\d+)", library)
    if not match:
        return library
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout


def known_libraries() -> set[str]:
    """Library file names the loader's cache knows (``ldconfig -p``)."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    out = _run([ldconfig, "-p"])
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def missing_libraries(plugin: Path | None = None) -> list[Missing]:
    """What the loader cannot find for the xcb plugin; empty when it can load, or off Linux."""
    if not sys.platform.startswith("linux"):
        return []
    plugin = plugin or platform_plugin()
    if plugin is None or shutil.which("ldd") is None:
        return []
    names = list(dict.fromkeys(_NOT_FOUND.findall(_run(["ldd", str(plugin)]))))
    cache = known_libraries()
    if cache:
        names += [lib for lib in DLOPENED if lib not in cache and lib not in names]
    return [Missing(lib, package_for(lib)) for lib in names]


def install_hint(missing: list[Missing]) -> str:
    packages = " ".join(dict.fromkeys(m.package for m in missing))
    libs = ", ".join(m.library for m in missing)
    return (
        f"The tray app cannot start: the system libraries {libs} are missing. "
        f"Install them with: sudo apt-get install -y {packages}"
    )


def main() -> int:
    missing = missing_libraries()
    if missing:
        print(" ".join(dict.fromkeys(m.package for m in missing)))
        print(install_hint(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
