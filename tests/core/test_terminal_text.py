"""Text from the CRM or a mailbox cannot drive the terminal it is printed on."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from addin.terminal_text import escape, has_control


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    out = escape(text)
    assert not has_control(out)
    assert all(unicodedata.category(c) != "Cc" for c in out)
    kept = escape(text, keep_newlines=True)
    assert all(unicodedata.category(c) != "Cc" or c == "\n" for c in kept)


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs"))).filter(lambda t: not has_control(t)))
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert escape(text) == text


def test_the_reported_sequences_are_shown_not_obeyed() -> None:
    subject = "Quote \x1b[2J\x1b]0;owned\x07 \x9b31m red \u202etxt.exe\r\nBcc: x"
    assert escape(subject) == "Quote \\x1b[2J\\x1b]0;owned\\x07 \\x9b31m red \\u202etxt.exe\\r\\nBcc: x"
    assert escape("a\nb\tc", keep_newlines=True, keep_tabs=True) == "a\nb\tc"
    assert escape(None) == ""
