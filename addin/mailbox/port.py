"""The Mailbox port: what the engine may ask of any mailbox backend.

Every method raises only :mod:`addin.errors` types (``MailboxError``, ``AuthError``,
``OfflineError``, ``ThrottledError``, ``MessageError``); a backend converts its
library's exceptions at this boundary.  Methods block and must never be called on a
GUI thread.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

from addin.errors import BridgeError
from addin.mailbox.types import (
    FetchFailure,
    Folder,
    FolderKind,
    MailboxInfo,
    MailboxSettings,
    Mark,
    Message,
    MessagePage,
    MessageSummary,
    OutgoingMessage,
    SecretSource,
    SendEvidence,
    SendState,
    SyncPage,
)


class Mailbox(ABC):
    """One user's mailbox, reached through one backend."""

    #: entry point name of the backend ("ews", "graph", "imap", ...)
    backend_name: str = ""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: MailboxSettings, secret: SecretSource) -> Mailbox:
        """Build a backend instance; no network traffic yet."""

    @abstractmethod
    def check(self) -> MailboxInfo:
        """Connect (discovering the server if needed) and prove the credentials work."""

    @abstractmethod
    def list_folders(self) -> list[Folder]:
        """All mail folders below the root, with their kinds and paths."""

    @abstractmethod
    def folder(self, kind: FolderKind) -> Folder:
        """A well-known folder (Inbox, Sent Items, ...)."""

    @abstractmethod
    def sync(self, folder_id: str, sync_state: str | None, max_changes: int = 100) -> SyncPage:
        """Changes in a folder since ``sync_state`` (None: start now, without old history
        when ``skip_history`` semantics apply; see the backend's docs)."""

    def sync_many(self, states: Mapping[str, str | None], max_changes: int = 100) -> dict[str, SyncPage]:
        """One :meth:`sync` round of several folders (folder id -> saved state).  Backends
        that can read them in one request override this; the default syncs one by one."""
        return {folder_id: self.sync(folder_id, state, max_changes) for folder_id, state in states.items()}

    @abstractmethod
    def fetch(
        self, ids: Sequence[str], *, with_attachments: bool = True, with_mime: bool = False
    ) -> list[Message | FetchFailure]:
        """Many messages at once, in the order of ``ids``; a message that cannot be read
        yields a FetchFailure instead of failing the batch."""

    @abstractmethod
    def set_categories(self, id: str, categories: Sequence[str]) -> None:
        """Replace the message's categories."""

    @abstractmethod
    def set_stamp(self, id: str, stamp: str | None) -> None:
        """Write (or clear, with None) the bridge's private property on a message."""

    @abstractmethod
    def send(self, message: OutgoingMessage) -> None:
        """Send through the user's own account with the given Message-ID and stamp,
        saving the copy to Sent Items."""

    @abstractmethod
    def find_by_stamp(self, folder_id: str, stamp: str) -> list[MessageSummary]:
        """Messages in a folder whose private property equals ``stamp``."""

    @abstractmethod
    def find_by_message_id(self, folder_id: str, message_id: str) -> list[MessageSummary]:
        """Messages in a folder with this Internet Message-ID."""

    @abstractmethod
    def list_messages(
        self, folder_id: str, *, offset: int = 0, limit: int = 50, text: str | None = None
    ) -> MessagePage:
        """Newest first, paged; ``text`` filters on subject, sender and body."""

    def mark_many(self, marks: Sequence[Mark]) -> list[str | None]:
        """Set categories and stamp on many messages; one error text (or None) per mark.

        Backends that can update many items in one request override this; the default is
        one call per field and message.
        """
        errors: list[str | None] = []
        for mark in marks:
            try:
                self.set_categories(mark.id, mark.categories)
                self.set_stamp(mark.id, mark.stamp)
                errors.append(None)
            except BridgeError as exc:
                errors.append(exc.message)
        return errors

    # -- two-step sending (optional) -------------------------------------------------------
    #
    # A backend whose send is a stamped draft followed by "send" (Graph) sets
    # ``sends_drafts``.  The outbox then journals between the two steps, and recovery can
    # tell "never submitted" (the stamped draft is still there: send THAT draft) from
    # "submitted, copy not yet in Sent Items" (wait; never send a second message).
    # Backends that send in one call (EWS CreateItem with SendAndSaveCopy) keep the
    # defaults and the outbox behaves exactly as before.

    #: True when create_draft/send_draft are implemented.
    sends_drafts: bool = False

    #: True when ``send_evidence`` answering NONE proves the message never reached the
    #: mailbox: the server keeps a submitted message in exactly one of Drafts, Outbox and Sent
    #: Items from submission until its copy is filed, and send_evidence reads them in that
    #: order (a message moving on during the reads is found in the later folder).  Without
    #: that guarantee a stale claim with no trace is never released (docs/ARCHITECTURE.md).
    absence_is_evidence: bool = False

    def create_draft(self, message: OutgoingMessage) -> str:
        """Save ``message`` (Message-ID, stamp, attachments) as a draft; return its id."""
        raise NotImplementedError

    def send_draft(self, draft_id: str) -> None:
        """Send a saved draft; a draft that was already sent counts as success."""
        raise NotImplementedError

    def send_evidence(self, stamp: str) -> SendEvidence:
        """Where the message stamped ``stamp`` is.  Default: Sent Items only (SENT or NONE)."""
        hits = self.find_by_stamp(self.folder(FolderKind.SENT).id, stamp)
        if hits:
            return SendEvidence(SendState.SENT, hits[0].id, hits[0].message_id, len(hits))
        return SendEvidence(SendState.NONE)

    def watch(self, folder_ids: Sequence[str], on_change: Callable[[], None], stop: threading.Event) -> None:
        """Block, calling ``on_change`` soon after anything changes in these folders, until
        ``stop`` is set (checked at least once a minute).  Backends that cannot be told of
        changes (the bridge then relies on its poll) raise NotImplementedError; a lost
        connection raises a BridgeError and the caller watches again later."""
        raise NotImplementedError

    def missing_copy_means_unsent(self) -> bool:
        """Whether the absence of the stamped Sent Items copy, after the outbox's grace
        period, proves that a send did not leave.  True where sending and saving the copy
        are one server operation (EWS, Graph); an SMTP backend that files the copy itself
        after submission returns False, and the outbox then never sends again on the
        absence of a copy (it marks the e-mail Failed for the user to check instead)."""
        return True

    # -- the master category list (optional) -----------------------------------------------
    #
    # Categories a user can pick in any mail client come from the mailbox's master list; the
    # bridge keeps its own there ("Track in CRM", one per pinned or recent Regarding record).

    def master_categories(self) -> list[str]:
        """Names in the mailbox's master category list.  Backends without one (IMAP keywords)
        raise NotImplementedError."""
        raise NotImplementedError

    def update_master_categories(self, add: Sequence[str], remove: Sequence[str]) -> None:
        """Add names that are missing and remove names (any case) that are present; other
        categories in the list are left exactly as they are."""
        raise NotImplementedError

    def hints(self) -> dict[str, str]:
        """Non-secret facts learnt while connecting (server URL, auth type, version) that
        make the next connect cheaper; persist them and pass them back in
        ``MailboxSettings.options``.  Empty for backends that learn nothing."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections."""
