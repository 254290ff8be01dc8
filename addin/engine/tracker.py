"""Track in CRM: messages become e-mail activities, exactly once.

Per batch of messages: one ``$batch`` of look-ups (already tracked? who are the
parties? what does a reply correlate to?), then one change set per new message.
Activity ids are derived from the message key, so repeating a track — after a lost
response, on a second machine, or by a second click — finds or collides with the same
record and never creates a second one.

This module does the round trips and the journal writes; turning a message into the
activity's draft (parties, attachments, inherited Regarding) is :mod:`addin.engine.track_draft`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from addin.bridge_types import RecordRef, TrackOutcome, TrackResult
from addin.crm import records as r
from addin.crm.port import CrmPort, EmailDraft, TrackedEmail, UserContext
from addin.engine.keys import activity_id_for, message_key, normalize_message_id
from addin.engine.track_draft import (
    correlate,
    describe,
    draft_email,
    not_a_message,
    parties_of,
    token_pattern,
)
from addin.errors import (
    BridgeError,
    ConflictError,
    CrmError,
    MailboxError,
    OfflineError,
    ThrottledError,
    UnknownOutcomeError,
)
from addin.mailbox.port import Mailbox
from addin.mailbox.types import FetchFailure, Mark, Message
from addin.store import Store, utcnow

log = logging.getLogger(__name__)

FETCH_CHUNK = 50
# Messages handled per CRM round (one look-up $batch, then creation batches of <= 900 parts).
CRM_GROUP = 500
# Errors after which a track request is kept and retried later rather than failed.
TRANSIENT = (OfflineError, ThrottledError, UnknownOutcomeError)


# A rule for automatic tracking: None accepts the message, a string says why not.
Accept = Callable[[Message, dict[str, TrackedEmail], dict[str, list[RecordRef]]], str | None]


@dataclass(frozen=True)
class _Group:
    """What one look-up round learnt about a group of messages."""

    ctx: UserContext
    keys: dict[str, str]
    activity_ids: dict[str, str]
    tracked: dict[str, TrackedEmail]
    resolved: dict[str, list[RecordRef]]
    token_re: re.Pattern[str]


@dataclass(frozen=True)
class TrackSettings:
    tracked_category: str = "Tracked in CRM"
    request_category: str = "Track in CRM"
    user_email: str = ""
    # Regarding categories ("CRM ▸ Fabrikam, Inc.") are requests too: tracking removes them,
    # by prefix and, where given, by the journal's mapping (IMAP keyword forms included).
    regarding_prefix: str = "CRM ▸ "
    is_regarding: Callable[[str], bool] | None = None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    return isinstance(exc, CrmError) and (exc.status or 0) >= 500


class Tracker:
    def __init__(self, mailbox: Mailbox | None, crm: CrmPort, store: Store, settings: TrackSettings) -> None:
        self.mailbox = mailbox
        self.crm = crm
        self.store = store
        self.settings = settings

    # -- entry points -------------------------------------------------------------------

    def track_items(
        self,
        item_ids: Sequence[str],
        regarding: RecordRef | None = None,
        *,
        reason: str = "manual",
        accept: Accept | None = None,
    ) -> list[TrackResult]:
        """Track mailbox items; CRM trouble that may heal queues them durably instead."""
        if self.mailbox is None:
            raise MailboxError("No mailbox is configured.")
        results: list[TrackResult] = []
        pending: list[Message] = []

        def flush() -> None:
            if not pending:
                return
            try:
                results.extend(self.track_messages(pending, regarding, reason=reason, accept=accept))
            except BridgeError as exc:
                if not is_transient(exc):
                    raise
                results.extend(self._queue([m.id for m in pending], regarding, reason, exc))
            pending.clear()

        # The mailbox is read in small GetItem chunks (attachments are large); the CRM work is
        # done in big groups, because CRM round trips are what costs (DESIGN §3).
        for start in range(0, len(item_ids), FETCH_CHUNK):
            chunk = list(item_ids[start : start + FETCH_CHUNK])
            try:
                fetched = self.mailbox.fetch(chunk, with_attachments=True)
            except (*TRANSIENT, MailboxError) as exc:
                results.extend(self._queue(chunk, regarding, reason, exc))
                continue
            failures = [item for item in fetched if isinstance(item, FetchFailure)]
            pending += [item for item in fetched if not isinstance(item, FetchFailure)]
            if failures:
                with self.store.batch():
                    for failure in failures:
                        results.append(TrackResult(failure.id, TrackOutcome.FAILED, message=failure.reason))
                        self.store.audit("track_failed", ok=False, detail=failure.reason, item_id=failure.id)
            if len(pending) >= CRM_GROUP:
                flush()
        flush()
        return results

    def track_messages(
        self,
        messages: Sequence[Message],
        regarding: RecordRef | None = None,
        *,
        reason: str = "manual",
        accept: Accept | None = None,
    ) -> list[TrackResult]:
        """Track already-fetched messages (mailbox items or dropped files); raises transient errors."""
        if not messages:
            return []
        ctx = self.crm.context()
        keys = {m.id or str(i): message_key(m) for i, m in enumerate(messages)}
        activity_ids = {k: activity_id_for(key) for k, key in keys.items()}
        related: list[str] = []
        for m in messages:
            related += [
                x
                for x in (normalize_message_id(m.in_reply_to), *map(normalize_message_id, m.references))
                if x
            ]
        addresses = sorted({a.email.lower() for m in messages for a in parties_of(m)})
        token_re = token_pattern(ctx.tracking_prefixes)
        tokens = sorted({t for m in messages if regarding is None for t in token_re.findall(m.subject)})
        tracked, resolved = self.crm.lookup(
            sorted(set(keys.values()) | set(related)), addresses, sorted(set(activity_ids.values())), tokens
        )
        results: list[TrackResult] = []
        marks: list[Mark] = []
        # The group's journal rows (links, audit) are written in one transaction, whatever
        # happens: one fsync per group instead of two per message.  Then the marks.
        writes: list[Callable[[], object]] = []
        try:
            group = _Group(ctx, keys, activity_ids, tracked, resolved, token_re)
            self._track_known(messages, regarding, reason, accept, group, results, marks, writes)
        finally:
            try:
                with self.store.batch():
                    for write in writes:
                        write()
            finally:
                self._apply_marks(marks)
        return results

    def _track_known(
        self,
        messages: Sequence[Message],
        regarding: RecordRef | None,
        reason: str,
        accept: Accept | None,
        group: _Group,
        results: list[TrackResult],
        marks: list[Mark],
        writes: list[Callable[[], object]],
    ) -> None:
        ctx, keys, activity_ids = group.ctx, group.keys, group.activity_ids
        tracked, resolved, token_re = group.tracked, group.resolved, group.token_re
        audit = self.store.audit
        # One slot per message: results come back in the order the messages were given.
        slots: list[TrackResult | None] = [None] * len(messages)
        drafts: list[tuple[int, Message, str, EmailDraft, list[str]]] = []
        for i, m in enumerate(messages):
            handle = m.id or str(i)
            key, activity_id = keys[handle], activity_ids[handle]
            refused = not_a_message(m)
            if refused is not None:
                writes.append(
                    partial(audit, "track_failed", ok=False, subject=m.subject, detail=refused, item_id=m.id)
                )
                slots[i] = TrackResult(m.id, TrackOutcome.FAILED, None, m.subject, refused)
                continue
            existing = tracked.get(activity_id) or tracked.get(key)
            if existing is not None:
                slots[i] = self._already(m, key, existing, regarding, marks, writes)
                continue
            if accept is not None:
                why = accept(m, tracked, resolved)
                if why is not None:
                    slots[i] = TrackResult(m.id, TrackOutcome.SKIPPED, None, m.subject, f"Not tracked: {why}")
                    continue
            chosen = regarding or correlate(m, tracked, token_re)
            draft, warnings = draft_email(
                m, key, activity_id, chosen, ctx, resolved, user_email=self.settings.user_email
            )
            drafts.append((i, m, key, draft, warnings))
        outcomes = self.crm.create_emails([d for _, _, _, d, _ in drafts])
        for (i, m, key, draft, warnings), error in zip(drafts, outcomes, strict=True):
            if error is None:
                self._mark(m, key, draft.activity_id, draft.regarding, marks, writes)
                writes.append(
                    partial(
                        audit,
                        "tracked",
                        subject=m.subject,
                        detail=describe(draft.regarding, warnings, reason),
                        activity_id=draft.activity_id,
                        item_id=m.id or None,
                        message_id=key,
                    )
                )
                slots[i] = TrackResult(
                    m.id, TrackOutcome.TRACKED, draft.activity_id, m.subject, "Tracked", tuple(warnings)
                )
            elif isinstance(error, ConflictError):
                # Someone (another machine, server-side sync, our own lost response) created it.
                self._mark(m, key, draft.activity_id, draft.regarding, marks, writes)
                slots[i] = TrackResult(
                    m.id, TrackOutcome.ALREADY_TRACKED, draft.activity_id, m.subject, "Already tracked"
                )
            elif is_transient(error):
                raise error
            else:
                writes.append(
                    partial(
                        audit, "track_failed", ok=False, subject=m.subject, detail=error.message, item_id=m.id
                    )
                )
                slots[i] = TrackResult(m.id, TrackOutcome.FAILED, None, m.subject, error.message)
        results.extend(slot for slot in slots if slot is not None)

    def drain_queue(self, limit: int = 100) -> list[TrackResult]:
        """Retry durable track requests that are due; each ends tracked or with a visible error."""
        self._reset_backoff_when_crm_answers()
        due = self.store.due_tracks(limit)
        if not due:
            return []
        by_regarding: dict[str | None, list[int]] = {}
        for q in due:
            by_regarding.setdefault(q.regarding, []).append(q.id)
        queue = {q.id: q for q in due}
        results: list[TrackResult] = []
        for spec, ids in by_regarding.items():
            regarding = parse_record_spec(spec) if spec else None
            items = [queue[i].item_id for i in ids]
            batch_results = self.track_items(items, regarding, reason=queue[ids[0]].reason)
            by_item = {res.item_id: res for res in batch_results}
            with self.store.batch():
                for qid in ids:
                    res = by_item.get(queue[qid].item_id)
                    if res is None or res.outcome is TrackOutcome.QUEUED:
                        attempts = queue[qid].attempts + 1
                        why = res.message if res else "no answer for this message"
                        self.store.defer_track(qid, why, utcnow() + _backoff(attempts))
                    else:
                        self.store.finish_track(qid)
            results += batch_results
        return results

    def _reset_backoff_when_crm_answers(self) -> None:
        """Requests waiting out a long back-off go at once when the CRM answers again.

        After a long outage the back-off can reach 30 minutes; one cheap WhoAmI tells whether
        the CRM is back, so the queue is not left waiting for its timers.
        """
        if not self.store.deferred_tracks():
            return
        try:
            self.crm.ping()
        except BridgeError:
            return  # still unreachable (or refusing): the back-off stands
        reset = self.store.reset_track_backoff()
        if reset:
            log.info("the CRM answers again: %d waiting track request(s) retried now", reset)

    # -- pieces ---------------------------------------------------------------------------

    def _queue(
        self, item_ids: Sequence[str], regarding: RecordRef | None, reason: str, exc: BaseException
    ) -> list[TrackResult]:
        message = getattr(exc, "message", str(exc))
        with self.store.batch():
            for item_id in item_ids:
                self.store.enqueue_track(
                    item_id, regarding=regarding.to_spec() if regarding else None, reason=reason
                )
        log.info("queued %d track request(s): %s", len(item_ids), message)
        return [
            TrackResult(
                i, TrackOutcome.QUEUED, message=f"Will be tracked when the CRM answers again ({message})"
            )
            for i in item_ids
        ]

    def _already(
        self,
        m: Message,
        key: str,
        existing: TrackedEmail,
        regarding: RecordRef | None,
        marks: list[Mark],
        writes: list[Callable[[], object]],
    ) -> TrackResult:
        final = existing.regarding
        if regarding is not None and (existing.regarding is None or existing.regarding.id != regarding.id):
            self.crm.set_regarding(existing.activity_id, regarding)
            final = regarding
        self._mark(m, key, existing.activity_id, final, marks, writes)
        return TrackResult(
            m.id, TrackOutcome.ALREADY_TRACKED, existing.activity_id, m.subject, "Already tracked"
        )

    def _mark(
        self,
        m: Message,
        key: str,
        activity_id: str,
        regarding: RecordRef | None,
        marks: list[Mark],
        writes: list[Callable[[], object]],
    ) -> None:
        """Queue the link (written with the group's journal) and the marks (one request per group)."""
        writes.append(
            partial(
                self.store.add_link,
                key,
                activity_id,
                item_id=m.id or None,
                folder_id=m.folder_id or None,
                subject=m.subject,
                regarding=regarding.to_spec() if regarding else None,
                regarding_name=regarding.name if regarding else None,
            )
        )
        if self.mailbox is None or not m.id:
            return
        prefix = self.settings.regarding_prefix
        categories = [
            c
            for c in m.categories
            if c != self.settings.request_category
            and not (prefix and c.startswith(prefix))
            and not (self.settings.is_regarding and self.settings.is_regarding(c))
        ]
        if self.settings.tracked_category not in categories:
            categories.append(self.settings.tracked_category)
        if tuple(categories) != m.categories or m.stamp != activity_id:
            marks.append(Mark(m.id, tuple(categories), activity_id))

    def _apply_marks(self, marks: list[Mark]) -> None:
        """A failed mark is not a failed track: the CRM record and the journal link exist."""
        if not marks or self.mailbox is None:
            return
        try:
            errors = self.mailbox.mark_many(marks)
        except BridgeError as exc:
            log.warning("tracked %d message(s) but could not mark them: %s", len(marks), exc.message)
            return
        for mark, error in zip(marks, errors, strict=False):
            if error:
                log.warning("tracked %s but could not mark the message: %s", mark.stamp, error)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** min(attempts, 6), 1800))


def parse_record_spec(spec: str) -> RecordRef:
    """``"account:<guid>"`` -> RecordRef; raises ValueError with a readable reason."""
    table, _, rid = spec.partition(":")
    table = table.strip().lower()
    if table not in r.REGARDING_TABLES:
        raise ValueError(f"Regarding must be one of {', '.join(r.REGARDING_TABLES)}, not {table!r}.")
    return RecordRef(table, r.guid(rid.strip()))
