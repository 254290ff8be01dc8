"""Plain values the facade (:mod:`addin.bridge`) returns and the events it emits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from addin.crm import records
from addin.state import BridgeState
from addin.states import IssueAction

# Tables a message can be "regarding", in the order the Regarding picker offers them (their
# one definition is the CRM's: addin.crm.records.REGARDING_TABLES).
REGARDING_TABLES: tuple[str, ...] = tuple(records.REGARDING_TABLES)
TABLE_LABELS = {
    "account": "Account",
    "contact": "Contact",
    "opportunity": "Opportunity",
    "incident": "Case",
    "lead": "Lead",
    "systemuser": "User",
}


@dataclass(frozen=True)
class RecordRef:
    """A CRM record: table logical name, id, and what to show a person."""

    table: str
    id: str
    name: str = ""
    detail: str = ""  # e.g. an e-mail address or the parent account

    @property
    def label(self) -> str:
        kind = TABLE_LABELS.get(self.table, self.table)
        return f"{self.name} ({kind})" if self.name else f"{kind} {self.id}"

    def to_spec(self) -> str:
        return f"{self.table}:{self.id}"


@dataclass(frozen=True)
class Status:
    state: BridgeState
    detail: str = ""
    profile: str = ""
    mailbox: str = ""
    crm_url: str = ""
    last_synced: datetime | None = None
    paused_until: datetime | None = None  # None while paused means "until resumed"
    outbox_queued: int = 0
    outbox_failed: int = 0
    track_queue: int = 0
    issues: int = 0
    sending_enabled: bool = True
    autotrack_enabled: bool = True


@dataclass(frozen=True)
class MailItem:
    """One message as the Track window lists it."""

    id: str
    folder_id: str
    subject: str
    sender: str
    received: datetime | None
    message_id: str | None = None
    tracked: bool = False
    activity_id: str | None = None
    regarding: RecordRef | None = None
    queued: bool = False  # a track request is waiting (offline, throttled)
    error: str | None = None  # the last track attempt failed with this reason
    categories: tuple[str, ...] = ()
    private: bool = False
    has_attachments: bool = False


@dataclass(frozen=True)
class MailList:
    items: tuple[MailItem, ...]
    total: int | None
    offset: int
    more: bool


class TrackOutcome(StrEnum):
    TRACKED = "tracked"
    ALREADY_TRACKED = "already_tracked"
    QUEUED = "queued"  # kept durably; will be tracked when the CRM answers again
    FAILED = "failed"
    SKIPPED = "skipped"  # a rule excluded it (auto-track only)


@dataclass(frozen=True)
class TrackResult:
    item_id: str
    outcome: TrackOutcome
    activity_id: str | None = None
    subject: str = ""
    message: str = ""
    warnings: tuple[str, ...] = ()  # skipped attachments, unresolved addresses, ...


class OutboxState(StrEnum):
    QUEUED = "queued"  # Pending Send in the CRM
    SCHEDULED = "scheduled"  # Pending Send with a later delayedemailsendtime
    SENDING = "sending"
    WAITING = "waiting"  # claimed; its stamped copy sits in the mailbox's Outbox (server slow)
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class OutboxItem:
    activity_id: str
    subject: str
    to: tuple[str, ...]
    state: OutboxState
    reason: str = ""
    updated: datetime | None = None
    send_after: datetime | None = None
    attempts: int = 0


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    action: str  # tracked, untracked, regarding, sent, send_failed, skipped, track_failed, ...
    subject: str = ""
    detail: str = ""
    ok: bool = True
    activity_id: str | None = None
    item_id: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class Issue:
    """Something the user should know or do; sticky until resolved or dismissed."""

    key: str
    title: str
    message: str
    action: IssueAction | None = None  # the fix the tray offers
    target: str | None = None  # e.g. the activity id for IssueAction.RETRY_OUTBOX
    since: datetime | None = None


# Events the facade emits to subscribers (from worker threads: the UI must marshal them).
@dataclass(frozen=True)
class StateChanged:
    status: Status


@dataclass(frozen=True)
class ActivityLogged:
    entry: AuditEntry


@dataclass(frozen=True)
class OutboxChanged:
    pass


@dataclass(frozen=True)
class IssuesChanged:
    issues: tuple[Issue, ...] = field(default_factory=tuple)


BridgeEvent = StateChanged | ActivityLogged | OutboxChanged | IssuesChanged
