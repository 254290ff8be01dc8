"""Property: whatever headers, charsets and MIME tree a message has, the reading loses nothing
and invents nothing.

Hypothesis writes messages with random subjects and display names (as RFC 2047 encoded-words
in many charsets, or as raw RFC 6532 UTF-8), random address lists, and random MIME trees of
bodies, alternatives, related inline pictures, files with RFC 2231 names, attached messages
and empty header-only parts.  The generator knows what it put in; ``read_mime`` (used by the
drop path, the sandbox Exchange and every backend) must give exactly that back, and the
sandbox Exchange's item fields must agree with it.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addin.mailbox.types import Address
from addin.mime import read_mime
from addin.sandbox.mail.mime import parse_mime as sandbox_parse

CHARSETS = [
    "utf-8",
    "iso-8859-1",
    "iso-8859-2",
    "koi8-r",
    "gb2312",
    "big5",
    "iso-2022-jp",
    "shift_jis",
    "euc-kr",
]
WORDS = st.sampled_from(
    [
        "Angebot",
        "Prüfung",
        "naïve",
        "Привет",
        "你好",
        "報價單",
        "見積もり",
        "안녕하세요",
        "quote",
        "Q3",
        "a,b",
        "x@y",
        "O'Brien",
        "50%",
        "re:",
        "…",
        "€",
    ]
)
TEXT = st.lists(WORDS, min_size=1, max_size=5).map(" ".join)
LOCAL = st.from_regex(r"[a-z][a-z0-9._-]{0,8}[a-z0-9]", fullmatch=True).filter(lambda s: ".." not in s)
DOMAIN = st.sampled_from(["contoso.example", "fabrikam.example", "例え.example", "mail.example.org"])
NAME_CHARS = st.sampled_from(list("abcdefXYZ0123 _-éü中文データ"))
FILE_NAME = st.tuples(
    st.text(NAME_CHARS, min_size=1, max_size=10).map(str.strip).filter(bool),
    st.sampled_from([".pdf", ".docx", ".txt", ".zip", ""]),
).map("".join)


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode({"gb2312": "gb18030", "big5": "big5hkscs"}.get(charset, charset))
        text.encode(charset)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _header_text(text: str, charset: str, raw_utf8: bool) -> str:
    """How a sender's client writes the text: plain ASCII, raw UTF-8, or an encoded-word."""
    if text.isascii():
        return text
    if raw_utf8:
        return text
    cs = charset if _encodable(text, charset) else "utf-8"
    return Header(text, cs).encode()


@dataclass
class Built:
    raw: bytes
    subject: str
    from_: list[Address]
    to: list[Address]
    cc: list[Address]
    text: str | None = None
    html: str | None = None
    files: list[tuple[str, str, bytes, bool]] = field(default_factory=list)  # name, type, bytes, inline
    attached_subjects: list[str] = field(default_factory=list)


@st.composite
def addresses(draw: st.DrawFn, raw_utf8: bool, charset: str, max_size: int) -> list[Address]:
    found: dict[str, Address] = {}
    for _ in range(draw(st.integers(0, max_size))):
        domain = draw(DOMAIN)
        if not raw_utf8 and not domain.isascii():
            domain = "contoso.example"
        addr = f"{draw(LOCAL)}@{domain}"
        name = draw(st.one_of(st.just(""), TEXT))
        found.setdefault(addr.lower(), Address(addr, name))
    return list(found.values())


def _address_header(boxes: list[Address], charset: str, raw_utf8: bool) -> str:
    items = []
    for a in boxes:
        if not a.name:
            items.append(a.email)
        elif a.name.isascii() or raw_utf8:
            quoted = '"' + email.utils.quote(a.name) + '"'
            items.append(f"{quoted} <{a.email}>")
        else:
            items.append(f"{_header_text(a.name, charset, raw_utf8)} <{a.email}>")
    return ", ".join(items)


