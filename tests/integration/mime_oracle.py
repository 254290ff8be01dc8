"""The independent expectation for a corpus message: how Python's own ``email`` parser reads it.

This does not use ``addin.mime``.  It reads the subject and addresses through the header
registry and lists attachments with the parser's own notion of the body (``get_body``),
counting parts the way Exchange does: every leaf that is not the chosen body or one of its
alternative renderings, no multipart container, no header-only part; attached messages and
reports as files.  Where Python's parser is itself wrong for a file, ``expected.json`` next
to the corpus holds the hand-checked answer and why.
"""

from __future__ import annotations

import email
import json
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = DATA / "mime-corpus"
SETS = ("cpython", "mikel-mail", "flanker", "mail-parser")


@dataclass(frozen=True)
class ExpectedAttachment:
    name: str | None  # None: the parser has no filename (the product names it)
    content_type: str
    size: int | None  # None: re-serialised content (an attached message or report)
    inline: bool


@dataclass(frozen=True)
class Expected:
    subject: str
    sender: frozenset[str]  # From addresses (the activity's sender is one of them)
    to: frozenset[str]
    cc: frozenset[str]
    attachments: tuple[ExpectedAttachment, ...]
    refused: bool = False


def corpus_files() -> list[Path]:
    files: list[Path] = []
    for name in SETS:
        files += sorted(
            p for p in (CORPUS / name).iterdir() if p.suffix in (".txt", ".eml") and p.stem != "SOURCE"
        )
    return files


def norm(text: str | None) -> str:
    return " ".join((text or "").split())


def _fix(text: str) -> str:
    """Bytes the parser left undecoded (RFC 6532 UTF-8 headers) read as UTF-8, as any client does."""
    return re.sub(
        r"[\udc80-\udcff]+",
        lambda m: m.group(0).encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
        text,
    )


def _addresses(msg: Message, header: str) -> frozenset[str]:
    found: set[str] = set()
    for value in msg.get_all(header) or ():
        for group in getattr(value, "groups", ()):
            for a in group.addresses:
                spec = _fix(str(a.addr_spec)).lower()
                local, at, domain = spec.rpartition("@")
                if at and local and domain:
                    found.add(spec)
    return frozenset(found)


def _type(part: Message) -> str:
    return part.get_content_type().lower()


def _leaves(part: Message, parent: str = "") -> list[tuple[Message, str]]:
    """Leaf parts with their parent's type; an attached message is one leaf (not descended)."""
    if part.is_multipart() and not _type(part).startswith("message/"):
        out: list[tuple[Message, str]] = []
        for child in part.get_payload():
            out += _leaves(child, _type(part))
        return out
    return [(part, parent)]


def _alternatives_of(msg: Message, chosen: list[Message]) -> set[int]:
    """Renderings that stand beside a chosen body in the same multipart/alternative."""
    skip: set[int] = set()
    for part in msg.walk():
        if _type(part) == "multipart/alternative" and part.is_multipart():
            children = part.get_payload()
            if any(c is b for c in children for b in chosen):
                skip |= {id(c) for c in children if not c.is_multipart() and _type(c).startswith("text/")}
    return skip


def attachments_of(msg: EmailMessage) -> tuple[ExpectedAttachment, ...]:
    chosen = [b for b in (msg.get_body(("plain",)), msg.get_body(("html",))) if b is not None]
    skip = {id(b) for b in chosen} | _alternatives_of(msg, chosen)
    found: list[ExpectedAttachment] = []
    for part, parent in _leaves(msg):
        if id(part) in skip or (part is msg and not msg.is_multipart() and _type(msg).startswith("text/")):
            continue
        ctype = _type(part)
        if ctype.startswith("multipart/"):
            continue  # a container whose parts could not be found is never a file
        name = part.get_filename()
        name = _fix(name) if name else None
        if ctype.startswith("message/"):
            inner = part.get_payload()
            if not name and all(not str(block).strip() for block in inner):
                continue  # a header-only report or pointer (message/external-body without body)
            found.append(ExpectedAttachment(name, ctype, None, False))
            continue
        content = part.get_payload(decode=True) or b""
        if not content and not name:
            continue
        cid = part.get("Content-ID")
        disposition = part.get_content_disposition()
        inline = (
            bool(cid)
            and disposition != "attachment"
            and (parent == "multipart/related" or disposition == "inline")
        )
        found.append(ExpectedAttachment(name, ctype, len(content), inline))
    return tuple(found)


def _expected_from_parser(raw: bytes) -> Expected:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    subject = msg["Subject"]
    return Expected(
        subject=norm(_fix(str(subject))) if subject is not None else "",
        sender=_addresses(msg, "From"),
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        attachments=attachments_of(msg),
    )


def _overrides() -> dict[str, dict[str, Any]]:
    path = CORPUS / "expected.json"
    data: dict[str, dict[str, Any]] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    return data


def expected_for(path: Path) -> Expected:
    """Python's reading, with the hand-checked corrections for this file applied."""
    raw = path.read_bytes()
    base = _expected_from_parser(raw)
    fix = _overrides().get(f"{path.parent.name}/{path.name}")
    if not fix:
        return base
    atts = base.attachments
    if "attachments" in fix:
        atts = tuple(
            ExpectedAttachment(a["name"], a["content_type"], a["size"], a["inline"])
            for a in fix["attachments"]
        )
    return Expected(
        subject=fix.get("subject", base.subject),
        sender=frozenset(fix["from"]) if "from" in fix else base.sender,
        to=frozenset(fix["to"]) if "to" in fix else base.to,
        cc=frozenset(fix["cc"]) if "cc" in fix else base.cc,
        attachments=atts,
        refused=bool(fix.get("refused", False)),
    )


def signature(raw: bytes) -> tuple[object, ...]:
    """What a reader can see of a message, by Python's parser: two files with the same
    signature are the same message to a user (headers, body text, attachment bytes)."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    texts = []
    for kind in ("plain", "html"):
        body = msg.get_body((kind,))
        try:
            texts.append(norm(str(body.get_content())) if body is not None else "")
        except (LookupError, UnicodeError, KeyError, AssertionError):
            texts.append(norm(str(body.get_payload())) if body is not None else "")
    files = []
    for part, _parent in _leaves(msg):
        if part is msg or (part.is_multipart() and not _type(part).startswith("message/")):
            continue
        payload = part.get_payload(decode=True) if not _type(part).startswith("message/") else None
        files.append(payload if payload is not None else str(part.get_payload()).encode("utf-8", "replace"))
    return (
        norm(_fix(str(msg["Subject"] or ""))),
        _addresses(msg, "From"),
        _addresses(msg, "To"),
        _addresses(msg, "Cc"),
        norm(str(msg["Date"] or "")),
        tuple(texts),
        tuple(sorted(f for f in files if f.strip())),
    )
