"""The rows the in-memory CRM (``addin.crm.memory``) keeps: e-mail activities and records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from addin.bridge_types import RecordRef
from addin.crm.codes import EmailState, EmailStatus
from addin.crm.port import Party
from addin.mailbox.types import Attachment


@dataclass
class MemoryEmail:
    """One e-mail activity, as the CRM holds it."""

    activity_id: str
    subject: str
    description: str = ""
    outgoing: bool = True
    message_id: str | None = None
    state: EmailState = EmailState.OPEN
    status: int = EmailStatus.DRAFT
    parties: list[Party] = field(default_factory=list)
    regarding: RecordRef | None = None
    attachments: list[Attachment] = field(default_factory=list)
    tracking_token: str | None = None
    send_after: datetime | None = None
    sender_mailbox: str | None = None
    attempts: int = 0
    version: int = 0
    modified: datetime | None = None
    owner_id: str | None = None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True)
class MemoryRecord:
    table: str
    id: str
    name: str
    emails: tuple[str, ...] = ()

    @property
    def ref(self) -> RecordRef:
        return RecordRef(self.table, self.id, self.name)
