"""``crm-bridge regarding``: pin and unpin from the command line; the mailbox's master list follows."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from addin.cli import main
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration
USER = "alex@contoso.example"


@pytest.fixture
def sandboxes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: object,
) -> Iterator[tuple[CrmSandbox, MailSandbox]]:
    with CrmSandbox(tmp_path / "crm") as crm, MailSandbox(tmp_path / "mail") as mail:
        settings = [f"mailbox.email={USER}", f"mailbox.server={mail.ews_url}", f"crm.url={crm.origin}"]
        assert main(["config", "set", "--activate", "--profile", "work", *settings, "crm.auth=bearer"]) == 0
        for kind, secret in (("mailbox", "demo"), ("crm", "sandbox")):
            monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
            assert main(["config", "secret", kind]) == 0
        capsys.readouterr()
        yield crm, mail


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pin_list_unpin(
    sandboxes: tuple[CrmSandbox, MailSandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    crm, mail = sandboxes
    rows = requests.get(
        f"{crm.base_url}accounts?$select=accountid,name&$top=1&$orderby=name",
        headers={"Authorization": "Bearer sandbox"},
        timeout=30,
    ).json()["value"]
    account_id, name = rows[0]["accountid"], rows[0]["name"]

    code, out, _ = run(capsys, "regarding", "pin", f"account:{account_id}", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["pinned"]["name"] == name
    assert answer["added"] == ["Track in CRM", f"CRM ▸ {name}"]
    assert [n for _, n, _ in mail.store.categories(USER)] == ["Track in CRM", f"CRM ▸ {name}"]

    code, out, _ = run(capsys, "regarding", "list")
    assert code == 0 and f"CRM ▸ {name}  [listed, pinned]  account:{account_id}" in out

    code, out, _ = run(capsys, "regarding", "unpin", f"account:{account_id}", "--json")
    assert code == 0 and json.loads(out)["removed"] == [f"CRM ▸ {name}"]
    assert [n for _, n, _ in mail.store.categories(USER)] == ["Track in CRM"]


def test_bad_records_are_refused_readably(
    sandboxes: tuple[CrmSandbox, MailSandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "regarding", "pin", "email:00000000-0000-0000-0000-000000000001")
    assert code == 2 and "Bad record" in err and "Traceback" not in err
    code, _, err = run(capsys, "regarding", "pin", "account:00000000-0000-0000-0000-000000000001")
    assert code == 2 and "Cannot pin" in err and "No account" in err
    code, _, err = run(capsys, "regarding", "pin")
    assert code == 2 and "needs a record" in err
