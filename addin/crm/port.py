"""The CRM port: what the engine may ask of any CRM, in plain values.

The engine (``addin.engine``) depends on this Protocol only.  ``addin.crm.dataverse_port``
implements it over the Dataverse Web API and ``addin.crm.memory`` in memory with Dataverse's
rules; one contract suite (tests/contract/test_crm_contract.py) holds both to the same answers.

Every method raises only :mod:`addin.errors` types: ``ConflictError`` for a duplicate key or a
record changed since its ETag, ``NotFoundError``, ``AuthError``, ``OfflineError``,
``ThrottledError``, ``UnknownOutcomeError`` and ``CrmError`` for anything else.  Methods block
and must never be called on a GUI thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from addin.bridge_types import RecordRef
from addin.crm.codes import PartyRole
from addin.errors import CrmError
from addin.mailbox.types import Attachment


@dataclass(frozen=True)
class UserContext:
    """Who the signed-in user is and what the CRM allows them."""

    user_id: str
    full_name: str
    email: str
    mailbox_id: str | None
    incoming_method: int  # mailbox.incomingemaildeliverymethod: 1 = this app, 2 = server-side sync
    outgoing_method: int
    filtering_method: int  # usersettings.incomingemailfilteringmethod
    max_upload_bytes: int
    blocked_extensions: frozenset[str]
    colleague_domains: frozenset[str] = frozenset()
    tracking_prefixes: tuple[str, ...] = ("CRM",)


@dataclass(frozen=True)
class TrackedEmail:
    """An e-mail activity already in the CRM, as a look-up finds it."""

    activity_id: str
    message_id: str | None
    regarding: RecordRef | None
    statuscode: int | None = None


@dataclass(frozen=True)
class Party:
    mask: PartyRole
    address: str
    record: RecordRef | None = None


@dataclass
class EmailDraft:
    """One CRM e-mail the engine wants to exist (a tracked message)."""

    activity_id: str
    subject: str
    description: str
    outgoing: bool
    message_id: str
    parties: list[Party]
    when: datetime | None
    regarding: RecordRef | None = None
    attachments: list[Attachment] = field(default_factory=list)
    submitted_by: str = ""
    owner_id: str | None = None


@dataclass(frozen=True)
class PendingEmail:
    """An outgoing CRM e-mail as the outbox reads it; ``etag`` names the version read."""

    activity_id: str
    etag: str
    subject: str
    description: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    statuscode: int
    message_id: str | None
    send_after: datetime | None
    modified: datetime | None
    attempts: int
    regarding: RecordRef | None = None


# A look-up's answer: tracked e-mails keyed by activity id, by bracketed Message-ID and by
# "token:<tracking token>" (lower case); resolved parties keyed by lower-case address.
Tracked = dict[str, TrackedEmail]
Resolved = dict[str, list[RecordRef]]


class CrmPort(Protocol):
    """One user's CRM organisation."""

    # -- who am I, and what does the CRM allow --------------------------------------------

    def context(self, *, refresh: bool = False) -> UserContext:
        """The user's context; cached for a while unless ``refresh``."""
        ...

    def ping(self) -> None:
        """One cheap round trip that proves the CRM answers (raises when it does not)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    # -- look-ups and tracking ------------------------------------------------------------

    def lookup(
        self,
        message_ids: Sequence[str],
        addresses: Sequence[str],
        activity_ids: Sequence[str] = (),
        tokens: Sequence[str] = (),
    ) -> tuple[Tracked, Resolved]:
        """Already-tracked e-mails (by Message-ID, activity id or tracking token) and the
        records each address stands for (systemuser, contact, lead, account)."""
        ...

    def create_emails(self, drafts: Sequence[EmailDraft]) -> list[CrmError | None]:
        """Create each draft atomically (parties, attachments, closed as Sent or Received);
        one outcome per draft, ``ConflictError`` when its activity id already exists."""
        ...

    def set_regarding(self, activity_id: str, regarding: RecordRef | None) -> None:
        """Set, change or (None) remove Regarding, also on a completed e-mail (its status kept)."""
        ...

    def delete_email(self, activity_id: str) -> None:
        """Delete an e-mail; one already gone is not an error."""
        ...

    def named(self, refs: Sequence[RecordRef]) -> list[RecordRef]:
        """The records with their current names; a record that is gone keeps what it had."""
        ...

    def current_names(self, refs: Sequence[RecordRef]) -> dict[str, str]:
        """Current names of the records that still exist (``table:id`` -> name); gone ones absent."""
        ...

    def search_records(self, text: str, tables: Sequence[str], limit: int) -> list[RecordRef]:
        """Records of these tables whose name contains (or first e-mail starts with) ``text``,
        names starting with it first."""
        ...

    # -- the outbox -----------------------------------------------------------------------

    def outbox(
        self,
        context: UserContext,
        statuscodes: Iterable[int],
        top: int = 50,
        due_by: datetime | None = None,
    ) -> list[PendingEmail]:
        """The user's outgoing e-mails in these states, least recently modified first; with
        ``due_by``, Pending Send ones only once their Send later time has come."""
        ...

    def current(self, activity_id: str) -> PendingEmail | None:
        """The e-mail as it is now, or None when it is gone."""
        ...

    def claim(self, pending: PendingEmail, message_id: str) -> bool:
        """Pending Send -> Sending naming the Message-ID, under ``pending.etag``; False when
        the e-mail changed since it was read (another copy of the bridge claimed it)."""
        ...

    def mark_sent(self, activity_id: str, message_id: str) -> None:
        """-> Sent with the Message-ID; a no-op when it is Sent already."""
        ...

    def mark_failed(self, activity_id: str, attempts: int, etag: str = "*") -> bool:
        """-> Failed counting ``attempts``; with an ETag, False when the e-mail changed."""
        ...

    def release(self, pending: PendingEmail) -> bool:
        """Sending -> Pending Send, Message-ID cleared, under ``pending.etag`` ("*": any
        version); False when the e-mail changed."""
        ...

    def requeue(self, activity_id: str) -> None:
        """Failed -> Pending Send (the user pressed Retry)."""
        ...

    def attachments(self, activity_id: str) -> list[Attachment]:
        """The e-mail's attachments, content included."""
        ...
