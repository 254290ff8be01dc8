"""Value types of the Mailbox port: plain, immutable, backend-neutral.

No exchangelib, imaplib or Graph object ever leaves a backend; everything the
engine sees is one of these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# The category the bridge puts on a message once it is tracked, and the one a user
# puts on a message in any mail client to ask for tracking.
TRACKED_CATEGORY = "Tracked in CRM"
TRACK_REQUEST_CATEGORY = "Track in CRM"


class FolderKind(StrEnum):
    INBOX = "inbox"
    SENT = "sentitems"
    DRAFTS = "drafts"
    DELETED = "deleteditems"
    ROOT = "msgfolderroot"
    OTHER = "other"


class Sensitivity(StrEnum):
    NORMAL = "normal"
    PERSONAL = "personal"
    PRIVATE = "private"
    CONFIDENTIAL = "confidential"


@dataclass(frozen=True)
class Address:
    email: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Folder:
    id: str
    name: str
    kind: FolderKind = FolderKind.OTHER
    parent_id: str | None = None
    total: int | None = None
    path: str = ""


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    content: bytes
    is_inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class MessageSummary:
    """What a listing or a sync round returns: enough to decide, not the whole message."""

    id: str
    folder_id: str
    message_id: str | None
    subject: str
    sender: Address | None
    received: datetime | None
    categories: tuple[str, ...] = ()
    sensitivity: Sensitivity = Sensitivity.NORMAL
    has_attachments: bool = False
    is_read: bool = False
    stamp: str | None = None


@dataclass(frozen=True)
class Message:
    """A whole message as fetched by id."""

    id: str
    folder_id: str
    message_id: str | None
    subject: str
    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    text_body: str = ""
    html_body: str | None = None
    sent: datetime | None = None
    received: datetime | None = None
    sensitivity: Sensitivity = Sensitivity.NORMAL
    categories: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    stamp: str | None = None
    mime: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    # What was read leniently (an unknown charset, a broken structure): shown with the result.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mark:
    """The categories and stamp a message should carry (None clears the stamp)."""

    id: str
    categories: tuple[str, ...]
    stamp: str | None


@dataclass(frozen=True)
class FetchFailure:
    """One id of a bulk fetch that could not be read; the rest of the batch goes on."""

    id: str
    reason: str


@dataclass(frozen=True)
class OutgoingMessage:
    """A message the bridge sends on the user's behalf (the CRM outbox)."""

    message_id: str
    subject: str
    to: tuple[Address, ...]
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    text_body: str = ""
    html_body: str | None = None
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    stamp: str | None = None


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    READ_FLAG = "read_flag"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    id: str
    summary: MessageSummary | None = None  # None for deletions


@dataclass(frozen=True)
class SyncPage:
    """One round of incremental sync; persist ``sync_state`` only after handling ``changes``."""

    changes: tuple[Change, ...]
    sync_state: str
    more: bool


class SendState(StrEnum):
    """Where a stamped outgoing message was found, most conclusive first."""

    SENT = "sent"  # a stamped copy in Sent Items: it left
    SUBMITTED = "submitted"  # stamped, in Outbox: the server has it and is sending it; wait
    DRAFT = "draft"  # a stamped draft never submitted: it did not leave; send that draft
    NONE = "none"  # nowhere (yet): right after a send the copy may still be on its way


@dataclass(frozen=True)
class SendEvidence:
    """What the mailbox shows about one stamped outgoing message (see Mailbox.send_evidence)."""

    state: SendState
    item_id: str | None = None
    message_id: str | None = None
    count: int = 0


@dataclass(frozen=True)
class MessagePage:
    items: tuple[MessageSummary, ...]
    total: int | None
    offset: int
    more: bool


@dataclass(frozen=True)
class MailboxInfo:
    address: str
    server: str
    backend: str
    version: str = ""


class MailboxAuth(StrEnum):
    BASIC = "basic"
    NTLM = "ntlm"
    OAUTH = "oauth"
    # A bearer token kept in the keyring as the secret (a local sandbox's, or one issued
    # outside the bridge): used as is, never through Microsoft sign-in.
    TOKEN = "token"

    @property
    def bearer(self) -> bool:
        return self in (MailboxAuth.OAUTH, MailboxAuth.TOKEN)


# Returns the secret for a mailbox (a password, or an OAuth access token); called
# lazily and again after an auth failure so a refreshed token can be picked up.
SecretSource = Callable[[], str]


@dataclass(frozen=True)
class MailboxSettings:
    """How to reach one mailbox.  Holds no secret: the secret comes from a SecretSource."""

    backend: str = "ews"
    email: str = ""
    username: str = ""
    server: str | None = None  # EWS URL (or host); None means autodiscover
    auth: MailboxAuth = MailboxAuth.BASIC
    autodiscover_url: str | None = None  # override the discovery endpoint (tests, odd setups)
    verify_tls: bool = True
    timeout: float = 30.0
    options: dict[str, str] = field(default_factory=dict)
