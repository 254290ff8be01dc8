"""Message keys, header-injection checks, MIME parsing and HTML-to-text: the engine's pure parts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addin.engine.headers import check_address, check_subject
from addin.engine.html_text import html_to_text
from addin.engine.keys import activity_id_for, message_key, normalize_message_id
from addin.engine.mime import parse_mime
from addin.errors import HeaderInjectionError, MessageError
from addin.mailbox.types import Address, Message


def _msg(**kw: object) -> Message:
    base: dict[str, object] = {
        "id": "1",
        "folder_id": "f",
        "message_id": None,
        "subject": "Hi",
        "sender": Address("a@x.example"),
        "to": (Address("b@y.example"),),
        "sent": datetime(2026, 1, 2, tzinfo=UTC),
        "text_body": "body",
    }
    base.update(kw)
    return Message(**base)  # type: ignore[arg-type]


def test_message_key_uses_message_id_in_one_form() -> None:
    assert normalize_message_id(" abc@x ") == "<abc@x>"
    assert normalize_message_id("<abc@x>") == "<abc@x>"
    assert normalize_message_id("  ") is None
    assert message_key(_msg(message_id="abc@x")) == message_key(_msg(message_id="<abc@x>"))


def test_synthetic_key_is_stable_and_distinguishes_messages() -> None:
    a = message_key(_msg())
    assert a == message_key(_msg())
    assert a != message_key(_msg(subject="Other"))
    assert a.endswith("@crm-bridge.invalid>")
    assert activity_id_for(a) == activity_id_for(a)
    assert activity_id_for(a) != activity_id_for(message_key(_msg(subject="Other")))


@pytest.mark.parametrize(
    "subject", ["Quote\r\nBcc: evil@x.example", "A\nB", "Null\x00byte", "Line\u2028sep", "Esc\x1b[31m"]
)
def test_subjects_with_control_characters_are_refused(subject: str) -> None:
    with pytest.raises(HeaderInjectionError):
        check_subject(subject)


def test_ordinary_subjects_pass() -> None:
    assert check_subject("Re: Offer – 20 % off\tQ3") == "Re: Offer – 20 % off\tQ3"


@pytest.mark.parametrize(
    "address",
    [
        "bob@x.example\r\nBcc: evil@y.example",
        "bob@x.example, eve@y.example",
        "Bob <bob@x.example>",
        "no-at-sign",
        "bob@localhost",
        "bob@x.example\n",
        "",
    ],
)
def test_hostile_addresses_are_refused(address: str) -> None:
    with pytest.raises(HeaderInjectionError):
        check_address(address)


@given(st.text(min_size=1, max_size=60))
def test_no_address_with_a_line_break_ever_passes(text: str) -> None:
    candidate = f"a{text}@x.example"
    try:
        result = check_address(candidate)
    except HeaderInjectionError:
        return
    assert "\r" not in result and "\n" not in result and "," not in result


def test_parse_mime_reads_parts_and_sensitivity() -> None:
    raw = (
        b"From: Jane <jane@fabrikam.example>\r\nTo: alex@contoso.example\r\nSubject: Hello\r\n"
        b"Message-ID: <m1@fabrikam.example>\r\nIn-Reply-To: <m0@contoso.example>\r\nSensitivity: Private\r\n"
        b"Date: Tue, 3 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nHi there\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=q.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--XX--\r\n"
    )
    m = parse_mime(raw)
    assert m.subject == "Hello" and m.sender == Address("jane@fabrikam.example", "Jane")
    assert m.in_reply_to == "<m0@contoso.example>"
    assert m.sensitivity.value == "private"
    assert m.attachments[0].name == "q.pdf" and m.attachments[0].content == b"%PDF"
    assert "Hi there" in m.text_body


@pytest.mark.parametrize("raw", [b"", b"   \n", b"\x00\x01\x02 binary junk"])
def test_parse_mime_refuses_non_mail_with_a_clear_error(raw: bytes) -> None:
    with pytest.raises(MessageError):
        parse_mime(raw)


def test_html_to_text() -> None:
    assert html_to_text("<p>Hello <b>Bob</b></p><script>x()</script><p>Bye &amp; thanks</p>") == (
        "Hello Bob\n\nBye & thanks"
    )
    assert html_to_text("plain &lt;text&gt;") == "plain <text>"
