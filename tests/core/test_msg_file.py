"""Outlook .msg files read into the port's Message: real samples, ANSI variants and damaged files."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import olefile
import pytest

from addin.engine.mime import parse_mime
from addin.engine.msg_file import is_msg, parse_msg
from addin.errors import MessageError
from addin.mailbox.types import Address, Sensitivity

DATA = Path(__file__).resolve().parent.parent / "data" / "msg"
OTHER = (DATA / "other.msg").read_bytes()
OUTER = (DATA / "outer.msg").read_bytes()
INNER_SUBJECT = "回复：转发：反馈·北京 2017年12月02-03日 销售"
PDF_NAME = "北京 2017年12月02-03日 销售主管 确认n.pdf"


def test_received_message_takes_its_internet_headers() -> None:
    msg = parse_msg(OTHER)
    assert msg.subject == "投递状态通知 (Failure Notice)"
    assert msg.sender == Address("mailer-daemon@tjdpf.org.cn", "Mail Delivery Subsystem")
    assert msg.to == (Address("yosipnps@model.com"),)
    assert msg.cc == () and msg.bcc == ()
    assert msg.message_id == "<99d78a$k8gjl@esa2.mentor.iphmx.com>"
    assert msg.sent == datetime(2017, 11, 27, 17, 44, 30, tzinfo=timezone(timedelta(hours=8)))
    assert msg.received == datetime(2017, 11, 27, 9, 44, 33, tzinfo=UTC)  # PR_MESSAGE_DELIVERY_TIME
    assert msg.text_body.startswith("Hi. This is an automatically generated Delivery Status Notification")
    assert "recipient: \r\nhp_lsz@tjdpf.org.cn" in msg.text_body
    assert ("Message-ID", "<99d78a$k8gjl@esa2.mentor.iphmx.com>") in msg.headers
    assert msg.sensitivity is Sensitivity.NORMAL


def test_an_attached_email_becomes_an_eml_that_keeps_its_own_attachment() -> None:
    (attachment,) = parse_msg(OTHER).attachments
    assert attachment.name == f"{INNER_SUBJECT}.eml"
    assert attachment.content_type == "message/rfc822"
    assert attachment.content_id == "25F04A6D33AEC848AF8CB2B4AE1FADFF@mentor.com"
    inner = parse_mime(attachment.content)
    assert inner.subject == INNER_SUBJECT
    assert inner.sender == Address("yosipnps@model.com", "Meredith chen")
    assert inner.to == (Address("hp_lsz@tjdpf.org.cn"),)
    assert inner.message_id == "<20171127174424864054@model.com>"
    assert inner.text_body.startswith("Meredith\r\n\r\nFYI...")
    (pdf,) = inner.attachments
    assert pdf.name == PDF_NAME
    assert pdf.size == 144702 and pdf.content.startswith(b"%PDF")


def test_unsent_message_without_headers_is_built_from_its_properties() -> None:
    msg = parse_msg(OUTER)
    assert msg.subject == "outer subject"
    assert msg.sender is None  # saved before sending: the file names no sender at all
    assert msg.to == (Address("outer@foo.bar"),)
    assert msg.message_id is None and msg.headers == ()
    assert msg.text_body == "Outer body\r\n"
    assert msg.sent is None  # no PR_CLIENT_SUBMIT_TIME
    assert msg.received == datetime(2016, 11, 15, 23, 29, 5, 816000, tzinfo=UTC)
    (attachment,) = msg.attachments
    assert attachment.name == "test.eml" and attachment.content_type == "message/rfc822"
    inner = parse_mime(attachment.content)
    assert (inner.subject, inner.to, inner.text_body) == ("test", (Address("test@foobar.com"),), "body\r\n")
    assert b"\r\r" not in attachment.content


def _name(text: str) -> bytes:
    return text.encode("utf-16-le")


def _set_fixed(ole: olefile.OleFileIO, stream: str, header: int, tag: int, value: int) -> None:
    raw = bytearray(ole.openstream(stream).read())
    for offset in range(header, len(raw), 16):
        if struct.unpack_from("<I", raw, offset)[0] == tag:
            struct.pack_into("<I", raw, offset + 8, value)
            ole.write_stream(stream, bytes(raw))
            return
    raise AssertionError(f"{tag:08X} not in {stream}")


def test_ansi_strings_recipient_types_and_sensitivity(tmp_path: Path) -> None:
    """The sample rewritten as an older Outlook writes it: 8-bit strings, a Bcc, marked private."""
    data = OUTER.replace(_name("__substg1.0_0037001F"), _name("__substg1.0_0037001E"))
    path = tmp_path / "ansi.msg"
    path.write_bytes(data)
    ole = olefile.OleFileIO(str(path), write_mode=True)
    ole.write_stream("__substg1.0_0037001E", "Angebot für Müller".encode("cp1252").ljust(26, b"\0"))
    ole.write_stream(
        "__attach_version1.0_#00000000/__substg1.0_3701000D/__substg1.0_0037001E",
        "Grüße".encode("cp1252").ljust(8, b"\0"),
    )
    _set_fixed(ole, "__recip_version1.0_#00000000/__properties_version1.0", 8, 0x0C150003, 3)
    _set_fixed(ole, "__properties_version1.0", 32, 0x00360003, 2)
    ole.close()
    msg = parse_msg(path.read_bytes())
    assert msg.subject == "Angebot für Müller"
    assert msg.to == () and msg.bcc == (Address("outer@foo.bar"),)
    assert msg.sensitivity is Sensitivity.PRIVATE
    assert msg.attachments[0].name == "Grüße.eml"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\0" * 4096, "empty"),
        (b"From: someone\r\n\r\nnot an outlook file", "not an Outlook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4, "damaged"),
        (OTHER[:512], "damaged"),
        (OTHER[: len(OTHER) // 2], "truncated"),
        (OUTER[:-3000], "truncated"),
    ],
    ids=["empty", "zeros", "text", "ole-magic-then-garbage", "header-only", "half", "tail-cut"],
)
def test_unreadable_files_raise_message_error(data: bytes, words: str) -> None:
    with pytest.raises(MessageError) as caught:
        parse_msg(data)
    assert words in caught.value.message


def test_an_ole_file_that_is_not_a_message_is_refused() -> None:
    data = OUTER.replace(_name("__properties_version1.0"), _name("__properties_version9.9"))
    with pytest.raises(MessageError, match="no MAPI property stream"):
        parse_msg(data)


def test_sniffing_by_magic_bytes() -> None:
    assert is_msg(OTHER) and is_msg(OUTER)
    assert not is_msg(b"From: a@b.example\r\n") and not is_msg(b"")


@pytest.mark.parametrize("sample", [OTHER, OUTER], ids=["other", "outer"])
def test_corrupted_files_give_a_message_or_message_error_never_a_crash(sample: bytes) -> None:
    """Bytes flipped in the header, allocation tables and directory, where a parser is most fragile."""
    rng = random.Random(11)
    refused = 0
    for _ in range(80):
        data = bytearray(sample)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(8, 4096)] = rng.randrange(256)
        try:
            parse_msg(bytes(data))
        except MessageError:
            refused += 1
    assert 0 < refused < 80  # some damage is fatal, some lands in unused bytes
