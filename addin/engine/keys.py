"""Stable identities: one message key per message, one CRM activity id per key.

Creating the CRM e-mail with ``activityid = uuid5(key)`` (a POST in its change set, see
``CrmPort.create_emails``) makes a track idempotent: a retry after a lost response, a
second machine or a second click all address the same record, and the CRM refuses the
second create with a duplicate-key error, which the tracker reads as "already tracked".
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC

from addin.engine.html_text import html_to_text
from addin.mailbox.types import Address, Message

# Fixed forever: changing it would re-key every message ever tracked.
ACTIVITY_NAMESPACE = uuid.UUID("6f1c2a8e-4b7d-5e90-a3c1-2d8f0b9e7c41")


def normalize_message_id(value: str | None) -> str | None:
    """``<abc@host>`` -> ``<abc@host>``; bare ids gain brackets; blanks become None."""
    if not value:
        return None
    text = value.strip()
    if not text:
        return None
    text = text.strip("<>").strip()
    return f"<{text}>" if text else None


def message_key(message: Message) -> str:
    """The Message-ID, or a synthetic key from the whole content of the message.

    The synthetic key hashes the normalised headers a mail client shows *and* the body and
    every attachment's bytes: two messages that differ anywhere (even only in an attachment)
    never share a key, while the same message read twice -- dropped again, or read from the
    mailbox -- gets the same one.  Whitespace is collapsed and HTML-only bodies are reduced
    to their text, where servers legitimately differ.
    """
    mid = normalize_message_id(message.message_id)
    if mid:
        return mid
    digest = hashlib.sha256()

    def put(text: str) -> None:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x1f")

    def boxes(values: Iterable[Address]) -> str:
        return ",".join(sorted(a.email.lower() for a in values))

    put("v2")
    put(message.sender.email.lower() if message.sender else "")
    put(" ".join(message.subject.split()))
    put(message.sent.astimezone(UTC).isoformat(timespec="seconds") if message.sent else "")
    put(boxes(message.to))
    put(boxes(message.cc))
    body = message.text_body or html_to_text(message.html_body or "")
    put(" ".join(body.split()))
    for content in sorted(hashlib.sha256(a.content).hexdigest() for a in message.attachments):
        put(content)
    return f"<synthetic-{digest.hexdigest()[:40]}@crm-bridge.invalid>"


def activity_id_for(key: str) -> str:
    return str(uuid.uuid5(ACTIVITY_NAMESPACE, key))
