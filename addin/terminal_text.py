"""Make text from the CRM or a mailbox safe to print on a terminal.

A subject, address or server message can carry ESC, OSC or C1 control sequences
(``\\x1b[2J``, ``\\x1b]0;title\\x07``, ``\\x9b``) that a terminal would obey: clear the
screen, retitle the window, or hide text.  Everything printed for a person goes
through :func:`escape`, which shows each control character as a visible escape
(``\\x1b``) instead.  JSON output needs none of this: ``json.dumps`` already escapes
control characters.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls, DEL, C1 controls, plus the Unicode line/paragraph separators and the
# bidirectional overrides that can make a terminal line read differently from its bytes.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(value: Any, *, keep_newlines: bool = False, keep_tabs: bool = False) -> str:
    """``value`` as text with every control character shown as a visible escape.

    ``keep_newlines`` keeps ``\\n`` as a real line break (for multi-line bodies a caller
    prints on purpose); ``\\r`` is always escaped because it can overwrite a line.
    ``keep_tabs`` keeps ``\\t``.  ``None`` becomes an empty string.
    """
    text = "" if value is None else str(value)

    def sub(match: re.Match[str]) -> str:
        ch = match.group(0)
        if (keep_newlines and ch == "\n") or (keep_tabs and ch == "\t"):
            return ch
        return _visible(ch)

    return _CONTROL.sub(sub, text)


def has_control(value: Any) -> bool:
    """True when ``value`` contains a character :func:`escape` would change."""
    return value is not None and _CONTROL.search(str(value)) is not None
