"""docs/CONNECT.md's commands, run as written against the sandboxes.

Every ``crm-bridge`` line in the page's ``sh`` blocks is executed in order, per section, with an
isolated config folder and the test keyring (tests/conftest.py).  The only changes are the ones
a real server needs: the page's server addresses (contoso.com) are pointed at the sandboxes, the
demo mailbox's address stands in for alex@contoso.com, and the ``sandbox`` lines are replaced by
this test's own sandboxes on free ports.  What the sandboxes can answer is then checked for real:
the mailbox by autodiscover and by URL (Basic sign-in), tracking and status on the rehearsal
profile.  NTLM and Microsoft sign-in cannot be answered by the sandboxes (they speak Basic and a
bearer token); for those the stored profile is checked against what the page says.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.bridge import Bridge
from addin.cli import main
from addin.config import Config
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration
DOC = Path(__file__).resolve().parents[2] / "docs" / "CONNECT.md"
# What `config secret` is typed for each profile and kind (the sandboxes' own credentials).
SECRETS = {"mailbox": "demo", "crm": "sandbox"}


def sections() -> dict[str, list[list[str]]]:
    """``## heading`` → the ``crm-bridge`` command lines of its ``sh`` blocks, split into argv."""
    found: dict[str, list[list[str]]] = {}
    heading = ""
    for block_or_heading in re.finditer(r"^## ([^\n]+)$|^```sh\n(.*?)^```", DOC.read_text(), re.M | re.S):
        if block_or_heading.group(1):
            heading = block_or_heading.group(1)
            continue
        for line in block_or_heading.group(2).splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                assert argv[0] == "crm-bridge", line
                found.setdefault(heading, []).append(argv[1:])
    return found


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[tuple[CrmSandbox, MailSandbox]]:
    with CrmSandbox(tmp_path / "crm") as crm, MailSandbox(tmp_path / "mail") as mail:
        yield crm, mail


def to_sandboxes(argv: list[str], crm: CrmSandbox, mail: MailSandbox) -> list[str]:
    mail_origin = mail.ews_url.split("/EWS/")[0]
    swaps = {
        "http://127.0.0.1:8001": crm.origin,
        "http://127.0.0.1:8002": mail_origin,
        "https://mail.contoso.com": mail_origin,
        "https://crm.contoso.com/contoso": crm.origin,
        "https://contoso.crm.dynamics.com": crm.origin,
        "alex@contoso.com": "alex@contoso.example",
    }
    out = []
    for arg in argv:
        for old, new in swaps.items():
            arg = arg.replace(old, new)
        out.append(arg)
    return out


def run_section(
    title: str,
    crm: CrmSandbox,
    mail: MailSandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[list[str], str]]:
    commands = sections()[title]
    assert any(argv[0] == "config" for argv in commands), f"no config command in {title!r}"
    outputs = []
    for argv in commands:
        if argv[0] == "sandbox":
            continue  # this test's own sandboxes stand in for them (on free ports)
        if argv[:2] == ["config", "secret"]:
            monkeypatch.setattr("sys.stdin", io.StringIO(SECRETS[argv[2]] + "\n"))
        real = to_sandboxes(argv, crm, mail)
        code = main(real)
        captured = capsys.readouterr()
        assert code == 0, (real, captured.err)
        outputs.append((argv, captured.out))
    return outputs


def keyring_bridge(name: str) -> Bridge:
    """The profile as saved, with the secrets `config secret` put in the (test) keyring."""
    from addin.credentials import CredentialStore
    from addin.secrets import KeyringSecrets

    config = Config.load()
    return Bridge(config.profile(name), secrets=KeyringSecrets(CredentialStore(name)), config=config)


def stored(profile: str) -> dict[str, object]:
    return dict(Config.load().profile(profile).values)


def test_every_section_with_commands_is_covered() -> None:
    titles = set(sections())
    assert titles == {
        "Rehearse against the sandboxes",
        "(a) Exchange Server on premises + Dynamics 365 on premises",
        "(b) Exchange Online + Dynamics 365 online (Microsoft sign-in)",
        "(c) Any IMAP/SMTP provider",
        "Track in CRM from your mail client",  # run by test_connect_doc_mail_clients.py
    }, titles


