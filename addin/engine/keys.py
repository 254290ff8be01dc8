"""Stable identities: one message key per message, one CRM activity id per key.

Creating the CRM e-mail with ``activityid = uuid5(key)`` and ``If-None-Match: *`` makes a
track idempotent: a retry after a lost response, a second machine or a second click
all address the same record, so no duplicate can be created.
"""

from __future__ import annotations

import hashlib
import uuid

from addin.mailbox.types import Message

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
    """The Message-ID, or a synthetic key from headers that are stable across fetches."""
    mid = normalize_message_id(message.message_id)
    if mid:
        return mid
    parts = [
        message.sender.email.lower() if message.sender else "",
        message.subject,
        message.sent.isoformat() if message.sent else "",
        ",".join(sorted(a.email.lower() for a in message.to)),
        message.text_body[:2000],
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"<synthetic-{digest[:40]}@crm-bridge.invalid>"


def activity_id_for(key: str) -> str:
    return str(uuid.uuid5(ACTIVITY_NAMESPACE, key))
