"""The frozen (PyInstaller one-folder) program runs on its own, with no Python from outside.

One build per test run (about a minute on a 2-core machine), then the folder is started
with a bare environment: no virtual environment on PATH, no user site-packages, and a
PYTHONPATH full of booby-trapped copies of the app's packages, so any import that escaped
the folder would fail loudly.
"""

from __future__ import annotations

import configparser
import json
import pkgutil
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The first test also builds the folder.
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1200)]

TRAPPED = ("addin", "ui", "PySide6", "exchangelib", "keyring", "msal", "requests", "lxml")
# Qt modules the app does not use; the spec leaves them out.
NOT_SHIPPED = ("libQt6Qml", "libQt6Quick", "libQt6Pdf", "libQt6Sql", "libQt6OpenGLWidgets", "libQt6Designer")


@pytest.fixture(scope="module")
def frozen(frozen_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # A copy away from where it was built, as a user's would be.
    moved = tmp_path_factory.mktemp("elsewhere") / "CRM Bridge"
    shutil.copytree(frozen_build / "crm-bridge", moved, symlinks=True)
    # PyInstaller links some libraries into place: count each file once.
    size = sum(f.stat().st_size for f in moved.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"\nfrozen folder: {size / 2**20:.0f} MiB")
    yield moved
    shutil.rmtree(moved, ignore_errors=True)


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    trap = tmp_path / "trap"
    for name in TRAPPED:
        (trap / name).mkdir(parents=True)
        message = f"{name} imported from outside the folder"
        (trap / name / "__init__.py").write_text(f"raise ImportError({message!r})")
    home = tmp_path / "user"
    (home / "tmp").mkdir(parents=True)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PYTHONPATH": str(trap),
        "QT_QPA_PLATFORM": "offscreen",
    }


def run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(folder / "crm-bridge"), *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_version_and_trimmed_qt(frozen: Path, clean_env: dict[str, str]) -> None:
    result = run(frozen, clean_env, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"crm-bridge {_project_version()}"
    shipped = {p.name for p in frozen.rglob("*.so*")}
    assert not [name for name in shipped if name.startswith(NOT_SHIPPED)]
    # The tray's own platform integrations are there.
    plugins = frozen / "_internal/PySide6/Qt/plugins/platforms"
    assert {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"} <= {p.name for p in plugins.iterdir()}


def test_hidden_imports_are_complete(frozen: Path) -> None:
    """Everything found at run time by name or entry point, not by import, is in the archive."""
    viewer = Path(sys.executable).with_name("pyi-archive_viewer")
    listing = subprocess.run(
        [str(viewer), "--list", "--recursive", str(frozen / "crm-bridge")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    archived = {line.rsplit("'", 2)[-2] for line in listing.splitlines() if line.rstrip().endswith("'")}
    # Mailbox back ends: every module of the package, and every module an entry point names
    # in the metadata the folder carries (that is what the program reads at run time).
    sources = (ROOT / "addin/mailbox").glob("*.py")
    mailbox = {f"addin.mailbox.{p.stem}" for p in sources if p.stem != "__init__"}
    assert mailbox - archived == set()
    metadata = list((frozen / "_internal").glob("crm_bridge*info/entry_points.txt"))
    assert len(metadata) == 1
    group = configparser.ConfigParser()
    group.read(metadata[0])
    plugins = {value.split(":")[0].strip() for value in group["crm_bridge.mailboxes"].values()}
    assert "addin.mailbox.ews" in plugins and plugins - archived == set()
    # Every keyring back end (the platform decides which one answers), MSAL, subcommands.
    import keyring.backends

    backends = {f"keyring.backends.{m.name}" for m in pkgutil.iter_modules(keyring.backends.__path__)}
    assert backends - archived == set()
    assert {"msal", "addin.commands", "addin.demo", "addin.sandbox.crm.cli", "ui.app"} - archived == set()


def test_headless_demo_is_clean(frozen: Path, clean_env: dict[str, str]) -> None:
    result = run(frozen, clean_env, "demo", "--headless", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["ok"] is True
    assert counts["duplicates"] == 0 and counts["lost"] == 0
    assert counts["sent"] == counts["sent_items_copies"] > 0
    assert counts["tracked_selected"] > 0


def test_tray_starts_offscreen_and_quits_through_the_channel(frozen: Path, clean_env: dict[str, str]) -> None:
    tray = subprocess.Popen(
        [str(frozen / "crm-bridge"), "--minimized"],
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The single-instance socket appears once the tray is up.
        tmp = Path(clean_env["TMPDIR"])
        deadline = time.monotonic() + 120
        while not list(tmp.glob("crm-bridge-*")) and tray.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tray.poll() is None, tray.communicate()[1][-2000:]
        assert list(tmp.glob("crm-bridge-*")), "the tray never opened its single-instance channel"

        second = run(frozen, clean_env, "--show", "settings")
        assert second.returncode == 0
        assert "already running" in second.stderr

        # What an installer does before an upgrade.
        quit_ = run(frozen, clean_env, "--quit")
        assert quit_.returncode == 0, quit_.stderr
        assert tray.wait(timeout=60) == 0
        assert "Traceback" not in tray.communicate()[1]
    finally:
        if tray.poll() is None:
            tray.kill()
            tray.wait()


def test_tarball_holds_the_folder_and_its_installer(frozen_build: Path) -> None:
    tarballs = list(frozen_build.glob("crm-bridge-*-linux-*.tar.gz"))
    assert len(tarballs) == 1
    print(f"\ntarball: {tarballs[0].stat().st_size / 2**20:.0f} MiB")
    listing = subprocess.run(["tar", "-tzf", str(tarballs[0])], capture_output=True, text=True, check=True)
    assert {"crm-bridge/crm-bridge", "crm-bridge/install.sh"} <= set(listing.stdout.splitlines())


def _project_version() -> str:
    from addin import __version__

    return __version__
