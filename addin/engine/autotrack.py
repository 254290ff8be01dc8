"""Auto-track: the triggers that work from any mail client, and the user's CRM rule.

Triggers, in order: the "Track in CRM" category (an explicit choice: always honoured),
a configured tracked folder (optionally with a Regarding), then — only when the CRM
mailbox says this app handles incoming mail — the user's ``incomingemailfilteringmethod``.
Privacy by default: Private/Personal mail, the never-track list and internal-only mail
are never auto-tracked.  The first sync of a folder starts from now: nothing old is
tracked retroactively.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from addin.bridge_types import RecordRef, TrackResult
from addin.crm.mail_methods import DeliveryMethod, FilteringMethod
from addin.crm.port import CrmPort, TrackedEmail, UserContext
from addin.engine.regarding_categories import RegardingCategories
from addin.engine.tracker import Accept, Tracker
from addin.mailbox.port import Mailbox
from addin.mailbox.types import ChangeKind, Folder, FolderKind, Message, MessageSummary, Sensitivity
from addin.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutoTrackSettings:
    enabled: bool = True
    request_category: str = "Track in CRM"
    tracked_category: str = "Tracked in CRM"
    tracked_folders: dict[str, RecordRef | None] = field(default_factory=dict)  # folder path -> regarding
    never_track: tuple[str, ...] = ()
    skip_internal: bool = True
    user_email: str = ""


@dataclass(frozen=True)
class Watch:
    folder: Folder
    reason: str  # "inbox", "sent", "folder"
    regarding: RecordRef | None = None


class AutoTrack:
    def __init__(
        self,
        mailbox: Mailbox,
        tracker: Tracker,
        crm: CrmPort,
        store: Store,
        settings: AutoTrackSettings,
        regarding_categories: RegardingCategories | None = None,
    ) -> None:
        self.regarding_categories = regarding_categories
        self.mailbox = mailbox
        self.tracker = tracker
        self.crm = crm
        self.store = store
        self.settings = settings
        self._watches: list[Watch] | None = None

    def watches(self) -> list[Watch]:
        if self._watches is None:
            watches = [
                Watch(self.mailbox.folder(FolderKind.INBOX), "inbox"),
                Watch(self.mailbox.folder(FolderKind.SENT), "sent"),
            ]
            if self.settings.tracked_folders:
                folders = self.mailbox.list_folders()  # one listing serves both look-ups
                by_path = {f.path.strip("/").lower(): f for f in folders}
                by_name = {f.name.lower(): f for f in folders}
                for path, regarding in self.settings.tracked_folders.items():
                    key = path.strip("/").lower()
                    folder = by_path.get(key) or by_name.get(key)
                    if folder is None:
                        log.warning("tracked folder %r not found in the mailbox", path)
                        continue
                    watches.append(Watch(folder, "folder", regarding))
            self._watches = watches
        return self._watches

    def run_once(self) -> list[TrackResult]:
        ctx = self.crm.context()
        results: list[TrackResult] = []
        watches = self.watches()
        # The first page of every watched folder in one go (Graph: one $batch request);
        # folders with more changes page on one by one.
        first = self.mailbox.sync_many({w.folder.id: self.store.get_sync_state(w.folder.id) for w in watches})
        for watch in watches:
            state = self.store.get_sync_state(watch.folder.id)
            ready = first.pop(watch.folder.id, None)  # a folder watched twice reads anew the second time
            while True:
                page = ready or self.mailbox.sync(watch.folder.id, state)
                ready = None
                summaries = [
                    (c.kind, c.summary)
                    for c in page.changes
                    if c.kind in (ChangeKind.CREATED, ChangeKind.UPDATED) and c.summary is not None
                ]
                if state is not None:  # the first round only establishes "now"
                    results += self._handle(watch, summaries, ctx)
                # Persist only after handling: a crash replays the round, and tracking is idempotent.
                self.store.set_sync_state(watch.folder.id, page.sync_state)
                state = page.sync_state
                if not page.more:
                    break
        return results

    def _handle(
        self, watch: Watch, summaries: Sequence[tuple[ChangeKind, MessageSummary]], ctx: UserContext
    ) -> list[TrackResult]:
        explicit: dict[str | None, list[str]] = {}
        chosen: dict[str, RecordRef] = {}  # spec -> Regarding asked for by a category
        automatic: list[str] = []
        for kind, s in summaries:
            asked = self.regarding_categories.resolve(s.categories) if self.regarding_categories else None
            if asked is not None:
                # A Regarding category is an explicit choice even on a tracked message: the
                # tracker then sets that Regarding and swaps the category for "Tracked in CRM".
                chosen[asked.to_spec()] = asked
                explicit.setdefault(asked.to_spec(), []).append(s.id)
                continue
            if s.stamp or self.settings.tracked_category in s.categories or self.store.link_by_item(s.id):
                continue
            if self.settings.request_category in s.categories:
                explicit.setdefault(None, []).append(s.id)
            elif kind is not ChangeKind.CREATED:
                # Only arrival (new mail, or a move into a tracked folder) triggers the folder and
                # CRM rules: a message the user untracked must not come back on its next change.
                continue
            elif watch.reason == "folder":
                explicit.setdefault(watch.regarding.to_spec() if watch.regarding else None, []).append(s.id)
            elif self._auto_candidate(s, ctx):
                automatic.append(s.id)
        results: list[TrackResult] = []
        for spec, ids in explicit.items():
            regarding = chosen.get(spec) or watch.regarding if spec else None
            reason = "folder" if watch.reason == "folder" and spec not in (None, *chosen) else "category"
            results += self.tracker.track_items(ids, regarding, reason=reason)
        if automatic:
            results += self.tracker.track_items(automatic, None, reason="auto", accept=self._accept(ctx))
        return results

    def _auto_candidate(self, s: MessageSummary, ctx: UserContext) -> bool:
        if (
            not self.settings.enabled
            or ctx.incoming_method != DeliveryMethod.THIS_APP
            or ctx.filtering_method == FilteringMethod.NO_MAIL
        ):
            return False
        if s.sensitivity in (Sensitivity.PRIVATE, Sensitivity.PERSONAL, Sensitivity.CONFIDENTIAL):
            return False
        return not (s.sender and self._never(s.sender.email))

    def _never(self, address: str) -> bool:
        address = address.lower()
        domain = "@" + address.rpartition("@")[2]
        return any(entry.lower() in (address, domain, domain[1:]) for entry in self.settings.never_track)

    def _accept(self, ctx: UserContext) -> Accept:
        """The per-message rule, applied once the look-ups (parties, correlation) are known."""
        me = (self.settings.user_email or ctx.email).lower()
        colleagues = set(ctx.colleague_domains)

        def accept(
            m: Message, tracked: dict[str, TrackedEmail], resolved: dict[str, list[RecordRef]]
        ) -> str | None:
            if m.sensitivity in (Sensitivity.PRIVATE, Sensitivity.PERSONAL, Sensitivity.CONFIDENTIAL):
                return "private message"
            parties = [a.email.lower() for a in (m.sender, *m.to, *m.cc) if a is not None]
            if any(self._never(p) for p in parties):
                return "on the never-track list"
            if (
                self.settings.skip_internal
                and parties
                and all(p.rpartition("@")[2] in colleagues for p in parties)
            ):
                return "internal mail"
            outgoing = bool(m.sender and m.sender.email.lower() == me)
            others = (
                [p for p in parties if p != me] if outgoing else [m.sender.email.lower()] if m.sender else []
            )
            method = ctx.filtering_method
            if method == FilteringMethod.ALL_MAIL:
                return None
            if method == FilteringMethod.RESPONSES:
                chain = [m.in_reply_to, *m.references]
                return (
                    None
                    if any(c and f"<{c.strip('<>')}>" in tracked for c in chain)
                    else "not a reply to CRM mail"
                )
            wanted = (
                {"contact", "lead", "account"}
                if method == FilteringMethod.FROM_CONTACTS
                else {"contact", "lead", "account", "systemuser", "queue"}
            )
            for p in others:
                if any(ref.table in wanted for ref in resolved.get(p, [])):
                    return None
            return "no CRM record for the sender" if not outgoing else "no CRM record among the recipients"

        return accept
