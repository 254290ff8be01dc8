"""An in-memory mailbox behind the Mailbox port, for the engine's unit tests (no server).

A :class:`MemoryMailServer` holds the mailboxes; a :class:`MemoryMailbox` is one user's
connection to it, so a "second machine" is a second connection to the same server.  Its send
behaves like one of the real backends, chosen with ``style``:

* ``"ews"``: one call sends and files the stamped copy in Sent Items; the server keeps a
  submitted message in exactly one of Drafts, Outbox and Sent Items (``absence_is_evidence``);
* ``"graph"``: a stamped draft, then "send that draft" (``sends_drafts``); a draft is sent once;
* ``"smtp"``: submission, then the client files the copy itself; a missing copy proves nothing
  (``missing_copy_means_unsent`` is False).

``hold`` keeps submitted mail in Outbox (a transport outage), ``release_held`` lets it go.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from addin.errors import MailboxError
from addin.mailbox.port import Mailbox
from addin.mailbox.types import (
    Address,
    Change,
    ChangeKind,
    FetchFailure,
    Folder,
    FolderKind,
    MailboxInfo,
    MailboxSettings,
    Message,
    MessagePage,
    MessageSummary,
    OutgoingMessage,
    SecretSource,
    SendEvidence,
    SendState,
    SyncPage,
)
from addin.store import utcnow

Style = Literal["ews", "graph", "smtp"]
OUTBOX = "outbox"
WELL_KNOWN = {
    FolderKind.INBOX: "Inbox",
    FolderKind.SENT: "Sent Items",
    FolderKind.DRAFTS: "Drafts",
    FolderKind.DELETED: "Deleted Items",
}


@dataclass
class _Box:
    address: str
    folders: dict[str, Folder] = field(default_factory=dict)
    items: dict[str, Message] = field(default_factory=dict)
    # (sequence number, item id, kind): the change log incremental sync reads.
    log: list[tuple[int, str, ChangeKind]] = field(default_factory=list)


class MemoryMailServer:
    """The mail server: mailboxes by address, delivery between them, an Outbox that can hold."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.boxes: dict[str, _Box] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        #: While True, submitted mail waits in Outbox (a transport outage).
        self.hold = False
        #: Every message that left the server, in order: (sender, Message-ID, stamp).
        self.transmitted: list[tuple[str, str | None, str | None]] = []

    def box(self, address: str) -> _Box:
        with self.lock:
            key = address.lower()
            if key not in self.boxes:
                box = _Box(key)
                for kind, name in WELL_KNOWN.items():
                    box.folders[kind.value] = Folder(kind.value, name, kind, path=name)
                box.folders[OUTBOX] = Folder(OUTBOX, "Outbox", FolderKind.OTHER, path="Outbox")
                self.boxes[key] = box
            return self.boxes[key]

    def new_id(self) -> str:
        return f"item-{next(self._ids)}"

    def put(self, address: str, message: Message) -> str:
        """File a message in a mailbox (delivery, a copy, a draft); returns its id."""
        with self.lock:
            box = self.box(address)
            if message.folder_id not in box.folders:
                raise MailboxError(f"No folder {message.folder_id!r} in {address}.")
            item_id = message.id or self.new_id()
            created = item_id not in box.items
            box.items[item_id] = replace(message, id=item_id, received=message.received or utcnow())
            box.log.append((next(self._seq), item_id, ChangeKind.CREATED if created else ChangeKind.UPDATED))
            return item_id

    def move(self, address: str, item_id: str, folder_id: str) -> str:
        with self.lock:
            box = self.box(address)
            message = box.items.pop(item_id)
            box.log.append((next(self._seq), item_id, ChangeKind.DELETED))
            return self.put(address, replace(message, id=self.new_id(), folder_id=folder_id))

    def transmit(self, sender: str, message: Message) -> None:
        """The message leaves: delivered to every recipient mailbox on this server."""
        with self.lock:
            self.transmitted.append((sender, message.message_id, message.stamp))
            for rcpt in (*message.to, *message.cc, *message.bcc):
                if rcpt.email.lower() in self.boxes:
                    incoming = replace(
                        message, id="", folder_id=FolderKind.INBOX.value, stamp=None, categories=()
                    )
                    self.put(rcpt.email, incoming)

    def release_held(self) -> None:
        """The transport is back: everything in every Outbox leaves and is filed in Sent Items."""
        with self.lock:
            for box in self.boxes.values():
                for item_id, message in list(box.items.items()):
                    if message.folder_id == OUTBOX:
                        self.transmit(box.address, message)
                        self.move(box.address, item_id, FolderKind.SENT.value)


