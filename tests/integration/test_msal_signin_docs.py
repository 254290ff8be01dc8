"""Every command in docs/MICROSOFT-SIGN-IN.md runs, and does what the page says.

The ``config`` commands run as written (placeholders filled in) and their values are read back;
the ``sign-in`` commands run against the loopback identity stand-in with MSAL's real code, each as
if in a new process.  Mocked, as in test_msal_signin.py: only Microsoft's sign-in pages (the
browser's visit, and the user entering the device code).
"""

from __future__ import annotations

import re
import shlex
import threading
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from identity_standin import TENANT_ID, USERNAME, FakeBrowser, IdentityStandIn, RunningStandIn, TestAuthority

from addin.cli import main
from addin.config import Config
from addin.settings_values import coerce
from addin.signin import forget_shared

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "MICROSOFT-SIGN-IN.md"
CLIENT_ID = "d0c5d0c5-1111-4222-8333-444455556666"
PLACEHOLDERS = {"<application-id>": CLIENT_ID, "<tenant-id>": TENANT_ID, "<org>": "contoso"}


def doc_commands() -> list[list[str]]:
    """The ``crm-bridge ...`` lines of the page's shell blocks, placeholders filled in."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S):
        for line in block.splitlines():
            if line.startswith("crm-bridge "):
                for placeholder, value in PLACEHOLDERS.items():
                    line = line.replace(placeholder, value)
                commands.append(shlex.split(line)[1:])
    return commands


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStandIn]:
    authority = TestAuthority.create(tmp_path / "test-ca")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_pem))
    server = IdentityStandIn(client_id=CLIENT_ID).serve(authority)
    yield server
    server.stop()
    forget_shared()


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    forget_shared()  # each command as its own process: state comes from the config and keyring
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_command_on_the_sign_in_page_works(
    running: RunningStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: Any,
) -> None:
    standin = running.standin
    commands = doc_commands()
    assert {c[0] for c in commands} == {"config", "sign-in"}
    config_commands = [c for c in commands if c[0] == "config"]
    sign_in_commands = [c for c in commands if c[0] == "sign-in"]
    assert len(config_commands) >= 6 and len(sign_in_commands) == 4

    for argv in config_commands:
        code, out = run(capsys, argv)
        assert code == 0, (argv, out)
        if argv[1] == "set":
            profile = Config.load().profile()
            for pair in argv[2:]:
                key, _, value = pair.partition("=")
                assert profile.get(key) == coerce(key, value), pair
    profile = Config.load().profile()
    assert profile.get("auth.client_id") == CLIENT_ID and profile.get("mailbox.backend") == "graph"
    assert profile.get("auth.broker") is False and profile.get("auth.method") == "device_code"

    # Test-only: the authority is the stand-in instead of the national cloud the page set last.
    code, _ = run(
        capsys,
        [
            "config",
            "set",
            f"auth.authority={running.authority_host}",
            "auth.method=browser",
            "auth.broker=yes",
        ],
    )
    assert code == 0

    browser = FakeBrowser()
    monkeypatch.setattr(webbrowser, "open", browser.open)
    outputs: dict[str, tuple[int, str]] = {}
    for argv in sign_in_commands:
        approver = None
        if "--device-code" in argv:
            standin.first_poll.clear()

            def approve() -> None:
                assert standin.first_poll.wait(30)
                for user_code in standin.pending_user_codes():
                    standin.approve(user_code)

            approver = threading.Thread(target=approve, daemon=True)
            approver.start()
        outputs[" ".join(argv)] = run(capsys, argv)
        if approver is not None:
            approver.join(10)

    assert outputs["sign-in"] == (0, f"Signed in as {USERNAME}.\n")
    assert len(browser.opened) == 1 and browser.errors == []
    code, out = outputs["sign-in --device-code"]
    assert code == 0 and "enter the code" in out and out.endswith(f"Signed in as {USERNAME}.\n")
    assert outputs["sign-in --status"] == (0, f"Signed in as {USERNAME}.\n")
    assert outputs["sign-in --sign-out"] == (0, "Signed out; the saved sign-in was deleted.\n")
    assert standin.prompts == 2  # the browser once, the device code once; --status asked nobody
    assert not [k for k in memory_keyring.store if k[0].endswith(":msal-cache")]
    assert run(capsys, ["sign-in", "--status"]) == (1, "Not signed in.\n")


def test_sign_in_without_microsoft_resources_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "set", "crm.auth=bearer", "mailbox.backend=ews"]) == 0
    capsys.readouterr()
    assert main(["sign-in"]) == 2
    err = capsys.readouterr().err
    assert "Nothing to sign in to" in err and "Traceback" not in err
