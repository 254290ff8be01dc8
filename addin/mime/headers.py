"""Header text and addresses as a mail client shows them.

Text comes from the standard library's header registry (RFC 2047 encoded-words in any charset
Python knows, RFC 2231 parameters).  What the registry cannot turn into text reaches us as
lone surrogates: raw 8-bit bytes (RFC 6532 UTF-8 headers, or legacy 8-bit mail) and
encoded-words in a charset the codec registry does not know.  Each run of such bytes is read
as UTF-8 when it is valid UTF-8, else as Windows-1252, and the message carries a warning: a
header is never refused or shown as U+FFFD when its bytes can be read.

Addresses follow RFC 5322 through ``email.headerregistry``; when the registry reports an
invalid address list, the value is split by hand and each item parsed on its own, taking
only what is certainly an address: a display name that looks like an address stays a
display name, a group name or ``undisclosed-recipients:;`` yields no party.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable
from email.errors import CharsetError, InvalidHeaderDefect
from email.header import decode_header
from email.policy import default as _default_policy
from typing import Any

from addin.mailbox.types import Address

_FACTORY = _default_policy.header_factory

_SURROGATES = re.compile(r"[\udc80-\udcff]+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"\?=[ \t]+(?==\?[^?\s]+\?[bBqQ]\?)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ATOM = r'[^\s@<>(),;:"\[\]\\]+'
_ADDR_SPEC = re.compile(rf"^(?:{_ATOM}|\"[^\"]+\")@{_ATOM}$")

Warn = Callable[[str], None]

# Labels mail clients read as the larger Windows/WHATWG charset: mail labelled gb2312 is
# written by GBK software, "iso-8859-1" by Windows-1252 software, and so on.
SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "cp936": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
}


# Tried only when the declared charset fails: Big5-HKSCS maps some Big5 bytes differently.
FALLBACKS = {"big5": "big5hkscs", "x-big5": "big5hkscs", "iso-2022-jp": "iso2022_jp_ext"}


def codec_for(charset: str | None) -> str:
    label = (charset or "").strip().strip('"').lower()
    return SUPERSETS.get(label, label)


def _superset_words(text: str) -> str:
    """Encoded-words relabelled with the charset a mail client would really decode them in."""
    if "=?" not in text:
        return text
    return _ENCODED_WORD.sub(
        lambda m: f"=?{codec_for(m.group(1).partition('*')[0])}?{m.group(2)}?{m.group(3)}?=", text
    )


def prepare(raw: str, warn: Warn | None = None) -> str:
    """A raw header value ready for the registry: unfolded, 8-bit bytes read, charsets widened."""
    return _superset_words(repair(raw.replace("\r", "").replace("\n", ""), warn))


def repair(text: str, warn: Warn | None = None) -> str:
    """Turn surrogate-escaped bytes back into characters: UTF-8 if valid, else Windows-1252."""
    if not _SURROGATES.search(text):
        return text

    def fix(match: re.Match[str]) -> str:
        raw = match.group(0).encode("utf-8", "surrogateescape")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if warn is not None:
                warn("Some header bytes are in an unknown character set; they were read as Windows-1252.")
            return raw.decode("cp1252", "replace")

    return _SURROGATES.sub(fix, text)


def _unknown_words(text: str, warn: Warn | None) -> str:
    """Encoded-words the registry left as text (unknown charset, broken syntax): decode if we can."""
    if "=?" not in text:
        return text

    def fix(match: re.Match[str]) -> str:
        try:
            [(raw, charset)] = decode_header(match.group(0))
        except Exception:  # not an encoded-word after all
            return match.group(0)
        if not isinstance(raw, bytes):
            return match.group(0)
        try:
            return raw.decode(codec_for(charset) or "ascii")
        except (LookupError, UnicodeDecodeError):
            if warn is not None:
                warn(f"A header uses the unknown character set {charset!r}; it was read as best possible.")
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw.decode("cp1252", "replace")

    return _ENCODED_WORD.sub(fix, text)


def one_line(text: str) -> str:
    """Header text without folding or control characters (a hostile header cannot add lines)."""
    return " ".join(_CONTROL.sub(" ", text).split())


def header_text(value: Any, warn: Warn | None = None) -> str:
    """The readable text of a header value (a registry header object or a raw string)."""
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:  # a header class that cannot render: nothing readable to show
        text = ""
    text = repair(text, warn)
    return one_line(_unknown_words(text, warn))


def file_name(value: str, warn: Warn | None = None) -> str:
    """A file name as written: decoded and repaired, inner blanks kept, no control characters."""
    text = _unknown_words(repair(value, warn), warn)
    return re.sub(r"[\x00-\x1f\x7f]", "", text).strip()


def _valid(addr: str) -> bool:
    domain = addr.rpartition("@")[2]
    return bool(_ADDR_SPEC.match(addr)) and not domain.startswith(".") and not domain.endswith(".")


def _registry_addresses(value: Any, warn: Warn | None) -> list[Address] | None:
    """Addresses as the header registry reads them; None when it reports an invalid list."""
    groups = getattr(value, "groups", None)
    if groups is None:
        return None
    defects = getattr(value, "defects", ())
    if any(isinstance(d, InvalidHeaderDefect) and not _harmless(d) for d in defects):
        return None
    found: list[Address] = []
    for group in groups:
        for a in group.addresses:  # members of a named group are real mailboxes; the group is not
            spec = repair(str(a.addr_spec), warn)
            if _valid(spec):
                found.append(Address(spec, one_line(repair(str(a.display_name or ""), warn))))
    return found


def _harmless(defect: InvalidHeaderDefect) -> bool:
    # Reported as invalid by the registry, but read right: non-ASCII in a local part (exactly
    # what an RFC 6532 header carries), joined encoded-words, encoded-words in quotes (Outlook).
    text = str(defect).lower()
    return any(
        s in text
        for s in ("non-ascii", "missing trailing whitespace after encoded-word", "encoded word inside quoted")
    )


def _split(text: str) -> list[str]:
    """Split an address list at commas and semicolons outside quotes, comments and brackets."""
    items, current, quote, depth, angle = [], [], False, 0, False
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
            current.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth:
            pass  # comments are not part of a name or an address
        elif ch == "<":
            angle = True
            current.append(ch)
        elif ch == ">":
            angle = False
            current.append(ch)
        elif ch in ",;" and not angle:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return one_line(name)


def _best_effort(text: str) -> list[Address]:
    """Per item: ``name <addr>``, a bare ``addr``, or ``name addr``; anything else is no party."""
    found: list[Address] = []
    for item in _split(text):
        group = re.match(r'^([^"<>@]*):(.*)$', item)
        if group:  # "friends: a@x" or "undisclosed-recipients:" -- the group name is no party
            item = group.group(2).strip()
            if not item:
                continue
        angle = re.search(r"<([^<>]*)>\s*$", item)
        if angle:
            spec = angle.group(1).strip()
            spec = spec.rpartition(":")[2] if spec.startswith("@") else spec  # obsolete route
            if _valid(spec):
                found.append(Address(spec, _unquote(item[: angle.start()])))
            continue
        words = item.split()
        if words and all(_valid(w) for w in words):  # "a@x b@y": a missing comma, not a name
            found += [Address(w, "") for w in words]
        elif words and _valid(words[-1]) and not any("@" in w for w in words[:-1]):
            found.append(Address(words[-1], _unquote(" ".join(words[:-1]))))
    return found


def addresses(raw_values: Iterable[str], warn: Warn | None = None) -> tuple[Address, ...]:
    """Every mailbox in one or more raw address header values, in order, without duplicates."""
    found: list[Address] = []
    for raw in raw_values:
        # RFC 2047 6.2: blanks between two encoded-words are not text.  The registry keeps them
        # inside display names, so adjacent words are joined first.
        text = _BETWEEN_WORDS.sub("?=", prepare(raw, warn))
        try:
            header = _FACTORY("To", text)
        except Exception:  # the registry could not even build the header: parse by hand
            header = None
        _charset_warning(header, text, warn)
        parsed = _registry_addresses(header, warn) if header is not None else None
        if parsed is None:
            parsed = _best_effort(one_line(_unknown_words(text, warn)))
        found += parsed
    seen: set[str] = set()
    unique = []
    for a in found:
        if a.email.lower() not in seen:
            seen.add(a.email.lower())
            unique.append(a)
    return tuple(unique)


def parse_address_list(text: str) -> tuple[Address, ...]:
    """Addresses in header text that did not come from a parsed message (e.g. a .msg header)."""
    return addresses([text])


def text_header(name: str, raw: str, warn: Warn | None = None) -> str:
    """The text of one raw unstructured header value (Subject and the like)."""
    text = prepare(raw, warn)
    try:
        header = _FACTORY(name, text)
    except Exception:  # a value the registry cannot hold: decode what can be decoded by hand
        return one_line(_unknown_words(text, warn))
    _charset_warning(header, text, warn)
    return header_text(header, warn)


def _charset_warning(header: Any, text: str, warn: Warn | None) -> None:
    """The registry reads an encoded-word in an unknown charset as raw bytes: say so."""
    if warn is None:
        return
    unknown = any(isinstance(d, CharsetError) for d in getattr(header, "defects", ()))
    for match in _ENCODED_WORD.finditer(text) if "=?" in text else ():
        try:
            codecs.lookup(match.group(1).partition("*")[0])
        except LookupError:
            unknown = True
    if unknown:
        warn("A header uses an unknown character set; it was read as best possible.")