def test_rehearsal_connects_tracks_and_reports(
    sandboxes: tuple[CrmSandbox, MailSandbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm, mail = sandboxes
    outputs = run_section("Rehearse against the sandboxes", crm, mail, capsys, monkeypatch)
    track_out = next(out for argv, out in outputs if argv[0] == "track")
    assert re.search(r"^Tracked ", track_out, re.M), track_out
    status_out = next(out for argv, out in outputs if argv[0] == "status")
    assert re.search(r"^Profile +rehearsal$", status_out, re.M), status_out
    code = main(["status", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["profile"] == "rehearsal"  # --activate held


def test_exchange_and_dynamics_on_premises(
    sandboxes: tuple[CrmSandbox, MailSandbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm, mail = sandboxes
    title = "(a) Exchange Server on premises + Dynamics 365 on premises"
    commands = [argv for argv in sections()[title] if argv[0] != "sandbox"]
    # Autodiscover from the address alone: contoso.com's DNS is not ours, so the test names the
    # sandbox's autodiscover endpoint (the advanced setting for unusual setups) and connects.
    first = commands[:2]
    assert first[0][:2] == ["config", "set"] and first[1][:3] == ["config", "secret", "mailbox"]
    for argv in first:
        if argv[1] == "secret":
            monkeypatch.setattr("sys.stdin", io.StringIO("demo\n"))
        assert main(to_sandboxes(argv, crm, mail)) == 0
    assert (
        keyring_bridge("office")
        .test_mailbox({"mailbox.autodiscover_url": mail.autodiscover_soap_url})
        .address
        == "alex@contoso.example"
    )
    capsys.readouterr()

    run_section(title, crm, mail, capsys, monkeypatch)
    values = stored("office")
    assert values["mailbox.server"] == mail.ews_url  # the page's EWS URL form, pointed at the sandbox
    assert values["mailbox.auth"] == "ntlm" and values["mailbox.username"] == "CONTOSO\\alex"
    assert values["crm.auth"] == "ntlm" and values["crm.username"] == "CONTOSO\\alex"
    assert values["crm.url"] == crm.origin
    # The URL form from the page, with Basic sign-in (what the sandbox speaks), connects.
    info = keyring_bridge("office").test_mailbox({"mailbox.auth": "basic", "mailbox.username": ""})
    assert info.address == "alex@contoso.example"


def test_exchange_online_and_dynamics_online(
    sandboxes: tuple[CrmSandbox, MailSandbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm, mail = sandboxes
    outputs = run_section(
        "(b) Exchange Online + Dynamics 365 online (Microsoft sign-in)", crm, mail, capsys, monkeypatch
    )
    values = stored("cloud")
    assert values["crm.auth"] == "oauth" and values["mailbox.email"] == "alex@contoso.example"
    status_out = next(out for argv, out in outputs if argv[0] == "status")
    assert re.search(r"^Profile +cloud$", status_out, re.M), status_out
    # The mailbox half: Exchange Online over Graph with the same Microsoft sign-in.
    assert values["mailbox.backend"] == "graph" and values["mailbox.auth"] == "oauth"
    from addin.compose import graph_signs_in

    # The mailbox's token comes from the profile's Microsoft sign-in, the one the CRM uses.
    assert graph_signs_in(Config.load().profile("cloud"))


def test_any_imap_smtp_provider(
    sandboxes: tuple[CrmSandbox, MailSandbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm, mail = sandboxes
    outputs = run_section("(c) Any IMAP/SMTP provider", crm, mail, capsys, monkeypatch)
    values = stored("anymail")
    assert values["mailbox.backend"] == "imap"
    assert values["mailbox.imap_server"] == "imaps://imap.contoso.com"
    assert values["mailbox.smtp_server"] == "smtp://smtp.contoso.com:587"
    settings = Config.load().profile("anymail").mailbox_settings()
    assert settings.backend == "imap" and settings.email == "alex@contoso.example"
    status_out = next(out for argv, out in outputs if argv[0] == "status")
    assert re.search(r"^Profile +anymail$", status_out, re.M), status_out
    # The password went to the keyring, never into the settings file.
    assert keyring_bridge("anymail").secrets.get("mailbox") == "demo"
    assert "demo" not in Config.load().path.read_text()


def test_the_readme_points_here() -> None:
    readme = (DOC.parents[1] / "README.md").read_text()
    assert "docs/CONNECT.md" in readme and "## Connect your own" in readme
