"""The cases a salesperson saw as garbage in the CRM, one by one (issue: MIME fidelity)."""

from __future__ import annotations

import pytest

from addin.engine.keys import message_key
from addin.engine.mime import parse_mime
from addin.engine.tracker import not_a_message
from addin.errors import MessageError
from addin.mailbox.types import Address, Message
from addin.mime import EMPTY_REASON, NO_HEADERS_REASON, parse_address_list, read_mime
from addin.sandbox.mail.mime import parse_mime as sandbox_parse


def test_raw_utf8_headers_are_read_as_utf8_everywhere() -> None:
    raw = (
        'From: "Jöhn Doe" <jdöe@mächine.example>\r\nTo: Märy <märy@exämple.net>\r\n'
        "Subject: Säying Hello\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="Angebot für Märy.pdf"\r\n\r\n%PDF\r\n'
    ).encode()
    got = read_mime(raw)
    assert got.subject == "Säying Hello"
    assert got.author == Address("jdöe@mächine.example", "Jöhn Doe")
    assert got.to == (Address("märy@exämple.net", "Märy"),)
    assert [a.name for a in got.attachments] == ["Angebot für Märy.pdf"]
    fields, atts = sandbox_parse(raw)
    assert fields["subject"] == "Säying Hello" and "\ufffd" not in str(fields)
    assert atts[0][0] == "Angebot für Märy.pdf"


@pytest.mark.parametrize(
    ("header", "text"),
    [
        ("=?gb2312?B?1cXPyMn6?=", "张先生"),
        ("=?big5?B?pKSk5Q==?=", "中文"),
        ("=?iso-2022-jp?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは"),
        ("=?ks_c_5601-1987?B?vsiz58fPvLy/5A==?=", "안녕하세요"),
        ("=?x-unknown?Q?caf=C3=A9?=", "café"),  # unknown charset, valid UTF-8: a reader can
    ],
)
def test_encoded_words_in_any_charset_are_decoded(header: str, text: str) -> None:
    got = read_mime(f"From: a@b.example\r\nSubject: {header}\r\n\r\nx".encode())
    assert got.subject == text
    assert bool(got.warnings) == ("unknown" in header)  # lenient readings are said, others are not


def test_unknown_body_charset_is_a_warning_not_a_refusal() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: odd\r\nContent-Type: text/plain; charset=X-UNKNOWN\r\n\r\n"
        b"caf\xc3\xa9 \xe9t\xe9\r\n"
    )
    message = parse_mime(raw)
    assert message.subject == "odd"
    assert "caf" in message.text_body and "t" in message.text_body
    assert message.warnings and "X-UNKNOWN" in message.warnings[0].upper()


def test_delivery_report_keeps_its_status_text_and_the_returned_message() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example\r\nTo: alex@contoso.example\r\nSubject: Undelivered\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n"
        b"--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        b"Final-Recipient: rfc822; bob@gone.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--R\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: alex@contoso.example\r\nSubject: Quote\r\n\r\nHi\r\n"
        b"--R--\r\n"
    )
    got = read_mime(raw)
    assert got.text_body is not None and "could not be delivered" in got.text_body
    [status, returned] = got.attachments
    assert status.name == "delivery-status.txt" and status.content_type == "message/delivery-status"
    assert (
        b"Final-Recipient: rfc822; bob@gone.example" in status.content and b"Status: 5.1.1" in status.content
    )
    assert returned.name == "Quote.eml" and b"Subject: Quote" in returned.content


def test_containers_alternatives_and_header_only_parts_are_not_files() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n"
        b"--M\r\nContent-Type: multipart/alternative; boundary=A\r\n\r\n"
        b"--A\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        b"--A\r\nContent-Type: text/enriched\r\n\r\n<bold>plain</bold>\r\n"
        b"--A\r\nContent-Type: text/html\r\n\r\n<p>plain</p>\r\n--A--\r\n"
        b"--M\r\nContent-Type: application/octet-stream\r\n\r\n"
        b"--M\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\nContent-Disposition: inline\r\n\r\nPNG\r\n"
        b"--M--\r\n"
    )
    got = read_mime(raw)
    assert (got.text_body or "").strip() == "plain" and "<p>plain</p>" in (got.html_body or "")
    [logo] = got.attachments
    assert logo.is_inline and logo.content_id == "logo" and logo.size == 3
    assert not got.has_attachments  # Exchange: an inline picture is not an attachment to show


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice@example.com <bob@example.com>", [("bob@example.com", "alice@example.com")]),
        ("a@x.example, b@y.example", [("a@x.example", ""), ("b@y.example", "")]),
        ("<Undisclosed-Recipient:@host;>", []),
        ("undisclosed-recipients:;", []),
        ("John Smith john@x.example", [("john@x.example", "John Smith")]),
        ('friends: a@x.example, "B" <b@y.example>;', [("a@x.example", ""), ("b@y.example", "B")]),
        ('"Doe, Jane" <jane@x.example>', [("jane@x.example", "Doe, Jane")]),
        ("Mikel@Lindsaar <raasdnil@gmail.com>", [("raasdnil@gmail.com", "Mikel@Lindsaar")]),
        ("not an address", []),
    ],
)
def test_addresses_follow_the_rfc_and_never_invent_a_party(
    value: str, expected: list[tuple[str, str]]
) -> None:
    assert [(a.email, a.name) for a in parse_address_list(value)] == expected


def test_several_from_addresses_are_each_kept() -> None:
    got = read_mime(b"From: a@x.example, b@y.example\r\nSubject: s\r\n\r\nx")
    assert [a.email for a in got.from_] == ["a@x.example", "b@y.example"]
    assert got.author == Address("a@x.example")


def _without_id(attachment: bytes) -> bytes:
    return (
        b"From: a@x.example\r\nTo: b@y.example\r\nSubject: Same\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
        b"Content-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=q.pdf\r\n\r\n"
        + attachment
        + b"\r\n--M--\r\n"
    )


def test_messages_without_message_id_differing_only_in_an_attachment_get_different_keys() -> None:
    first, second = parse_mime(_without_id(b"%PDF one")), parse_mime(_without_id(b"%PDF two"))
    assert message_key(first) != message_key(second)
    assert message_key(first) == message_key(parse_mime(_without_id(b"%PDF one")))
    assert message_key(first).startswith("<synthetic-")


@pytest.mark.parametrize(("raw", "reason"), [(b"", EMPTY_REASON), (b"\x00\x01\x02 junk", NO_HEADERS_REASON)])
def test_empty_or_headerless_input_is_refused_with_one_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MessageError) as refused:
        parse_mime(raw)
    assert refused.value.message == reason
    # The mailbox path meets such an item as a message with nothing in it: same reason.
    fields, atts = sandbox_parse(raw)
    mailbox_item = Message(
        id="x",
        folder_id="f",
        message_id=fields["message_id"],
        subject=fields["subject"] or "",
        sender=None,
        text_body=fields["text_body"] or "",
        headers=tuple((n, v) for n, v in fields["headers"]),
    )
    assert not atts and not_a_message(mailbox_item) == reason
