"""IMAP backend pieces that need no server: ids, keywords, stamps, SMTP phases."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from addin.errors import ConfigError, MessageError, ThrottledError, UnknownOutcomeError
from addin.mailbox import imap_codec as codec
from addin.mailbox.imap_conn import parse_server as parse_imap
from addin.mailbox.smtp_submit import Submission
from addin.mailbox.smtp_submit import parse_server as parse_smtp
from addin.mailbox.types import TRACK_REQUEST_CATEGORY, TRACKED_CATEGORY, Address, OutgoingMessage


def test_ids_round_trip_and_reject_foreign_text() -> None:
    item = codec.message_id_of("INBOX/Kunden: Müller", 1796, 42)
    assert codec.parse_id(item) == ("INBOX/Kunden: Müller", 1796, 42)
    for bad in ("AAMkAGNvbnRyYWN0LWJhZC1pZA==", "12:x:INBOX", "1:2:", "no-such-item"):
        assert codec.parse_id(bad) is None


@pytest.mark.parametrize("category", [TRACKED_CATEGORY, TRACK_REQUEST_CATEGORY, "Customer", "Key account"])
def test_categories_survive_the_keyword_round_trip(category: str) -> None:
    keyword = codec.keyword_of(category)
    assert " " not in keyword and codec.category_of(keyword) == category


def test_thunderbird_tags_and_bookkeeping_keywords() -> None:
    assert codec.category_of("track_in_crm") == TRACK_REQUEST_CATEGORY
    assert codec.category_of("TRACKED_IN_CRM") == TRACKED_CATEGORY
    flags = [b"\\Seen", b"$Forwarded", b"$label1", b"crmstamp_abc-1", b"Customer"]
    assert codec.categories_of(flags) == ("Customer",)
    # A category that looks like a system keyword is escaped, not lost.
    assert codec.category_of(codec.keyword_of("$Junk")) == "$Junk"
    assert codec.keyword_of("$Junk").startswith("_")
    with pytest.raises(MessageError):
        codec.keyword_of("   ")


def test_stamp_precedence_keyword_header_and_cleared() -> None:
    assert codec.stamp_of([b"crmstamp_a1"], "from-header") == "a1"
    assert codec.stamp_of([], "from-header") == "from-header"
    assert codec.stamp_of([b"crm_nostamp"], "from-header") is None
    with pytest.raises(MessageError):
        codec.stamp_keyword("has space")


def test_outgoing_mime_has_stamp_and_no_bcc() -> None:
    msg = codec.compose(
        OutgoingMessage(
            "<m1@crm.example>",
            "Quote",
            (Address("a@x.example", "A"),),
            bcc=(Address("hidden@x.example"),),
            html_body="<p>Hi</p>",
            stamp="act-1",
        ),
        Address("me@x.example"),
    )
    assert msg["Message-ID"] == "<m1@crm.example>" and msg[codec.STAMP_HEADER] == "act-1"
    assert msg["Bcc"] is None and b"hidden@x.example" not in msg.as_bytes()
    assert codec.recipients(
        OutgoingMessage("<m>", "s", (Address("a@x.example"),), bcc=(Address("hidden@x.example"),))
    ) == ["a@x.example", "hidden@x.example"]


def test_server_urls() -> None:
    assert parse_imap("imap.example.com") == ("imap.example.com", 993, "tls")
    assert parse_imap("imap://127.0.0.1:1143") == ("127.0.0.1", 1143, "starttls")
    assert parse_smtp("", "smtp://imap.example.com:587") == ("imap.example.com", 587, "starttls")
    assert parse_smtp("smtps://smtp.example.com", "") == ("smtp.example.com", 465, "tls")
    for bad in ("http://x", "imap://"):
        with pytest.raises(ConfigError):
            parse_imap(bad)


class _Client:
    """Stands in for smtplib.SMTP only to steer which phase fails (no server needed)."""

    def __init__(self, data_error: BaseException | None, code: int = 250) -> None:
        self.data_error, self.code = data_error, code

    def data(self, _data: bytes) -> tuple[int, bytes]:
        if self.data_error is not None:
            raise self.data_error
        return self.code, b"ok"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (smtplib.SMTPServerDisconnected("lost"), UnknownOutcomeError),
        (TimeoutError("read timed out"), UnknownOutcomeError),
        (smtplib.SMTPDataError(451, b"try later"), ThrottledError),
        (smtplib.SMTPDataError(554, b"rejected"), MessageError),
    ],
)
def test_smtp_failures_during_data_are_sorted_by_what_is_known(error: BaseException, expected: type) -> None:
    submission = Submission("127.0.0.1", 1, "starttls", username="u", secret="s", oauth=False, timeout=1)
    client: Any = _Client(error)
    with pytest.raises(expected):
        submission._data(client, b"x")


def test_with_ci_a_missing_dovecot_fails_the_run_instead_of_skipping(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    target = str(root / "tests" / "contract" / "test_mailbox_contract.py")
    base = dict(os.environ, CRM_BRIDGE_DOVECOT=str(tmp_path / "no-dovecot"))
    args = [
        sys.executable,
        "-m",
        "pytest",
        target,
        "-q",
        "-k",
        "imap and check_proves",
        "-p",
        "no:cacheprovider",
    ]
    in_ci = subprocess.run(args, capture_output=True, text=True, env={**base, "CI": "true"}, timeout=120)
    assert in_ci.returncode != 0 and "dovecot-imapd" in in_ci.stdout
    base.pop("CI", None)
    local = subprocess.run(args, capture_output=True, text=True, env=base, timeout=120)
    assert local.returncode == 0 and "1 skipped" in local.stdout
