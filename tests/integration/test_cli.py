"""The command line on the facade: configure a profile, track, inspect, all with --json."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.cli import main
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[tuple[CrmSandbox, MailSandbox]]:
    with CrmSandbox(tmp_path / "crm") as crm, MailSandbox(tmp_path / "mail") as mail:
        yield crm, mail


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_configure_track_and_inspect(
    sandboxes: tuple[CrmSandbox, MailSandbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: object,
) -> None:
    crm, mail = sandboxes
    code, _ = run(
        capsys,
        "config",
        "set",
        "--activate",
        "--profile",
        "work",
        "mailbox.email=alex@contoso.example",
        f"mailbox.server={mail.ews_url}",
        f"crm.url={crm.origin}",
        "crm.auth=bearer",
    )
    assert code == 0
    for kind, secret in (("mailbox", "demo"), ("crm", "sandbox")):
        monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
        assert run(capsys, "config", "secret", kind)[0] == 0
    # The secrets went to the keyring, not the config file.
    store = memory_keyring.store  # type: ignore[attr-defined]
    assert "demo" in store.values() and "sandbox" in store.values()
    config_text = "".join(p.read_text() for p in Path(crm.data_dir).parents[1].rglob("config.json"))
    assert '"demo"' not in config_text and "sandbox" not in config_text.replace(crm.origin, "")

    code, out = run(capsys, "track", "--search", "quote", "--limit", "3", "--json")
    results = json.loads(out)
    assert code == 0 and results and all(r["outcome"] in ("tracked", "already_tracked") for r in results)

    code, out = run(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["profile"] == "work"

    activity_id = results[0]["activity_id"]
    code, out = run(capsys, "log", "--json")
    assert any(e["activity_id"] == activity_id and e["action"] == "tracked" for e in json.loads(out))

    crm.queue_email("someone@fabrikam.example", "From the CRM", "<p>Hi</p>")
    code, out = run(capsys, "outbox", "--json")
    assert [i["subject"].startswith("From the CRM") for i in json.loads(out)] == [True]

    code, out = run(capsys, "untrack", results[0]["item_id"], "--json")
    assert code == 0 and json.loads(out)[0]["message"] == "Untracked"


def test_errors_are_readable_not_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["log"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Set-up needed" in err and "Traceback" not in err
    code = main(["config", "set", "no.such.key=1"])
    assert code == 2 and "known key" in capsys.readouterr().err
