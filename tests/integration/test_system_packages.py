"""scripts/system-packages.sh: the one package list both README commands install from.

Where the packages cannot be installed (no apt-get, no root and no sudo), the script, and so
``scripts/demo.sh``, stops before anything starts with one sentence naming the missing packages
and the command that installs them.  The scripts run for real, from a copy of ``scripts/`` whose
list names a package that does not exist, with a PATH that has no apt-get or sudo.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("bash", "dpkg-query", "grep", "id", "cat", "dirname", "uname", "env")


def packages(group: str) -> list[str]:
    names = []
    for line in (ROOT / "scripts" / "system-packages.txt").read_text().splitlines():
        parts = line.split("#")[0].split()
        if parts and (group == "test" or parts[1] == "app"):
            names.append(parts[0])
    return names


def test_one_list_serves_both_scripts() -> None:
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    test = (ROOT / "scripts" / "test.sh").read_text()
    assert "./scripts/system-packages.sh app" in demo and "./scripts/system-packages.sh test" in test
    app = packages("app")
    # The libraries Qt's xcb platform plugin needs (the ones a fresh desktop lacked) are in the demo's group.
    assert {"libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "python3-venv"} <= set(app)
    assert {"xvfb", "trayer", "x11-utils"} <= set(packages("test")) - set(app)
    for script in (demo, test):
        assert "apt-get install" not in script  # no second list hiding in a script


@pytest.fixture
def no_installer(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a dpkg system: the script has nothing to check here")
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "scripts", tree / "scripts")
    (tree / "scripts" / "system-packages.txt").write_text("crm-bridge-no-such-package  app\nlibc6  app\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return tree, env


def test_without_apt_get_it_names_the_packages_and_the_command(
    no_installer: tuple[Path, dict[str, str]],
) -> None:
    tree, env = no_installer
    done = subprocess.run(
        ["bash", str(tree / "scripts" / "system-packages.sh"), "app"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "Missing system packages: crm-bridge-no-such-package — install them with: "
        "sudo apt-get install -y crm-bridge-no-such-package"
    )


def test_demo_stops_before_starting_anything(no_installer: tuple[Path, dict[str, str]]) -> None:
    tree, env = no_installer
    done = subprocess.run(
        ["bash", str(tree / "scripts" / "demo.sh")],
        env={**env, "VENV": str(tree / "never-created")},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "Sandbox" not in done.stdout and not (tree / "never-created").exists()
    assert (
        done.stderr.count("\n") == 1 and "sudo apt-get install -y crm-bridge-no-such-package" in done.stderr
    )


def test_a_package_that_only_brings_a_command_is_skipped_where_the_command_runs(
    no_installer: tuple[Path, dict[str, str]],
) -> None:
    # Node.js from another source ships its own npm, and Debian's npm then conflicts with it: a
    # package marked cmd=NAME is not wanted where NAME already runs.
    tree, env = no_installer
    listing = (
        "crm-bridge-no-such-package  test  cmd=cat  # cat runs\ncrm-bridge-other-package  test  cmd=nope\n"
    )
    (tree / "scripts" / "system-packages.txt").write_text(listing)
    done = subprocess.run(
        ["bash", str(tree / "scripts" / "system-packages.sh"), "test"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "crm-bridge-other-package" in done.stderr and "crm-bridge-no-such-package" not in done.stderr
