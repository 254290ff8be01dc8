"""Refuse unsafe header values coming from the CRM before they reach a sent message.

A subject or address with CR/LF could add headers (Bcc:, a second body) to mail the
bridge sends in the user's name: such an e-mail fails with a reason, it is never
"cleaned" and sent.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address as HeaderAddress

from addin.errors import HeaderInjectionError

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\x85]")
MAX_SUBJECT = 800  # Dataverse's subject length


def check_subject(subject: str) -> str:
    if _CONTROL.search(subject):
        raise HeaderInjectionError(
            "The subject contains a line break or control character, which could add hidden "
            "headers; the e-mail was not sent. Edit the subject in the CRM and retry."
        )
    if len(subject) > MAX_SUBJECT:
        raise HeaderInjectionError(f"The subject is longer than {MAX_SUBJECT} characters.")
    return subject


def check_address(address: str) -> str:
    """Return the address if it is one plain mailbox, else raise HeaderInjectionError."""
    text = address.strip()
    if not text or _CONTROL.search(address):
        raise HeaderInjectionError(
            f"The recipient address {_show(address)} contains a line break or control character; "
            "the e-mail was not sent."
        )
    if any(c in text for c in ',;<>"()[]\\ '):
        raise HeaderInjectionError(f"{_show(address)} is not a single e-mail address.")
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise HeaderInjectionError(f"{_show(address)} is not a valid e-mail address.")
    try:
        HeaderAddress(addr_spec=text)
    except (HeaderParseError, ValueError, IndexError):
        raise HeaderInjectionError(f"{_show(address)} is not a valid e-mail address.") from None
    return text


def _show(value: str) -> str:
    """Quote a hostile value for an error message without reproducing its control characters."""
    return repr(value[:80])
