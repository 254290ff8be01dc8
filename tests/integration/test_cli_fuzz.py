"""Hostile command lines never reach the user as a traceback.

Hypothesis builds command lines for every subcommand from its real options and hostile
values (negative and huge numbers, control and escape characters, bidi overrides,
malformed ids, credentials in URLs, unknown enum values, very long text) and runs
``crm-bridge`` in-process against a profile set up on the real sandboxes, so the
everyday commands get as far as the mailbox and the CRM.  Every run must end with exit
0, 1 or 2 and a readable message: no traceback, no crash report (exit 3 means a bug),
no raw escape character.

The long-running commands (``run``, ``demo``, the sandboxes and the tray) are stopped at
their handler: what is fuzzed for them is the parser and the dispatch, since a valid
command line would start a server that runs until it is signalled.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addin import cli

pytestmark = pytest.mark.integration

COMMANDS: dict[tuple[str, ...], list[str]] = {
    ("run",): ["--profile", "--json"],
    ("status",): ["--profile", "--json"],
    ("track",): ["--profile", "--json", "--message-id", "--item-id", "--search", "--limit", "--regarding"],
    ("untrack",): ["--profile", "--json", "--delete"],
    ("outbox",): ["--profile", "--json", "--retry"],
    ("log",): ["--profile", "--json", "--limit", "--filter"],
    ("config", "show"): ["--profile", "--json", "--activate"],
    ("config", "set"): ["--profile", "--json", "--activate"],
    ("config", "keys"): ["--json"],
    ("config", "secret"): ["--profile", "--json"],
    ("config",): ["--profile", "--json"],
    ("sandbox", "crm"): ["--host", "--port", "--data", "--seed", "--latency-ms", "--throttle"],
    ("sandbox", "mail"): ["--host", "--port", "--data", "--seed", "--latency-ms", "--busy"],
    ("sandbox",): [],
    ("demo",): ["--headless", "--json"],
    (): ["--version", "--help", "-h", "--minimized", "--show", "--profile", "--json"],
}

HOSTILE = [
    "0",
    "-1",
    "-5",
    "99999999999999999999",
    "1e9",
    "nan",
    "0x10",
    " 7 ",
    "",
    "-",
    "--",
    "=",
    "\x1b[2J\x1b]0;pwned\x07",
    "\x9b31m",
    "\u202egnp.exe",
    "a\nb",
    "a\rb",
    "x" * 5000,
    "not-a-guid",
    "{0F8FAD5B-D9CB-469F-A165-70867728950E}",
    "account:not-a-guid",
    "account:",
    ":",
    "../../etc/passwd",
    "/dev/null",
    "/proc/self/nope",
    "crm.url=http://bob:secret@crm.example",
    "crm.url=https://contoso.example:99999",
    "crm.auth=kerberos",
    "tracking.poll_seconds=99999999999999999",
    "tracking.poll_seconds=-1",
    "tracking.never_track=5",
    "mailbox.email=['a@b.c']",
    "mailbox.email=a@b.c",
    "no.such.key=1",
    "KEY",
    "mailbox",
    "crm",
    "secret",
    "default",
    "demo",
    "empty",
    "8.8.8.8",
    "localhost",
    "100/60",
    "0/0",
    "track",
]

hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
)


@st.composite
def command_lines(draw: Any) -> list[str]:
    path = draw(st.sampled_from(sorted(COMMANDS)))
    options = COMMANDS[path]
    tokens = draw(
        st.lists(st.one_of(st.sampled_from(options) if options else hostile_text, hostile_text), max_size=6)
    )
    return [*path, *tokens]


STOPPED = "stopped at the handler"


def _stop(args: argparse.Namespace) -> int:
    print(STOPPED)
    return 0


@pytest.fixture
def stopped_long_runners(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run``, ``demo``, the sandboxes and the tray would serve until signalled."""
    import addin.commands
    import addin.demo
    import addin.sandbox.crm.cli
    import addin.sandbox.mail.cli

    for module in (addin.sandbox.crm.cli, addin.sandbox.mail.cli, addin.demo):
        monkeypatch.setattr(module, "main", _stop)
    monkeypatch.setattr(addin.commands, "run", _stop)
    monkeypatch.setattr(cli, "_tray", lambda args_list: _stop(argparse.Namespace()))


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from addin.sandbox.crm import CrmSandbox
    from addin.sandbox.mail import MailSandbox

    root = tmp_path_factory.mktemp("fuzz-sandboxes")
    # The sandboxes' request log (coloured, on stderr) is not the bridge's output.
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    try:
        with CrmSandbox(root / "crm") as crm, MailSandbox(root / "mail") as mail:
            yield crm, mail
    finally:
        access_log.setLevel(level)


@pytest.fixture
def set_up_config(sandboxes: Any, tmp_path: Path) -> str:
    """A settings file for a profile on the sandboxes; its secrets in the (test) keyring."""
    from addin.config import Config
    from addin.credentials import CredentialStore

    crm, mail = sandboxes
    config = Config(tmp_path / "template" / "config.json")
    config.add_profile(
        "default",
        {
            "mailbox.email": "alex@contoso.example",
            "mailbox.server": mail.ews_url,
            "crm.url": crm.origin,
            "crm.auth": "bearer",
        },
    )
    config.save()
    CredentialStore("default").set("mailbox", "demo")
    CredentialStore("default").set("crm", "sandbox")
    return config.path.read_text(encoding="utf-8")


