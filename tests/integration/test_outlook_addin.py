"""The Outlook add-in: its handlers under Node with office-addin-mock, a click that ends as one
CRM e-mail through the bridge, and the manifest ``crm-bridge outlook-addin manifest`` writes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flow_helpers import emails, first_record
from lxml import etree  # type: ignore[import-untyped]
from node_support import ROOT, node_test

from addin.bridge_types import RecordRef
from addin.cli import main
from addin.demo import DemoEnvironment, start_demo
from addin.mailbox.types import FolderKind
from addin.outlook_addin import NS, SCHEMA, SOURCE, VO10, VO11, manifest, problems, schema_errors

pytestmark = pytest.mark.integration


def _mock_installed() -> None:
    if not (ROOT / "tests" / "js" / "node_modules" / "office-addin-mock").is_dir():
        import os

        message = "office-addin-mock is not installed: run `npm ci --prefix tests/js` (scripts/test.sh does)."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_handlers_under_office_addin_mock() -> None:
    _mock_installed()
    node_test("tests/js/outlook/track.test.mjs")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def test_the_button_and_the_pane_end_as_crm_emails(env: DemoEnvironment) -> None:
    _mock_installed()
    bridge = env.bridge
    account_id, account_name = first_record(env, "accounts", "accountid", "name")
    bridge.pin_regarding(RecordRef("account", account_id))
    bridge.refresh_regarding_categories()  # the bridge puts its categories in the master list first
    autotrack = bridge._autotrack
    autotrack.run_once()
    inbox = bridge._mailbox.folder(FolderKind.INBOX)
    first, second = [i for i in bridge.messages(inbox.id, limit=50).items if i.message_id and not i.private][
        :2
    ]
    env.mail.add_token("outlook-addin-test", "alex@contoso.example")
    before = len(emails(env))
    node_test(
        "tests/js/outlook/click_to_category.e2e.mjs",
        env={
            "CRM_BRIDGE_TEST_GRAPH": env.mail.graph_url.rstrip("/"),
            "CRM_BRIDGE_TEST_TOKEN": "outlook-addin-test",
            "CRM_BRIDGE_TEST_ITEM": first.id,
            "CRM_BRIDGE_TEST_ITEM2": second.id,
            "CRM_BRIDGE_TEST_REGARDING": f"CRM ▸ {account_name}",
        },
    )
    results = autotrack.run_once()
    assert sorted((r.item_id, r.outcome.value) for r in results) == sorted(
        [(first.id, "tracked"), (second.id, "tracked")]
    )
    assert len(emails(env)) == before + 2
    assert emails(env, f"messageid eq '{first.message_id}'")[0]["_regardingobjectid_value"] is None
    assert emails(env, f"messageid eq '{second.message_id}'")[0]["_regardingobjectid_value"] == account_id
    assert autotrack.run_once() == []  # the categories were swapped: nothing is tracked twice


@pytest.mark.parametrize("full", [False, True])
def test_the_manifest_follows_the_documented_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], full: bool
) -> None:
    out = tmp_path / "manifest.xml"
    argv = ["outlook-addin", "manifest", "--base-url", "https://addins.example.com/crm", "-o", str(out)]
    assert main([*argv, *(["--full"] if full else [])]) == 0
    data = out.read_bytes()
    assert problems(data, "https://addins.example.com/crm/") == []
    root = etree.fromstring(data)
    q = f"{{{NS}}}"
    assert root.findtext(f"{q}Permissions") == ("ReadWriteMailbox" if full else "ReadWriteItem")
    assert root.find(f"{q}Requirements/{q}Sets/{q}Set").get("MinVersion") == "1.1"  # installs everywhere
    # The button's function is the one commands.js associates.
    names = {el.text for el in root.iter() if isinstance(el.tag, str) and el.tag.endswith("FunctionName")}
    assert names == {"trackInCrm"}
    assert 'associate("trackInCrm"' in (SOURCE / "commands.js").read_text()
    # Every URL names a file the add-in ships.
    urls = {
        el.get("DefaultValue")
        for el in root.iter()
        if isinstance(el.tag, str) and el.get("DefaultValue", "").startswith("https://")
    }
    for url in urls:
        assert (SOURCE / urlsplit(url).path.removeprefix("/crm/")).is_file(), url
    assert any(u.endswith("/taskpane.html") for u in urls)
    multi = [el for el in root.iter() if isinstance(el.tag, str) and el.tag.endswith("SupportsMultiSelect")]
    assert bool(multi) is full
    # Same base URL, same add-in id: regenerating does not make users install a second copy.
    assert manifest("https://addins.example.com/crm/", full=full) == data


def _broken(full: bool, change: Callable[[Any], None]) -> list[str]:
    root = etree.fromstring(manifest("https://addins.example.com/crm/", full=full))
    change(root)
    return schema_errors(root)


def test_the_manifest_is_checked_against_microsofts_schemas_offline() -> None:
    """The generated manifests validate against the local MS-OWEMXML copy; the same check
    refuses what Outlook refuses at install time and the documented-rules check cannot see."""
    assert SCHEMA.is_file() and (SCHEMA.parent / "SOURCE.md").is_file()
    for full in (False, True):
        assert schema_errors(etree.fromstring(manifest("https://addins.example.com/crm/", full=full))) == []

    def swap_first_two(root: Any) -> None:  # Version before Id: order is part of the schema
        first, second = root[0], root[1]
        root.remove(first)
        second.addnext(first)

    def pinning_in_1_0(root: Any) -> None:  # SupportsPinning is a VersionOverrides 1.1 element
        action = root.find(f".//{{{VO10}}}Action[{{{VO10}}}SourceLocation]")
        etree.SubElement(action, f"{{{VO10}}}SupportsPinning").text = "true"

    def not_a_boolean(root: Any) -> None:
        root.find(f".//{{{VO11}}}SupportsMultiSelect").text = "sometimes"

    def unknown_permission(root: Any) -> None:
        root.find(f"{{{NS}}}Permissions").text = "Everything"

    def long_label(root: Any) -> None:  # a ShortString holds at most 125 characters
        root.find(f"{{{NS}}}DisplayName").set("DefaultValue", "x" * 126)

    for full, change in (
        (False, swap_first_two),
        (True, pinning_in_1_0),
        (True, not_a_boolean),
        (False, unknown_permission),
        (False, long_label),
    ):
        errors = _broken(full, change)
        assert errors and all(e.startswith("line ") for e in errors), change.__name__


def test_bad_base_urls_are_refused_readably(capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("http://addins.example.com/", "https://addins.example.com/?x=1", "file:///tmp/x"):
        assert main(["outlook-addin", "manifest", "--base-url", url]) == 2
        assert "Traceback" not in capsys.readouterr().err


def test_the_files_to_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outlook-addin", "files", "-o", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "commands.html").is_file() and (
        tmp_path / "site" / "assets" / "icon-80.png"
    ).is_file()
    html = (tmp_path / "site" / "commands.html").read_text()
    assert re.search(r'<script src="track\.js"></script>\s*<script src="commands\.js">', html)
