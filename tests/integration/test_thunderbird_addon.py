"""The Thunderbird add-on: its JavaScript under Node's test runner (``messenger`` faked), the click
that ends as exactly one CRM e-mail through the real native host and a running bridge, and the
``.xpi`` that ``crm-bridge thunderbird-addon build`` produces."""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_helpers import USER, emails, mime
from node_support import node_test

from addin import paths
from addin.bridge import Bridge
from addin.cli import main
from addin.config import Config
from addin.demo import DemoEnvironment, demo_profile, demo_secrets, start_demo
from addin.mailbox.types import FolderKind
from addin.native.registration import ADDON_ID, HostRegistry

pytestmark = pytest.mark.integration


def test_addon_logic_under_node() -> None:
    node_test("tests/js/thunderbird/track.test.mjs")


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DemoEnvironment, Bridge]]:
    """Sandboxes, a saved profile as the user's active one, and its bridge running (as the tray would)."""
    home = tmp_path / "home"
    monkeypatch.setenv("CRM_BRIDGE_HOME", str(home))
    env = start_demo(tmp_path / "demo")
    config = Config()
    config.add_profile("work", demo_profile(env.crm, env.mail).values)
    config.active = "work"
    config.save()
    bridge = Bridge(
        config.profile("work"), secrets=demo_secrets(), data_dir=paths.data_dir() / "profiles" / "work"
    )
    bridge.start()
    try:
        yield env, bridge
    finally:
        bridge.stop()
        env.close()


def test_a_click_in_thunderbird_ends_as_one_crm_email(
    running: tuple[DemoEnvironment, Bridge], tmp_path: Path
) -> None:
    env, bridge = running
    reg = HostRegistry(system="Linux", home=tmp_path / "user-home").register()
    inbox = bridge._mailbox.folder(FolderKind.INBOX)
    item = next(i for i in bridge.messages(inbox.id, limit=50).items if i.message_id and not i.private)
    local = mime("buyer@fabrikam.example", "Kept in a local folder")
    local_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in local.splitlines()
        if line.startswith(b"Message-ID")
    )
    before = len(emails(env))
    node_test(
        "tests/js/thunderbird/click_to_crm.e2e.mjs",
        env={
            "CRM_BRIDGE_TEST_LAUNCHER": str(reg.launcher),
            "CRM_BRIDGE_TEST_MANIFEST": str(reg.manifest),
            "CRM_BRIDGE_TEST_MESSAGE_ID": (item.message_id or "").strip("<>"),
            "CRM_BRIDGE_TEST_LOCAL_ID": local_id.strip("<>"),
            "CRM_BRIDGE_TEST_LOCAL_RAW": base64.b64encode(local).decode(),
        },
    )
    assert len(emails(env, f"messageid eq '{item.message_id}'")) == 1
    assert len(emails(env, f"messageid eq '{local_id}'")) == 1
    assert len(emails(env)) == before + 2
    # The bridge marked the mailbox copy it tracked.
    marked = next(i for i in env.mail.items(USER, "inbox") if i["id"] == item.id)
    assert "Tracked in CRM" in marked["categories"]


def test_the_xpi_holds_what_thunderbird_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "addon.xpi"
    assert main(["thunderbird-addon", "build", "--output", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"xpi": str(out)}
    with zipfile.ZipFile(out) as xpi:
        names = set(xpi.namelist())
        manifest = json.loads(xpi.read("manifest.json"))
    assert {
        "manifest.json",
        "background.js",
        "lib/track.js",
        "popup/regarding.html",
        "popup/regarding.js",
    } <= names
    assert "package.json" not in names and not any(n.startswith("/") or ".." in n for n in names)
    assert manifest["browser_specific_settings"]["gecko"] == {"id": ADDON_ID, "strict_min_version": "128.0"}
    assert manifest["manifest_version"] == 3 and manifest["background"]["type"] == "module"
    assert set(manifest["permissions"]) == {
        "messagesRead",
        "accountsRead",
        "menus",
        "nativeMessaging",
        "notifications",
    }
    for name in [*manifest["background"]["scripts"], manifest["message_display_action"]["default_icon"]]:
        assert name in names
    # The same sources give the same bytes.
    again = tmp_path / "again.xpi"
    assert main(["thunderbird-addon", "build", "-o", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