def _run_hostile(argv: list[str], config_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run one command line from a fresh home holding the set-up profile; check what the user sees."""
    with tempfile.TemporaryDirectory() as home:
        # Each command line starts from its own home: a `config set` must not leak into the next.
        monkeypatch.setenv("CRM_BRIDGE_HOME", home)
        (Path(home) / "config").mkdir()
        (Path(home) / "config" / "config.json").write_text(config_text, encoding="utf-8")
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr("sys.stdout", out)
        monkeypatch.setattr("sys.stderr", err)
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # --help and --version exit through argparse, as they should
            code = exc.code if isinstance(exc.code, int) else 2
        crash_reports = [p.read_text() for p in Path(home).rglob("crash-*.txt")]
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text, (argv, text)
    assert code in (0, 1, 2), (argv, code, text, crash_reports)
    assert not crash_reports, (argv, crash_reports)
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text, (argv, text)


@settings(
    max_examples=int(os.environ.get("CLI_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_no_command_line_gives_a_traceback(
    argv: list[str], stopped_long_runners: None, set_up_config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run_hostile(argv, set_up_config, monkeypatch)


GRID_VALUES = [
    "0",
    "-5",
    "99999999999999999999",
    "not-a-guid",
    "account:not-a-guid",
    "",
    "\x1b[2J\x1b]0;pwned\x07",
    "\u202e",
    "x" * 5000,
    "/dev/null",
    "crm.auth=kerberos",
    "crm.url=http://bob:secret@crm.example",
]


def _grid() -> list[list[str]]:
    """Every option that takes a value, and every positional slot, with each hostile value."""
    flags = {"--json", "--delete", "--activate", "--headless", "--version", "--help", "-h", "--minimized"}
    lines = []
    for path, options in COMMANDS.items():
        for value in GRID_VALUES:
            lines += [[*path, option, value] for option in options if option not in flags]
            lines.append([*path, value])
    return lines


def test_every_option_with_every_hostile_value(
    stopped_long_runners: None, set_up_config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Random examples rarely hit one particular option with one particular value (say
    # `log --limit 99999999999999999999`), so the grid covers those combinations exhaustively.
    for argv in _grid():
        _run_hostile(argv, set_up_config, monkeypatch)


def test_the_installed_command_gives_no_traceback_for_hostile_arguments(tmp_path: Path) -> None:
    """The real entry point in a real process, for the cases the issue reported."""
    env = dict(os.environ, CRM_BRIDGE_HOME=str(tmp_path / "home"))
    cases = [
        ["track", "--limit", "0"],
        ["track", "--limit", "-5"],
        ["outbox", "--retry", "not-a-guid"],
        ["log", "--limit", "99999999999999999999"],
        ["sandbox", "mail", "--data", "/dev/null"],
        ["sandbox", "crm", "--data", "/proc/self/nope/x"],
        ["config", "set", "crm.url=http://bob:secret@crm.example"],
        ["status", "--json"],
    ]
    for argv in cases:
        done = subprocess.run(
            [sys.executable, "-m", "addin", *argv], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode in (0, 2), (argv, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, (argv, done.stderr)
        assert "secret@" not in done.stderr + done.stdout
    saved = tmp_path / "home" / "config" / "config.json"
    assert not saved.exists() or "secret" not in saved.read_text()  # a password in a URL is refused


def test_an_unexpected_error_is_one_line_and_a_private_crash_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import addin.commands
    from addin.credentials import register_secret

    register_secret("Planted-Pa55word-7f3c9e")

    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug holding Planted-Pa55word-7f3c9e")

    monkeypatch.setattr(addin.commands, "status", broken)
    assert cli.main(["status"]) == 3
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Planted" not in captured.err
    [report] = Path(os.environ["CRM_BRIDGE_HOME"]).rglob("crash-*.txt")
    assert str(report) in captured.err
    content = report.read_text()
    assert "Traceback" in content and "RuntimeError" in content and "Planted-Pa55word" not in content
    assert (report.stat().st_mode & 0o777) == 0o600

    assert cli.main(["status", "--json"]) == 3

    document = json.loads(capsys.readouterr().out)
    assert document["error"]["code"] == "internal" and document["error"]["crash_report"]


def test_a_damaged_settings_file_is_reported_once_and_the_command_goes_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, CRM_BRIDGE_HOME=str(home))
    command = [sys.executable, "-m", "addin"]
    set_up = ["config", "set", "mailbox.email=a@b.example", "crm.url=https://contoso.crm.dynamics.com"]
    assert subprocess.run([*command, *set_up], env=env, capture_output=True, timeout=60).returncode == 0
    (home / "config" / "config.json").write_text('{"version": "1", "profiles": "default"}')
    done = subprocess.run([*command, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mailbox"] == "a@b.example"  # the last good copy
    assert done.stderr.count("is damaged") == 1, done.stderr
    assert "last good copy" in done.stderr and "Traceback" not in done.stderr
