"""The loader check that names the real missing library behind Qt's misleading xcb message."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from addin import qt_libs


@pytest.mark.parametrize(
    ("library", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libEGL.so.1", "libegl1"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
    ],
)
def test_debian_package_of_a_library(library: str, package: str) -> None:
    assert qt_libs.package_for(library) == package


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the dynamic-loader check is Linux-only")
def test_the_installed_plugin_loads_and_a_broken_copy_names_what_is_missing(tmp_path: Path) -> None:
    plugin = qt_libs.platform_plugin()
    assert plugin is not None, "PySide6's xcb platform plugin is installed with PySide6"
    # scripts/test.sh installs every library the plugin needs: the real check finds nothing missing.
    assert qt_libs.missing_libraries(plugin) == []
    # A copy outside PySide6 loses its $ORIGIN-relative Qt libraries: the loader (ldd) names them.
    copy = tmp_path / "platforms" / "libqxcb.so"
    copy.parent.mkdir()
    shutil.copy(plugin, copy)
    missing = qt_libs.missing_libraries(copy)
    names = [m.library for m in missing]
    assert "libQt6XcbQpa.so.6" in names, names
    assert all(m.package == qt_libs.package_for(m.library) for m in missing)
    hint = qt_libs.install_hint(missing)
    assert "libQt6XcbQpa.so.6" in hint and hint.count("sudo apt-get install -y") == 1
