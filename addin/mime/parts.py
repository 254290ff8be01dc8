"""Bodies and attachments of a parsed MIME tree, counted the way Exchange and Outlook count them.

- ``multipart/alternative``: one plain and one HTML rendering become the bodies; other
  renderings (``text/enriched``, calendar alternatives of the same text) are not files.
- ``multipart/related``: the root is the body, the other parts are inline resources
  (``IsInline`` when they carry a Content-ID the HTML can point at).
- Any other multipart (mixed, report, signed, digest, unknown): its children in order; the
  first plain and the first HTML text not marked as an attachment are the bodies (as
  Python's ``get_body`` picks them), any later text and everything else a file.
- ``message/rfc822`` (and ``message/global``) is an attached e-mail, kept as an ``.eml`` with
  its bytes; ``message/delivery-status`` and the other ``message/*`` reports are kept as
  ``.txt`` with their text.  A multipart container is never a file, nor is a part that has
  headers but no content and no name.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from addin.mailbox.types import Attachment
from addin.mime.headers import FALLBACKS, Warn, codec_for, file_name, header_text, one_line

_EML_TYPES = ("message/rfc822", "message/global")
_BAD_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


@dataclass
class Parts:
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


def text_of(part: Message, warn: Warn | None = None) -> str:
    """A text part's content in its declared charset (widened as mail clients do).

    Bytes that are not valid in it are read as UTF-8, else Windows-1252, with a warning: text
    is never refused and never silently replaced.
    """
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a payload the transfer decoding cannot handle: keep the raw text
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = _charset(part)
    fallback = FALLBACKS.get((charset or "").lower())
    if fallback:
        try:
            return payload.decode(charset or "utf-8")
        except (LookupError, UnicodeDecodeError):
            charset = fallback
    try:
        return payload.decode(codec_for(charset) or "utf-8")
    except LookupError:
        if warn is not None:
            warn(f"The text uses the unknown character set {charset!r}; it was read as best possible.")
    except UnicodeDecodeError:
        if charset not in ("us-ascii", "utf-8") and warn is not None:
            warn(f"Some text is not valid {charset}; it was read as best possible.")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("cp1252", "replace")


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:  # a charset parameter the header classes cannot read
        return None
    if charset in (None, "", "us-ascii", "ascii"):
        return "utf-8" if charset is None else "us-ascii"
    return str(charset)


def _content_type(part: Message) -> str:
    try:
        return str(part.get_content_type()).lower()
    except Exception:  # a Content-Type the registry cannot read: RFC 2045 says plain text
        return "text/plain"


def _disposition(part: Message) -> str | None:
    try:
        value = part.get_content_disposition()
    except Exception:  # malformed Content-Disposition: as if absent
        return None
    return str(value).lower() if value else None


def _filename(part: Message, warn: Warn | None) -> str:
    name: Any
    try:
        name = part.get_filename()
    except Exception:  # malformed RFC 2231 parameters
        name = None
    if not name:
        try:
            name = part.get_param("name")
        except Exception:  # a Content-Type the registry cannot read
            name = None
        if isinstance(name, tuple):  # an RFC 2231 triple the registry left undecoded
            name = str(name[2])
    return _BAD_NAME.sub("_", file_name(str(name), warn)).strip() if name else ""


def _content_id(part: Message) -> str | None:
    value = part.get("Content-ID")
    text = one_line(str(value)).strip().strip("<>").strip() if value is not None else ""
    return text or None


def _message_bytes(part: Message) -> bytes:
    """The bytes of a ``message/*`` part: the enclosed message or report, re-serialised."""
    payload = part.get_payload()
    if isinstance(payload, list):
        chunks = []
        for block in payload:
            if isinstance(block, Message):
                try:
                    # CRLF, as on the wire: what an attached .eml holds, whichever path read it.
                    chunks.append(block.as_bytes(policy=block.policy.clone(linesep="\r\n")))
                except Exception:  # a block the generator cannot write: keep its string form
                    chunks.append(str(block).encode("utf-8", "surrogateescape"))
        if len(chunks) == 1:
            return chunks[0]
        return b"\r\n".join(c.rstrip(b"\r\n") + b"\r\n" for c in chunks if c.strip())
    if isinstance(payload, str):
        try:
            raw = part.get_payload(decode=True)
        except Exception:
            raw = None
        return raw if isinstance(raw, bytes) else payload.encode("utf-8", "surrogateescape")
    return b""


def _subject_of(part: Message) -> str:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return ""
    try:
        return header_text(inner.get("Subject"))
    except Exception:  # an unreadable subject just does not name the file
        return ""


class Walker:
    """One pass over the tree, collecting bodies and attachments."""

    def __init__(self, warn: Warn | None = None) -> None:
        self.warn = warn
        self.out = Parts()
        self._unnamed = 0

    def walk(self, part: Message, *, related: bool = False, depth: int = 0) -> None:
        ctype = _content_type(part)
        if part.is_multipart() and not ctype.startswith("message/"):
            children = [c for c in part.get_payload() or [] if isinstance(c, Message)]
            if depth > 40:  # a hostile nesting depth: keep what was read so far
                return
            if ctype == "multipart/alternative":
                self._alternative(children, related, depth)
            elif ctype == "multipart/related" and children:
                self.walk(children[0], depth=depth + 1)
                for child in children[1:]:
                    self.walk(child, related=True, depth=depth + 1)
            else:
                for child in children:
                    self.walk(child, related=related, depth=depth + 1)
            return
        if ctype.startswith("multipart/"):
            self._broken(part)
            return
        self._leaf(part, ctype, related)

    def _broken(self, part: Message) -> None:
        """A multipart whose parts cannot be found (no or wrong boundary): its text is the body."""
        raw = part.get_payload()
        text = raw if isinstance(raw, str) else ""
        if not text.strip():
            return  # an empty container (header-only part): nothing to show, nothing lost
        if self.warn is not None:
            self.warn("The MIME structure is broken (a multipart without its parts); shown as text.")
        if self.out.text is None:
            self.out.text = text
        elif text.strip():
            self.out.text += "\n\n" + text

    def _alternative(self, children: list[Message], related: bool, depth: int) -> None:
        renderings = [c for c in children if _content_type(c) in ("text/plain", "text/html")]
        nested = [c for c in children if c.is_multipart()]
        for child in nested:  # e.g. multipart/related holding the HTML and its images
            self.walk(child, related=related, depth=depth + 1)
        for child in renderings:
            if _disposition(child) == "attachment":
                self._leaf(child, _content_type(child), related)
            else:
                self._body(child, _content_type(child))
        if not renderings and not nested:
            for child in children[:1]:  # only exotic renderings: the first is the body text
                if _content_type(child).startswith("text/"):
                    self._body(child, "text/plain")
                else:
                    self._leaf(child, _content_type(child), related)

    def _body(self, part: Message, ctype: str) -> bool:
        key = "html" if ctype == "text/html" else "text"
        if getattr(self.out, key) is not None:
            return False
        setattr(self.out, key, text_of(part, self.warn))
        return True

    def _leaf(self, part: Message, ctype: str, related: bool) -> None:
        disposition = _disposition(part)
        name = _filename(part, self.warn)
        cid = _content_id(part)
        # Like Python's get_body and Outlook: a text part is the body unless it is marked as an
        # attachment, even when it carries a file name (Apple Mail names inline text parts).
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and self._body(part, ctype):
            return
        if ctype.startswith("message/"):
            content = _message_bytes(part)
            if not content.strip() and not name:
                return  # a header-only report or pointer: nothing a user could open
            if ctype in _EML_TYPES:
                title = _BAD_NAME.sub("_", _subject_of(part)).strip(" .")
                name = name or f"{(title or 'message')[:120]}.eml"
            elif not name:
                name = ctype.partition("/")[2] + ".txt"
            self.out.attachments.append(Attachment(name, ctype, content, False, cid))
            return
        decoded: Any
        try:
            decoded = part.get_payload(decode=True)
        except Exception:  # undecodable transfer encoding: the raw text is better than nothing
            decoded = None
        if isinstance(decoded, bytes):
            content = decoded
        else:
            raw = part.get_payload()
            content = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        if not content and not name:
            return  # a header-only part: Exchange shows nothing for it
        inline = bool(cid) and disposition != "attachment" and (related or disposition == "inline")
        if not name:
            self._unnamed += 1
            name = f"ATT{self._unnamed:05d}{_extension(ctype)}"
        self.out.attachments.append(Attachment(name, ctype, content, inline, cid))


def _extension(ctype: str) -> str:
    if ctype == "text/plain":
        return ".txt"
    if ctype == "text/html":
        return ".htm"
    return mimetypes.guess_extension(ctype) or (".txt" if ctype.startswith("text/") else ".bin")


def collect(msg: Message, warn: Warn | None = None) -> Parts:
    walker = Walker(warn)
    walker.walk(msg)
    return walker.out
