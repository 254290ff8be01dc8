"""``crm-bridge demo --mailbox imap`` where Dovecot is not installed says what to install."""

from __future__ import annotations

import pytest

from addin import cli
from addin.sandbox import dovecot


def test_missing_dovecot_names_the_packages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dovecot, "dovecot_binary", lambda: None)
    assert cli.main(["demo", "--mailbox", "imap", "--headless"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install dovecot-imapd dovecot-lmtpd" in err
    assert "Traceback" not in err