class MemoryMailbox(Mailbox):
    """One user's mailbox on a :class:`MemoryMailServer`."""

    backend_name = "memory"

    def __init__(self, server: MemoryMailServer, address: str, *, style: Style = "ews") -> None:
        self.server = server
        self.address = address.lower()
        self.style = style
        self.sends_drafts = style == "graph"
        self.absence_is_evidence = style == "ews"
        #: Called between an SMTP submission and the filing of its copy (tests kill here).
        self.after_submit: Callable[[], None] = lambda: None
        server.box(address)

    @classmethod
    def from_settings(cls, settings: MailboxSettings, secret: SecretSource) -> Mailbox:
        style = settings.options.get("style", "ews")
        if style not in ("ews", "graph", "smtp"):
            raise MailboxError(f"Unknown in-memory mailbox style {style!r}.")
        return cls(MemoryMailServer(), settings.email, style=style)  # type: ignore[arg-type]

    @property
    def _box(self) -> _Box:
        return self.server.box(self.address)

    def check(self) -> MailboxInfo:
        return MailboxInfo(self.address, "memory", self.backend_name)

    def list_folders(self) -> list[Folder]:
        with self.server.lock:
            return list(self._box.folders.values())

    def folder(self, kind: FolderKind) -> Folder:
        with self.server.lock:
            folder = self._box.folders.get(kind.value)
        if folder is None:
            raise MailboxError(f"The mailbox has no {kind.value} folder.")
        return folder

    def add_folder(self, name: str, parent: str = "Inbox") -> Folder:
        with self.server.lock:
            folder = Folder(f"folder-{name.lower()}", name, FolderKind.OTHER, path=f"{parent}/{name}")
            self._box.folders[folder.id] = folder
            return folder

    def deliver(self, message: Message, folder: FolderKind | str = FolderKind.INBOX) -> str:
        """Mail arriving from outside (the server side); returns the new item's id."""
        folder_id = folder.value if isinstance(folder, FolderKind) else folder
        return self.server.put(self.address, replace(message, id="", folder_id=folder_id))

    def _folder_id(self, folder_id: str) -> str:
        if folder_id not in self._box.folders:
            raise MailboxError(f"The folder {folder_id!r} does not exist in this mailbox.")
        return folder_id

    def sync(self, folder_id: str, sync_state: str | None, max_changes: int = 100) -> SyncPage:
        with self.server.lock:
            self._folder_id(folder_id)
            log = self._box.log
            if sync_state is None:
                return SyncPage((), str(log[-1][0] if log else 0), False)
            after = int(sync_state)
            changes: list[Change] = []
            last = after
            for seq, item_id, kind in log:
                if seq <= after:
                    continue
                if len(changes) >= max_changes:
                    return SyncPage(tuple(changes), str(last), True)
                last = seq
                message = self._box.items.get(item_id)
                if kind is ChangeKind.DELETED or message is None:
                    continue  # deletions are not needed by the engine; a gone item is skipped
                if message.folder_id == folder_id:
                    changes.append(Change(kind, item_id, _summary(message)))
            return SyncPage(tuple(changes), str(last), False)

    def fetch(
        self, ids: Sequence[str], *, with_attachments: bool = True, with_mime: bool = False
    ) -> list[Message | FetchFailure]:
        with self.server.lock:
            out: list[Message | FetchFailure] = []
            for item_id in ids:
                message = self._box.items.get(item_id)
                if message is None:
                    out.append(FetchFailure(item_id, "The message no longer exists."))
                else:
                    out.append(message if with_attachments else replace(message, attachments=()))
            return out

    def _change(self, item_id: str, **values: object) -> None:
        with self.server.lock:
            message = self._box.items.get(item_id)
            if message is None:
                raise MailboxError("The message no longer exists.")
            self.server.put(self.address, replace(message, **values))  # type: ignore[arg-type]

    def set_categories(self, id: str, categories: Sequence[str]) -> None:
        self._change(id, categories=tuple(categories))

    def set_stamp(self, id: str, stamp: str | None) -> None:
        self._change(id, stamp=stamp)

    def _outgoing(self, message: OutgoingMessage, folder_id: str) -> Message:
        return Message(
            id="",
            folder_id=folder_id,
            message_id=message.message_id,
            subject=message.subject,
            sender=Address(self.address),
            to=message.to,
            cc=message.cc,
            bcc=message.bcc,
            in_reply_to=message.in_reply_to,
            references=message.references,
            text_body=message.text_body,
            html_body=message.html_body,
            sent=utcnow(),
            attachments=message.attachments,
            stamp=message.stamp,
        )

    def send(self, message: OutgoingMessage) -> None:
        if self.sends_drafts:
            self.send_draft(self.create_draft(message))
            return
        with self.server.lock:
            if self.style == "ews" and self.server.hold:
                self.server.put(self.address, self._outgoing(message, OUTBOX))
                return
            self.server.transmit(self.address, self._outgoing(message, FolderKind.SENT.value))
        if self.style == "smtp":
            # An SMTP client files the copy itself after DATA: the process can die in between.
            self.after_submit()
        with self.server.lock:
            self.server.put(self.address, self._outgoing(message, FolderKind.SENT.value))

    def create_draft(self, message: OutgoingMessage) -> str:
        if not self.sends_drafts:
            raise NotImplementedError
        return self.server.put(self.address, self._outgoing(message, FolderKind.DRAFTS.value))

    def send_draft(self, draft_id: str) -> None:
        if not self.sends_drafts:
            raise NotImplementedError
        with self.server.lock:
            draft = self._box.items.get(draft_id)
            if draft is None or draft.folder_id != FolderKind.DRAFTS.value:
                return  # sent already: a draft is sent once, and that counts as success
            if self.server.hold:
                self.server.move(self.address, draft_id, OUTBOX)
                return
            self.server.transmit(self.address, draft)
            self.server.move(self.address, draft_id, FolderKind.SENT.value)

    def send_evidence(self, stamp: str) -> SendEvidence:
        with self.server.lock:
            order = (FolderKind.SENT.value, OUTBOX, FolderKind.DRAFTS.value)
            states = (SendState.SENT, SendState.SUBMITTED, SendState.DRAFT)
            for folder_id, state in zip(order, states, strict=True):
                if state is SendState.DRAFT and not self.sends_drafts:
                    continue
                hits = [m for m in self._box.items.values() if m.folder_id == folder_id and m.stamp == stamp]
                if hits:
                    return SendEvidence(state, hits[0].id, hits[0].message_id, len(hits))
            return SendEvidence(SendState.NONE)

    def missing_copy_means_unsent(self) -> bool:
        return self.style != "smtp"

    def find_by_stamp(self, folder_id: str, stamp: str) -> list[MessageSummary]:
        with self.server.lock:
            self._folder_id(folder_id)
            return [
                _summary(m) for m in self._box.items.values() if m.folder_id == folder_id and m.stamp == stamp
            ]

    def find_by_message_id(self, folder_id: str, message_id: str) -> list[MessageSummary]:
        with self.server.lock:
            self._folder_id(folder_id)
            return [
                _summary(m)
                for m in self._box.items.values()
                if m.folder_id == folder_id and m.message_id == message_id
            ]

    def list_messages(
        self, folder_id: str, *, offset: int = 0, limit: int = 50, text: str | None = None
    ) -> MessagePage:
        with self.server.lock:
            self._folder_id(folder_id)
            needle = (text or "").lower()
            items = [
                m
                for m in self._box.items.values()
                if m.folder_id == folder_id
                and (
                    not needle
                    or needle in m.subject.lower()
                    or needle in m.text_body.lower()
                    or (m.sender is not None and needle in m.sender.email.lower())
                )
            ]
        items.sort(key=lambda m: m.received or datetime.min, reverse=True)
        page = items[offset : offset + limit]
        return MessagePage(tuple(_summary(m) for m in page), len(items), offset, offset + limit < len(items))

    def sent_copies(self, stamp: str) -> list[Message]:
        """The stamped copies in Sent Items (what a user would count)."""
        with self.server.lock:
            return [
                m
                for m in self._box.items.values()
                if m.folder_id == FolderKind.SENT.value and m.stamp == stamp
            ]


def _summary(m: Message) -> MessageSummary:
    return MessageSummary(
        id=m.id,
        folder_id=m.folder_id,
        message_id=m.message_id,
        subject=m.subject,
        sender=m.sender,
        received=m.received,
        categories=m.categories,
        sensitivity=m.sensitivity,
        has_attachments=bool(m.attachments),
        stamp=m.stamp,
    )
