"""Every command's plain and --json output, for success and for error, against both sandboxes.

Plain output is for people: sentences and aligned tables, states in words, no reprs or
internal names.  --json output is one JSON document on stdout, and an error is
``{"error": {"title", "message", "code"}}`` on stdout with exit code 2.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_support import INTERNALS, json_error, plain_ok, run, run_until

from addin.bridge import Bridge
from addin.cli import main
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox
from addin.state import BridgeState

pytestmark = pytest.mark.integration


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[tuple[CrmSandbox, MailSandbox]]:
    with CrmSandbox(tmp_path / "crm") as crm, MailSandbox(tmp_path / "mail") as mail:
        yield crm, mail


@pytest.fixture
def work(
    sandboxes: tuple[CrmSandbox, MailSandbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[CrmSandbox, MailSandbox]:
    """A profile 'work' set up against the sandboxes through the CLI itself."""
    crm, mail = sandboxes
    code, out, _ = run(
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
    assert out.strip() == "Saved 4 settings in profile 'work'. It is now the active profile."
    for kind, secret in (("mailbox", "demo"), ("crm", "sandbox")):
        monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
        code, out, _ = run(capsys, "config", "secret", kind)
        assert code == 0
        assert out.strip() == (
            f"Stored the {kind} password or token for profile 'work' in the system keyring."
        )
    return crm, mail


# -- status ----------------------------------------------------------------------------------


def test_status_without_a_profile_says_what_to_do_next(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status")
    assert code == 0 and err == ""
    assert out.startswith("No profile is set up yet")
    assert "crm-bridge config set --activate mailbox.email=" in out and "docs/CONNECT.md" in out
    assert "E-mail address" not in out  # not a list of the settings form's field labels
    code, out, _ = run(capsys, "--json", "status")  # --json before the command works too
    document = json.loads(out)
    assert (
        code == 0 and document["state"] == "not_set_up" and document["next"].startswith("crm-bridge config")
    )


def test_status_plain_and_json(work: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status")
    assert code == 0
    plain_ok(out)
    labels = [line.split("  ")[0] for line in out.splitlines()]
    assert labels[:4] == ["Profile", "Mailbox", "CRM", "State"]
    # Aligned: every value starts in the same column.
    starts = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in out.splitlines()}
    assert len(starts) == 1, out
    assert "Profile      work" in out and "alex@contoso.example" in out
    assert "Last synced  never" in out and "Outbox       nothing being sent" in out
    code, out, _ = run(capsys, "status", "--json")
    document = json.loads(out)
    assert code == 0 and document["profile"] == "work" and document["state"] == "not_running"


def test_status_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status", "--profile", "nosuch")
    assert code == 2 and out == ""
    assert err.startswith("Configuration problem: No profile named 'nosuch'")
    code, out, err = run(capsys, "status", "--profile", "nosuch", "--json")
    assert code == 2 and err == ""
    assert "nosuch" in json_error(out, "config")["message"]


# -- track / untrack -------------------------------------------------------------------------


def test_track_and_untrack_plain_and_json(work: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "track", "--search", "quote", "--limit", "2")
    assert code == 0
    plain_ok(out)
    header, *rows = out.split("\n\n")[0].splitlines()
    assert header.split() == ["Result", "Subject", "Note"]
    assert rows and all(r.startswith("Tracked ") for r in rows), out
    assert re.search(r"^\d+ messages?: \d+ tracked\.$", out.splitlines()[-1]), out

    code, out, _ = run(capsys, "track", "--search", "quote", "--limit", "2", "--json")
    results = json.loads(out)
    assert code == 0 and {r["outcome"] for r in results} == {"already_tracked"}

    code, out, _ = run(capsys, "untrack", results[0]["item_id"])
    assert code == 0
    assert re.fullmatch(r"Untracked “[^”]+”\.\n", plain_ok(out)), out
    code, out, _ = run(capsys, "untrack", results[1]["item_id"], "--json")
    assert code == 0 and json.loads(out)[0]["outcome"] == "skipped"
    # Again: nothing is tracked any more, and the answer says so instead of claiming an untrack.
    code, out, _ = run(capsys, "untrack", results[0]["item_id"])
    assert code == 0 and re.fullmatch(r"“[^”]+”: Not tracked; nothing to undo\.\n", out), out


def test_track_and_untrack_errors(work: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "track", "--search", "no message has this text")
    assert code == 2 and out == ""
    assert err.startswith("Nothing to track: No message matched")
    code, out, _ = run(capsys, "track", "--search", "no message has this text", "--json")
    assert code == 2 and json_error(out, "config")["title"] == "Nothing to track"
    code, out, _ = run(capsys, "track", "--search", "quote", "--regarding", "nonsense", "--json")
    assert code == 2 and json_error(out, "config")["title"] == "Bad --regarding"

    code, out, _ = run(capsys, "untrack", "AAMkNoSuchItem")
    assert code == 1
    assert plain_ok(out).startswith("Could not untrack AAMkNoSuchItem: ")
    code, out, _ = run(capsys, "untrack", "AAMkNoSuchItem", "--json")
    assert code == 1 and json.loads(out)[0]["outcome"] == "failed"


# -- outbox / log ------------------------------------------------------------------------------


def test_outbox_and_log_plain_and_json(work: Any, capsys: pytest.CaptureFixture[str]) -> None:
    crm, _ = work
    code, out, _ = run(capsys, "outbox")
    assert code == 0 and out.strip() == "The CRM outbox is empty."
    code, out, _ = run(capsys, "log")
    assert code == 0 and out.strip() == "Nothing has happened yet."
    assert json.loads(run(capsys, "log", "--json")[1]) == []

    crm.queue_email("someone@fabrikam.example", "From the CRM", "<p>Hi</p>")
    code, out, _ = run(capsys, "outbox")
    assert code == 0
    header, row = plain_ok(out).splitlines()
    assert header.split() == ["State", "Subject", "To", "When", "Reason"]
    assert row.startswith("Waiting") and "From the CRM" in row and "someone@fabrikam.example" in row
    code, out, _ = run(capsys, "outbox", "--json")
    assert code == 0 and [i["state"] for i in json.loads(out)] == ["queued"]

    run(capsys, "track", "--search", "quote", "--limit", "1")
    code, out, _ = run(capsys, "log")
    header, row = plain_ok(out).splitlines()[:2]
    assert header.split() == ["When", "What", "Subject", "Detail"]
    assert re.match(r"^\d\d:\d\d  Tracked  ", row), row  # today's time, local, and the action in words
    code, out, _ = run(capsys, "log", "--json")
    assert code == 0 and json.loads(out)[0]["action"] == "tracked"


def test_outbox_and_log_errors(capsys: pytest.CaptureFixture[str], work: Any) -> None:
    code, out, err = run(capsys, "log", "--limit", "many")
    assert code == 2 and out == ""
    first, second = err.splitlines()
    assert first.startswith("Command line not understood: --limit: ") and "whole number" in first, err
    assert "'many'" in first and second == "See 'crm-bridge log --help'."
    code, out, _ = run(capsys, "log", "--limit", "many", "--json")
    assert code == 2 and "--limit" in json_error(out, "usage")["message"]
    code, out, err = run(capsys, "outbox", "--profile", "nosuch")
    assert code == 2 and "No profile named 'nosuch'" in err
    code, out, _ = run(capsys, "outbox", "--profile", "nosuch", "--json")
    assert code == 2 and json_error(out, "config")


# -- config ----------------------------------------------------------------------------------


def test_config_show_and_keys_plain_and_json(work: Any, capsys: pytest.CaptureFixture[str]) -> None:
    crm, _ = work
    code, out, _ = run(capsys, "config", "show")
    assert code == 0
    lines = plain_ok(out).splitlines()
    assert lines[0] == "Profile 'work' (active):"
    assert lines[1].split() == ["Setting", "Value"]
    assert any(re.match(rf"^crm\.url +{re.escape(crm.origin)}$", line) for line in lines), out
    assert any(re.match(r"^crm\.auth +bearer: Token \(sandbox\)$", line) for line in lines), out
    assert any(re.match(r"^tracking\.autotrack +yes$", line) for line in lines), out
    document = json.loads(run(capsys, "config", "show", "--json")[1])
    assert document["profile"] == "work" and document["active"] is True
    assert document["settings"]["crm.url"] == crm.origin

    code, out, _ = run(capsys, "config", "keys")
    assert code == 0
    header, *rows = plain_ok(out).splitlines()
    assert header.split() == ["Key", "What", "Values"]
    assert any(
        re.match(r"^mailbox\.auth +Sign-in method +basic \| ntlm \| oauth \| token$", r) for r in rows
    ), out
    keys = json.loads(run(capsys, "config", "keys", "--json")[1])
    assert {"key": "crm.auth", "kind": "choice"}.items() <= next(
        k for k in keys if k["key"] == "crm.auth"
    ).items()


def test_config_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(capsys, "config", "set", "no.such.key=1")
    assert code == 2 and out == ""
    assert err.startswith("Unknown setting: 'no.such.key=1': use KEY=VALUE with a known key")
    code, out, _ = run(capsys, "config", "set", "no.such.key=1", "--json")
    assert code == 2 and json_error(out, "config")["title"] == "Unknown setting"
    code, out, _ = run(capsys, "config", "set", "tracking.poll_seconds=often", "--json")
    assert code == 2 and "whole number" in json_error(out, "config")["message"]
    code, out, err = run(capsys, "config", "frobnicate")
    assert code == 2 and "'frobnicate' is not one of show, set, keys, secret" in err

    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    code, out, err = run(capsys, "config", "secret", "mailbox")
    assert code == 2 and err.startswith("No secret given: Nothing entered; the keyring was not changed.")
    code, out, _ = run(capsys, "config", "secret", "printer", "--json")
    assert code == 2 and json_error(out, "config")["title"] == "Which secret?"

    # A desktop without a Secret Service: the keyring's own failure, in words, never a class name.
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    keyring.set_keyring(NoKeyring())
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2\n"))
    code, out, err = run(capsys, "config", "secret", "crm")
    assert code == 2 and out == ""
    assert err.startswith("Cannot reach the system keyring: ") and not INTERNALS.search(err), err
    assert "keyring.backends" not in err and "GNOME Keyring" in err and "docs/CONNECT.md" in err
    assert "hunter2" not in err
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2\n"))
    code, out, _ = run(capsys, "config", "secret", "crm", "--json")
    assert code == 2 and json_error(out, "credential_store")


# -- argument errors and help ------------------------------------------------------------------


def test_help_lists_the_tray_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for option in ("--minimized", "--show WINDOW", "--profile NAME"):
        assert option in out
    assert "track, outbox, activity or settings" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sandbox", "crm", "--port", "http"], "--port: a port is a whole number, got 'http'."),
        (["sandbox", "crm", "--port", "70000"], "--port: a port is 0..65535 (0 picks a free port)."),
        (["untrack"], "Missing ITEM_ID."),
        (["frobnicate"], "COMMAND: 'frobnicate' is not one of sandbox, demo, purge, autostart, update-check"),
        (["status", "--verbose"], "Unknown option or argument: --verbose."),
    ],
)
def test_argument_errors_read_as_words(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"Command line not understood: {message}"), err
    assert "_port" not in err and "invalid" not in err and "argument " not in err
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 2 and message.rstrip(".") in json_error(out, "usage")["message"]


# -- run -------------------------------------------------------------------------------------


def _sent(crm: CrmSandbox, activity_id: str) -> bool:
    answer = requests.get(
        f"{crm.base_url}emails({activity_id})?$select=statuscode",
        headers={"Authorization": "Bearer sandbox"},
        timeout=30,
    )
    return answer.ok and answer.json()["statuscode"] == 3


def test_run_prints_one_line_per_state_change_and_action(
    work: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    crm, _ = work
    activity = crm.queue_email("someone@fabrikam.example", "Sent by run", "<p>Hi</p>")
    opened: list[Bridge] = []
    real_open = Bridge.open

    def open_and_keep(profile: str | None = None) -> Bridge:
        opened.append(real_open(profile))
        return opened[-1]

    monkeypatch.setattr("addin.commands.Bridge.open", open_and_keep)

    def sent_and_idle() -> bool:
        # Idle after the send: the engine has finished the poll that sent it and said so.
        return bool(opened) and opened[0]._scheduler.state is BridgeState.IDLE and _sent(crm, activity)

    code, out = run_until(capsys, ["run"], sent_and_idle)
    assert code == 0
    lines = plain_ok(out).splitlines()
    assert lines[0] == "Running for profile 'work'; press Ctrl-C to stop."
    assert lines[-1] == "Stopped."
    assert any(re.match(r"^\d\d:\d\d Sent “Sent by run", line) for line in lines), out
    # The state line after the send counts it: "12:04 Up to date · 1 sent · outbox empty".
    assert any(re.match(r"^\d\d:\d\d Up to date · .*1 sent.* · outbox ", line) for line in lines), out


def test_run_json_is_one_document_per_line(work: Any, capsys: pytest.CaptureFixture[str]) -> None:
    crm, _ = work
    activity = crm.queue_email("someone@fabrikam.example", "Sent by run --json", "<p>Hi</p>")
    code, out = run_until(capsys, ["run", "--json"], lambda: _sent(crm, activity))
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert {e["type"] for e in events} >= {"state_changed", "activity_logged"}
    assert any(e["type"] == "activity_logged" and e["action"] == "sent" for e in events)


def test_run_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run")
    assert code == 2 and out == "" and err.startswith("Set-up needed: ")
    code, out, _ = run(capsys, "run", "--json")
    assert code == 2 and json_error(out, "config")["title"] == "Set-up needed"


# -- demo (headless; the tray demo is driven under Xvfb in test_demo_script.py) ---------------
