"""The facade's changes to mail already tracked: untrack it, set or remove its Regarding.

Mixed into :class:`addin.bridge.Bridge`.  Each message of a selection gets its own result: one
that fails says why and the others go on (DESIGN §2).  The mailbox is marked for the whole
selection in one batched call (``Mailbox.mark_many``), not message by message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from addin.bridge_types import RecordRef, TrackOutcome, TrackResult
from addin.errors import BridgeError
from addin.mailbox.types import FetchFailure, Mark, Message

if TYPE_CHECKING:
    from addin.bridge_engine import Engine
    from addin.config import Profile
    from addin.mailbox.port import Mailbox
    from addin.store import Link, Store


class TrackedFacade:
    profile: Profile
    _store: Store
    _engine: Engine

    if TYPE_CHECKING:  # provided by the mail part of the facade

        def track(self, item_ids: Sequence[str], regarding: RecordRef | None = None) -> list[TrackResult]: ...
        def _remember_regarding(self, ref: RecordRef) -> None: ...

    def untrack(self, item_ids: Sequence[str], *, delete_activity: bool | None = None) -> list[TrackResult]:
        """Undo tracking: the CRM e-mail deleted (or kept), the mark and the link removed."""
        delete = (
            bool(self.profile.get("tracking.untrack_deletes")) if delete_activity is None else delete_activity
        )
        tracked_category = str(self.profile.get("tracking.tracked_category"))
        request_category = str(self.profile.get("tracking.request_category"))
        mailbox = self._engine.mailbox
        results: dict[str, TrackResult] = {}
        undone: list[tuple[Message, Link | None, str | None]] = []
        for item in mailbox.fetch(list(item_ids), with_attachments=False):
            if isinstance(item, FetchFailure):
                results[item.id] = TrackResult(item.id, TrackOutcome.FAILED, message=item.reason)
                continue
            link = self._store.link_by_item(item.id)
            activity_id = link.activity_id if link else item.stamp
            if not (link or activity_id or tracked_category in item.categories):
                # Nothing to undo: say so, and write no audit row for something that did not happen.
                results[item.id] = TrackResult(
                    item.id, TrackOutcome.SKIPPED, None, item.subject, "Not tracked; nothing to undo"
                )
                continue
            if activity_id and delete:
                try:
                    self._engine.crm.delete_email(activity_id)  # gone already counts as deleted
                except BridgeError as exc:
                    results[item.id] = TrackResult(
                        item.id, TrackOutcome.FAILED, activity_id, item.subject, exc.message
                    )
                    continue
            undone.append((item, link, activity_id))
        marks = [
            Mark(
                item.id,
                tuple(c for c in item.categories if c not in (tracked_category, request_category)),
                None,
            )
            for item, _, _ in undone
        ]
        errors = _mark_all(mailbox, marks)
        for (item, link, activity_id), error in zip(undone, errors, strict=True):
            if error:
                # The link stays, so untracking again finishes the job (a deleted e-mail is
                # not deleted twice: "gone" counts as deleted).
                results[item.id] = TrackResult(
                    item.id,
                    TrackOutcome.FAILED,
                    activity_id,
                    item.subject,
                    f"The message could not be unmarked in the mailbox: {error}",
                )
                continue
            if link:
                self._store.remove_link(link.message_key)
            self._store.audit(
                "untracked",
                subject=item.subject,
                detail="CRM e-mail deleted" if delete else "CRM e-mail kept; link removed",
                activity_id=activity_id,
                item_id=item.id,
            )
            results[item.id] = TrackResult(
                item.id, TrackOutcome.SKIPPED, activity_id, item.subject, "Untracked"
            )
        return _in_order(item_ids, results)

    def set_regarding(self, item_ids: Sequence[str], regarding: RecordRef | None) -> list[TrackResult]:
        """Set, change or remove the Regarding of tracked messages; untracked ones are tracked
        with it (all of them in one track, so the mailbox is marked once)."""
        results: dict[str, TrackResult] = {}
        to_track: list[str] = []
        for item_id in item_ids:
            link = self._store.link_by_item(item_id)
            if link is None and regarding is None:
                results[item_id] = TrackResult(
                    item_id, TrackOutcome.FAILED, message="Not tracked; there is no Regarding to remove"
                )
            elif link is None:
                to_track.append(item_id)  # Set Regarding on a message not tracked yet tracks it
            else:
                results[item_id] = self._set_link_regarding(item_id, link, regarding)
        if to_track:
            try:
                tracked = self.track(to_track, regarding)
            except BridgeError as exc:
                tracked = [TrackResult(i, TrackOutcome.FAILED, message=exc.message) for i in to_track]
            results.update((r.item_id, r) for r in tracked)
        if regarding is not None:
            self._remember_regarding(regarding)
        return _in_order(item_ids, results)

    def _set_link_regarding(self, item_id: str, link: Link, regarding: RecordRef | None) -> TrackResult:
        try:
            self._engine.crm.set_regarding(link.activity_id, regarding)
        except BridgeError as exc:
            return TrackResult(item_id, TrackOutcome.FAILED, link.activity_id, link.subject, exc.message)
        self._store.set_link_regarding(
            link.message_key,
            regarding.to_spec() if regarding else None,
            regarding.name if regarding else None,
        )
        self._store.audit(
            "regarding",
            subject=link.subject,
            detail=f"Regarding set to {regarding.label}" if regarding else "Regarding removed",
            activity_id=link.activity_id,
            item_id=item_id,
        )
        return TrackResult(item_id, TrackOutcome.TRACKED, link.activity_id, link.subject, "Regarding set")


def _mark_all(mailbox: Mailbox, marks: list[Mark]) -> list[str | None]:
    """One batched mark; a call that fails as a whole fails every mark with its reason."""
    if not marks:
        return []
    try:
        errors = mailbox.mark_many(marks)
    except BridgeError as exc:
        return [exc.message] * len(marks)
    return errors + [None] * (len(marks) - len(errors))


def _in_order(item_ids: Sequence[str], results: dict[str, TrackResult]) -> list[TrackResult]:
    """One result per item asked for, in the order asked (a duplicate id is answered once)."""
    seen: set[str] = set()
    out = []
    for item_id in item_ids:
        if item_id in results and item_id not in seen:
            seen.add(item_id)
            out.append(results[item_id])
    return out
