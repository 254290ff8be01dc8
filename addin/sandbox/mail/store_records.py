"""The records the sandbox Exchange stores (folders, items, attachments) and the shape of the ids
and change keys it hands out."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

ITEM_ID_PREFIX = "AAMkAD"
ATTACHMENT_ID_PREFIX = "AAMkADAtt"
FOLDER_ID_PREFIX = "AQMkAD"
_HEX_ID = re.compile(r"[0-9A-F]{32}")
_CHANGEKEY = re.compile(r"CQAAAB[0-9A-Z]{5}(\d{6})")


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex.upper()


def changekey(version: int) -> str:
    return f"CQAAABYAAAD{version:06d}"


def item_changekey(item_id: str, version: int) -> str:
    """An item's change key: unique to the item and its version, so a copy never shares its
    original's change key, as on Exchange."""
    return f"CQAAAB{hashlib.sha1(item_id.encode()).hexdigest()[:5].upper()}{version:06d}"


def changekey_version(key: str) -> int | None:
    """The version a change key names, or None when it is not a change key the server issued."""
    found = _CHANGEKEY.fullmatch(key)
    return int(found.group(1)) if found else None


def is_item_id(value: str) -> bool:
    """Shaped like an item id the server issues (whether or not the item still exists).

    Exchange's ids are opaque structures; one it cannot decode is answered with
    ``ErrorInvalidIdMalformed``, one that decodes but names nothing with ``ErrorItemNotFound``."""
    return value.startswith(ITEM_ID_PREFIX) and _HEX_ID.fullmatch(value[len(ITEM_ID_PREFIX) :]) is not None


def is_attachment_id(value: str) -> bool:
    prefix = ATTACHMENT_ID_PREFIX
    return value.startswith(prefix) and _HEX_ID.fullmatch(value[len(prefix) :]) is not None


@dataclass
class Folder:
    id: str
    mailbox: str
    parent_id: str | None
    distinguished: str | None
    name: str
    folder_class: str | None
    version: int

    @property
    def changekey(self) -> str:
        return changekey(self.version)


@dataclass
class Attachment:
    id: str
    item_id: str  # the store item the attachment (or its outermost attached item) belongs to
    name: str
    content_type: str
    content_id: str | None
    is_inline: bool
    modified: str
    size: int
    content: bytes | None = None
    # For an attached e-mail nested in another attached e-mail: the attachment holding it.
    parent_id: str | None = None
    # For an attached e-mail (ItemAttachment): the attached item's fields.
    item_data: dict[str, Any] | None = None

    @property
    def is_item(self) -> bool:
        """An attached e-mail (``ItemAttachment``), not a file."""
        return self.content_type.lower() == "message/rfc822"


@dataclass
class Item:
    id: str
    mailbox: str
    folder_id: str
    version: int
    data: dict[str, Any]
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def changekey(self) -> str:
        return item_changekey(self.id, self.version)
