"""The facade's part for mail: list and find messages, track, untrack, set Regarding.

Mixed into :class:`addin.bridge.Bridge`.  A selection is handled item by item: one message
that fails gets a result saying why, and the rest of the selection goes on (DESIGN §2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from addin.bridge_types import (
    REGARDING_TABLES,
    MailItem,
    MailList,
    RecordRef,
    StateChanged,
    TrackOutcome,
    TrackResult,
)
from addin.engine.mime import parse_mime
from addin.engine.msg_file import is_msg, parse_msg
from addin.engine.tracker import parse_record_spec
from addin.errors import MessageError
from addin.mailbox.types import Folder, FolderKind, Message

if TYPE_CHECKING:
    from addin.bridge_engine import Engine
    from addin.bridge_types import BridgeEvent, Status
    from addin.config import Profile
    from addin.store import Link, Store

RECENT_REGARDING = "recent_regarding"  # the journal's key for recently chosen Regarding records
PRIVATE = ("private", "personal", "confidential")


class MailFacade:
    profile: Profile
    _store: Store
    _engine: Engine

    if TYPE_CHECKING:  # provided by the Bridge and its other parts

        def _emit(self, event: BridgeEvent) -> None: ...
        def user_active(self) -> None: ...
        def status(self) -> Status: ...
        def _regarding_changed(self) -> None: ...

    # -- reading --------------------------------------------------------------------------

    def folders(self) -> list[Folder]:
        return self._engine.mailbox.list_folders()

    def find_items(self, message_id: str, *, first: bool = False) -> list[str]:
        """Mailbox items with this Message-ID in Inbox, then Sent Items (the folders watched);
        with ``first``, the search stops at the first folder that has it."""
        mailbox = self._engine.mailbox
        found: list[str] = []
        for kind in (FolderKind.INBOX, FolderKind.SENT):
            found += [m.id for m in mailbox.find_by_message_id(mailbox.folder(kind).id, message_id)]
            if found and first:
                break
        return found

    def search_items(self, text: str, *, limit: int = 50) -> list[str]:
        """Mailbox items in Inbox and Sent Items whose subject, sender or body has ``text``."""
        mailbox = self._engine.mailbox
        found: list[str] = []
        for kind in (FolderKind.INBOX, FolderKind.SENT):
            found += [
                m.id for m in mailbox.list_messages(mailbox.folder(kind).id, limit=limit, text=text).items
            ]
        return found

    def tracked_link(self, message_id: str) -> Link | None:
        """The journal's link for a normalised Message-ID: tracked from this profile, and as what."""
        return self._store.link_by_key(message_id)

    def messages(
        self, folder_id: str, *, offset: int = 0, limit: int = 50, text: str | None = None
    ) -> MailList:
        page = self._engine.mailbox.list_messages(folder_id, offset=offset, limit=limit, text=text)
        links = self._store.links_by_items([m.id for m in page.items])
        queued = {q.item_id: q for q in self._store.queued_tracks()}
        tracked_category = str(self.profile.get("tracking.tracked_category"))
        items = []
        for m in page.items:
            link = links.get(m.id)
            regarding = None
            if link and link.regarding:
                ref = parse_record_spec(link.regarding)
                regarding = RecordRef(ref.table, ref.id, link.regarding_name or "")
            q = queued.get(m.id)
            items.append(
                MailItem(
                    id=m.id,
                    folder_id=m.folder_id,
                    subject=m.subject,
                    sender=str(m.sender) if m.sender else "",
                    received=m.received,
                    message_id=m.message_id,
                    tracked=bool(link) or bool(m.stamp) or tracked_category in m.categories,
                    activity_id=link.activity_id if link else m.stamp,
                    regarding=regarding,
                    queued=q is not None,
                    error=q.last_error or None if q else None,
                    categories=m.categories,
                    private=m.sensitivity.value in PRIVATE,
                    has_attachments=m.has_attachments,
                )
            )
        return MailList(tuple(items), page.total, page.offset, page.more)

    # -- tracking -------------------------------------------------------------------------

    def track(self, item_ids: Sequence[str], regarding: RecordRef | None = None) -> list[TrackResult]:
        self.user_active()
        results = self._engine.tracker.track_items(list(item_ids), regarding, reason="manual")
        if regarding is not None:
            self._remember_regarding(regarding)
        self._emit(StateChanged(self.status()))
        return results

    def track_file(self, data: bytes, filename: str, regarding: RecordRef | None = None) -> TrackResult:
        """Track one dropped .eml/.msg file; a file that is not mail raises MessageError."""
        return self._track_dropped([(filename, _read_dropped(data, filename))], regarding)[0]

    def track_files(
        self, files: Sequence[tuple[bytes, str]], regarding: RecordRef | None = None
    ) -> list[TrackResult]:
        """Track dropped files in one CRM round; a file that is not mail fails alone, with why."""
        out: list[TrackResult | None] = []
        readable: list[tuple[str, Message]] = []
        for data, filename in files:
            try:
                readable.append((filename, _read_dropped(data, filename)))
                out.append(None)
            except MessageError as exc:
                out.append(TrackResult(filename, TrackOutcome.FAILED, subject=filename, message=exc.message))
        tracked = iter(self._track_dropped(readable, regarding))
        return [result if result is not None else next(tracked) for result in out]

    def _track_dropped(
        self, files: Sequence[tuple[str, Message]], regarding: RecordRef | None
    ) -> list[TrackResult]:
        results = self._engine.file_tracker.track_messages([m for _, m in files], regarding, reason="file")
        return [
            TrackResult(filename, r.outcome, r.activity_id, r.subject, r.message, r.warnings)
            for (filename, _), r in zip(files, results, strict=True)
        ]

    # -- Regarding records ----------------------------------------------------------------

    def search_records(
        self, text: str, tables: Sequence[str] = REGARDING_TABLES, limit: int = 20
    ) -> list[RecordRef]:
        return self._engine.crm.search_records(text, tables, limit)

    def describe_records(self, refs: Sequence[RecordRef]) -> list[RecordRef]:
        """Saved Regarding choices (``table:id``) with their names, to show instead of ids."""
        return self._engine.crm.named(refs)

    def recent_regarding(self, limit: int = 8) -> list[RecordRef]:
        stored = self._store.get(RECENT_REGARDING) or []
        return [RecordRef(**r) for r in stored[:limit]]

    def _remember_regarding(self, ref: RecordRef) -> None:
        stored = [r for r in (self._store.get(RECENT_REGARDING) or []) if r.get("id") != ref.id]
        entry = {"table": ref.table, "id": ref.id, "name": ref.name, "detail": ref.detail}
        self._store.put(RECENT_REGARDING, [entry, *stored][:20])
        self._regarding_changed()


def _read_dropped(data: bytes, filename: str) -> Message:
    # The OLE signature decides, not the name: a .msg renamed .eml is still a .msg.
    is_outlook = is_msg(data) or filename.lower().endswith(".msg")
    return parse_msg(data) if is_outlook else parse_mime(data)
