"""Every module of the core imports with Qt unavailable: the core must stay Qt-free."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import addin

ROOT = Path(addin.__file__).parent


def _all_core_modules() -> list[str]:
    names = ["addin"]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="addin."):
        names.append(info.name)
    return sorted(n for n in names if not n.endswith("__main__"))


def test_core_modules_import_without_qt() -> None:
    modules = _all_core_modules()
    assert len(modules) > 5
    script = (
        "import sys, importlib\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6'):\n"
        "            raise ImportError('Qt is blocked in the core: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_block_really_blocks_qt() -> None:
    """The guard above must be able to fail: importing Qt under it raises."""
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'PySide6':\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import PySide6\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode != 0
    assert "blocked" in result.stderr


def test_cli_help_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "addin", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "sandbox" in result.stdout and "demo" in result.stdout
    importlib.import_module("addin.cli")
