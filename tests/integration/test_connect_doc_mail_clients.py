"""docs/CONNECT.md's "Track in CRM from your mail client" commands, run as written against the
sandboxes after the page's rehearsal profile is set up (``<guid>`` becomes a sandbox account;
the home folder and the working folder are the test's own)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from test_connect_doc import DOC, run_section, sections, to_sandboxes

from addin.cli import main
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration
TITLE = "Track in CRM from your mail client"


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[tuple[CrmSandbox, MailSandbox]]:
    with CrmSandbox(tmp_path / "crm") as crm, MailSandbox(tmp_path / "mail") as mail:
        yield crm, mail


def test_the_mail_client_commands_work_as_written(
    sandboxes: tuple[CrmSandbox, MailSandbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    crm, mail = sandboxes
    run_section("Rehearse against the sandboxes", crm, mail, capsys, monkeypatch)
    account = requests.get(
        f"{crm.base_url}accounts?$select=accountid,name&$top=1&$orderby=name",
        headers={"Authorization": "Bearer sandbox"},
        timeout=30,
    ).json()["value"][0]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    outputs = []
    for argv in sections()[TITLE]:
        real = [a.replace("<guid>", account["accountid"]) for a in to_sandboxes(argv, crm, mail)]
        code = main(real)
        captured = capsys.readouterr()
        assert code == 0, (real, captured.err)
        outputs.append((argv[:2], captured.out))
    said = dict((tuple(a), out) for a, out in outputs)
    assert f"Pinned {account['name']} (Account)" in said[("regarding", "pin")]
    assert f"CRM ▸ {account['name']}" in said[("regarding", "list")]
    assert "removed" in said[("regarding", "unpin")]
    host = tmp_path / "home" / ".mozilla" / "native-messaging-hosts" / "crm_bridge.json"
    assert json.loads(host.read_text())["allowed_extensions"] == ["track-in-crm@crm-bridge"]
    with zipfile.ZipFile(tmp_path / "track-in-crm.xpi") as xpi:
        assert "manifest.json" in xpi.namelist()
    assert "track-in-crm.xpi" in DOC.read_text()
