"""Desktop notifications: levels, snooze, de-duplication and summaries instead of floods.

Failures come from two sources: new issues (sticky until resolved, also listed in the
tray menu) and failed audit entries.  Everything that arrives within ``window_ms`` is
shown as one notification ("3 e-mails could not be tracked"), and an issue is announced
once per streak: only when its key appears, not again while it stays open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from PySide6.QtCore import QObject, QTimer, Signal

from addin.bridge_types import AuditEntry, Issue
from addin.states import IssueAction

LEVELS = ("all", "errors", "none")


@dataclass(frozen=True)
class Note:
    title: str
    message: str
    error: bool
    action: IssueAction | None = None  # what clicking the notification does
    target: str | None = None


_FAILED_ACTIONS = {
    "send_failed": ("e-mail could not be sent", "e-mails could not be sent"),
    "track_failed": ("message could not be tracked", "messages could not be tracked"),
}


class Notifier(QObject):
    """Collects notes and emits ``show`` at most once per coalescing window."""

    show = Signal(object)  # Note

    def __init__(
        self,
        level: str = "errors",
        window_ms: int = 3000,
        now: Callable[[], datetime] = datetime.now,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.level = level if level in LEVELS else "errors"
        self.snoozed_until: datetime | None = None
        self._now = now
        self._known_issues: set[str] = set()
        # Targets already announced through the audit log, so the matching issue is not repeated.
        self._announced: dict[str, None] = {}
        self._pending: list[Note] = []
        self._pending_failed: dict[str, int] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(window_ms)
        self._timer.timeout.connect(self.flush)

    # -- policy ---------------------------------------------------------------------
    def snooze(self, minutes: int | None) -> None:
        """Silence notifications for ``minutes``; ``None`` turns them back on."""
        self.snoozed_until = None if minutes is None else self._now() + timedelta(minutes=minutes)

    @property
    def snoozed(self) -> bool:
        if self.snoozed_until is None:
            return False
        if self._now() >= self.snoozed_until:
            self.snoozed_until = None
            return False
        return True

    def _wants(self, error: bool) -> bool:
        if self.level == "none" or self.snoozed:
            return False
        return error or self.level == "all"

    # -- inputs ---------------------------------------------------------------------
    def issues_changed(self, issues: tuple[Issue, ...]) -> None:
        keys = {i.key for i in issues}
        fresh = [i for i in issues if i.key not in self._known_issues]
        # Forget resolved issues, so a new streak of the same problem is announced again.
        self._known_issues = keys
        for issue in fresh:
            if issue.target is not None and issue.target in self._announced:
                continue
            self._add(Note(issue.title, issue.message, True, issue.action, issue.target))

    def activity_logged(self, entry: AuditEntry) -> None:
        if entry.action in _FAILED_ACTIONS and not entry.ok:
            if entry.activity_id:
                self._announced[entry.activity_id] = None
                while len(self._announced) > 500:
                    self._announced.pop(next(iter(self._announced)))
            if self._wants(True):
                self._pending_failed[entry.action] = self._pending_failed.get(entry.action, 0) + 1
                self._pending.append(
                    Note(
                        entry.subject or "(no subject)",
                        entry.detail,
                        True,
                        IssueAction.RETRY_OUTBOX
                        if entry.action == "send_failed"
                        else IssueAction.OPEN_ACTIVITY,
                        entry.activity_id,
                    )
                )
                self._timer.start()
            return
        if entry.ok and entry.action in ("tracked", "sent"):
            verb = "Tracked" if entry.action == "tracked" else "Sent"
            self._add(Note(f"{verb}: {entry.subject or '(no subject)'}", entry.detail, False))

    def _add(self, note: Note) -> None:
        if not self._wants(note.error):
            return
        self._pending.append(note)
        if not self._timer.isActive():
            self._timer.start()

    # -- output ---------------------------------------------------------------------
    def flush(self) -> None:
        notes, self._pending = self._pending, []
        counts, self._pending_failed = self._pending_failed, {}
        self._timer.stop()
        if not notes or not self._wants(any(n.error for n in notes)):
            return
        if len(notes) == 1:
            self.show.emit(notes[0])
            return
        errors = [n for n in notes if n.error]
        if errors:
            parts = []
            for action, n in counts.items():
                one, many = _FAILED_ACTIONS[action]
                parts.append(f"{n} {one if n == 1 else many}")
            other = len(errors) - sum(counts.values())
            if other:
                parts.append(f"{other} other problem{'s' if other > 1 else ''}")
            first = errors[0]
            action = (
                first.action if all(e.action == first.action for e in errors) else IssueAction.OPEN_ISSUES
            )
            self.show.emit(Note("CRM Bridge needs attention", "; ".join(parts) + ".", True, action, None))
        else:
            titles = ", ".join(n.title for n in notes[:3])
            more = f" and {len(notes) - 3} more" if len(notes) > 3 else ""
            self.show.emit(Note(f"{len(notes)} updates", titles + more, False))
