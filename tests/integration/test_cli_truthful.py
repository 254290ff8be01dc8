"""What the command line reports is what happened: engine state, per-item errors, safe text.

Real sandboxes and the real facade; the CLI runs in-process.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.bridge import Bridge
from addin.cli import main
from addin.config import Config
from addin.demo import DEMO_PASSWORD, SANDBOX_TOKEN, DemoEnvironment, demo_profile, start_demo
from addin.mailbox.types import FolderKind
from addin.state import BridgeState

pytestmark = pytest.mark.integration

HOSTILE_SUBJECT = "Quote \x1b[2J\x1b]0;owned\x07 \x9b31m red \u202etxt.exe"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path / "sandboxes")
    yield environment
    environment.close()


@pytest.fixture
def cli_profile(env: DemoEnvironment, monkeypatch: pytest.MonkeyPatch) -> str:
    """The demo profile saved as the user's settings, its secrets in the (test) keyring."""
    profile = demo_profile(env.crm, env.mail)
    config = Config()
    config.add_profile("default", dict(profile.values))
    config.save()
    for kind, secret in (("mailbox", DEMO_PASSWORD), ("crm", SANDBOX_TOKEN)):
        monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
        assert main(["config", "secret", kind]) == 0
    return "default"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_status_reads_the_running_engine_and_says_when_none_runs(
    env: DemoEnvironment, cli_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["state"] == BridgeState.NOT_RUNNING.value
    code, out, _ = _cli(capsys, "status")
    assert "Not running" in out

    engine = Bridge.open()  # the tray or `crm-bridge run` of the same profile
    engine.start()
    try:
        # The engine publishes its state on every change; wait for the first finished sync.
        deadline = time.monotonic() + 60
        shown: dict[str, object] = {}
        while time.monotonic() < deadline:
            code, out, _ = _cli(capsys, "status", "--json")
            shown = json.loads(out)
            if shown["last_synced"] is not None:
                break
            time.sleep(0.2)
        assert shown["state"] in ("idle", "syncing") and shown["last_synced"] is not None, shown
    finally:
        engine.stop()
    code, out, _ = _cli(capsys, "status", "--json")
    assert json.loads(out)["state"] == "not_running"


def test_untrack_of_an_unknown_id_is_a_per_item_error(
    cli_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "untrack", "garbage-id", "--json")
    [result] = json.loads(out)
    assert code == 1 and result["outcome"] == "failed" and result["item_id"] == "garbage-id"
    assert result["message"]


def test_untrack_and_set_regarding_of_an_untracked_message_change_nothing(env: DemoEnvironment) -> None:
    bridge = env.bridge
    inbox = bridge._mailbox.folder(FolderKind.INBOX)
    message = next(m for m in bridge.messages(inbox.id, limit=30).items if not m.tracked)
    before = len(bridge.recent_activity())
    [untracked] = bridge.untrack([message.id])
    assert untracked.outcome.value == "skipped" and "Not tracked" in untracked.message
    [regarding] = bridge.set_regarding([message.id], None)
    assert regarding.outcome.value == "failed"
    assert len(bridge.recent_activity()) == before  # no audit row for what did not happen


def test_crm_text_with_escape_sequences_is_printed_escaped(
    env: DemoEnvironment, cli_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    contact = env.crm.create("contacts", {"firstname": "Eve", "emailaddress1": "eve@fabrikam.example"})
    assert contact
    env.crm.queue_email("eve@fabrikam.example", HOSTILE_SUBJECT, "<p>x</p>")
    code, out, err = _cli(capsys, "outbox")
    assert code == 0 and "Quote" in out
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in out + err, repr(out)
    assert "\\x1b[2J" in out  # shown, visibly, rather than obeyed

    # The same text through the audit log (a failed send records the CRM subject).
    journal_bridge = Bridge.open()
    journal_bridge._store.audit("send_failed", ok=False, subject=HOSTILE_SUBJECT, detail="Bad \x1b]8;;x\x07")
    journal_bridge.stop()
    code, out, err = _cli(capsys, "log")
    assert code == 0 and "Quote" in out
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in out + err, repr(out)

    # JSON output keeps the exact text (json escapes it).
    code, out, _ = _cli(capsys, "log", "--json")
    assert any(e["subject"] == HOSTILE_SUBJECT for e in json.loads(out))