@st.composite
def messages(draw: st.DrawFn) -> Built:
    raw_utf8 = draw(st.booleans())
    charset = draw(st.sampled_from(CHARSETS))
    subject = draw(TEXT)
    from_ = draw(addresses(raw_utf8, charset, 2).filter(bool))
    to = draw(addresses(raw_utf8, charset, 3))
    cc = draw(addresses(raw_utf8, charset, 2))
    built = Built(b"", subject, from_, to, cc)

    body = EmailMessage()
    text = draw(st.one_of(st.none(), TEXT))
    html = draw(st.one_of(st.none(), TEXT.map(lambda t: f"<p>{t}</p>")))
    body_cs = draw(st.sampled_from(CHARSETS))
    if text is None and html is None:
        text = "body"
    if text is not None:
        body.set_content(text, charset=body_cs if _encodable(text, body_cs) else "utf-8")
        built.text = text
    if html is not None:
        if text is None:
            body.set_content(html, subtype="html")
        else:
            body.add_alternative(html, subtype="html")
        built.html = html
        html_part = body.get_body(("html",))
        assert html_part is not None
        for n in range(draw(st.integers(0, 2))):  # inline pictures the HTML points at
            picture = draw(st.binary(min_size=1, max_size=64))
            html_part.add_related(
                picture, "image", "png", cid=f"<pic{n}@gen>", filename=f"pic{n}.png", disposition="inline"
            )
            built.files.append((f"pic{n}.png", "image/png", picture, True))
    for _ in range(draw(st.integers(0, 3))):  # ordinary files with RFC 2231 names
        name, content = draw(FILE_NAME), draw(st.binary(min_size=0, max_size=200))
        body.add_attachment(content, "application", "octet-stream", filename=name)
        built.files.append((name, "application/octet-stream", content, False))
    if draw(st.booleans()):  # an attached e-mail
        inner = EmailMessage()
        inner_subject = draw(TEXT)
        inner["Subject"] = inner_subject
        inner["From"] = "inner@fabrikam.example"
        inner.set_content(draw(TEXT))
        body.add_attachment(inner)
        built.attached_subjects.append(inner_subject)
    if draw(st.booleans()):  # an empty, header-only part: nothing a user could open
        if body.get_content_maintype() != "multipart" or body.get_content_subtype() != "mixed":
            body.make_mixed()
        empty = EmailMessage()
        empty["Content-Type"] = "application/octet-stream"
        body.attach(empty)

    head = [
        f"Subject: {_header_text(subject, charset, raw_utf8)}",
        f"From: {_address_header(from_, charset, raw_utf8)}",
        "Date: Tue, 01 Dec 2026 10:00:00 +0000",
    ]
    if to:
        head.append(f"To: {_address_header(to, charset, raw_utf8)}")
    if cc:
        head.append(f"Cc: {_address_header(cc, charset, raw_utf8)}")
    for n, part in enumerate(p for p in body.walk() if p.is_multipart()):
        part.set_boundary(f"----generated-boundary-{n}")  # fixed: the generator's are random
    built.raw = ("\r\n".join(head) + "\r\n").encode("utf-8") + body.as_bytes(policy=SMTP)
    return built


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_reading_loses_and_invents_nothing(built: Built) -> None:
    got = read_mime(built.raw)

    assert got.subject == built.subject
    assert list(got.from_) == built.from_
    assert list(got.to) == built.to
    assert list(got.cc) == built.cc
    assert _norm(got.text_body) == _norm(built.text)
    assert _norm(got.html_body) == _norm(built.html)
    files = [
        (a.name, a.content_type, a.content, a.is_inline)
        for a in got.attachments
        if a.content_type != "message/rfc822"
    ]
    assert sorted(files) == sorted(built.files)
    attached = [a for a in got.attachments if a.content_type == "message/rfc822"]
    assert [read_mime(a.content).subject for a in attached] == built.attached_subjects
    assert all(a.name.endswith(".eml") for a in attached)
    assert got.has_attachments == any(not inline for *_, inline in built.files) or bool(attached)

    # The sandbox Exchange files the same message with the same fields and attachments.
    fields, atts = sandbox_parse(built.raw)
    assert fields["subject"] == built.subject
    assert fields["author"] == {"name": built.from_[0].name, "email": built.from_[0].email}
    assert [b["email"] for b in fields["to"]] == [a.email for a in built.to]
    assert [(n, ct, c, inline) for n, ct, _cid, inline, c in atts] == [
        (a.name, a.content_type, a.content, a.is_inline) for a in got.attachments
    ]
