"""Plain-text renderings of each command's answer (the JSON shapes are the values themselves)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from addin.bridge_types import (
    ActivityLogged,
    AuditEntry,
    BridgeEvent,
    IssuesChanged,
    OutboxItem,
    OutboxState,
    StateChanged,
    Status,
    TrackOutcome,
    TrackResult,
)
from addin.cli_output import local_time, pairs, plural, quoted, table, terminal_text, words
from addin.settings_schema import Kind, Setting
from addin.state import BridgeState

OUTCOME_WORDS = {
    TrackOutcome.TRACKED: "Tracked",
    TrackOutcome.ALREADY_TRACKED: "Already tracked",
    TrackOutcome.QUEUED: "Waiting for the CRM",
    TrackOutcome.FAILED: "Failed",
    TrackOutcome.SKIPPED: "Skipped",
}
OUTBOX_WORDS = {
    OutboxState.QUEUED: "Waiting",
    OutboxState.SCHEDULED: "Scheduled",
    OutboxState.SENDING: "Sending",
    OutboxState.SENT: "Sent",
    OutboxState.FAILED: "Failed",
}
# What the audit log's action codes mean to a person.
ACTION_WORDS = {
    "tracked": "Tracked",
    "untracked": "Untracked",
    "regarding": "Set Regarding",
    "sent": "Sent",
    "send_failed": "Could not send",
    "skipped": "Skipped",
    "track_failed": "Could not track",
}

SETUP_COMMAND = "crm-bridge config set --activate mailbox.email=ADDRESS crm.url=https://ORG.crm.dynamics.com"


def action_words(code: str) -> str:
    return ACTION_WORDS.get(code, words(code))


# -- status ------------------------------------------------------------------------------------


def status_text(s: Status) -> str:
    state = s.state.label
    if s.detail:
        state += f" ({s.detail})"
    if s.state is BridgeState.PAUSED:
        state += f" until {local_time(s.paused_until)}" if s.paused_until else " until resumed"
    failed = f", {s.outbox_failed} failed" if s.outbox_failed else ""
    outbox = (
        f"{plural(s.outbox_queued, 'e-mail')} being sent{failed}"
        if s.outbox_queued
        else (f"nothing being sent{failed}" if s.sending_enabled else "sending is off")
    )
    waiting = plural(s.track_queue, "track request") + " waiting" if s.track_queue else "nothing waiting"
    issues = plural(s.issues, "issue") + " (see 'crm-bridge log' or the tray)" if s.issues else "none"
    return pairs(
        [
            ("Profile", s.profile),
            ("Mailbox", s.mailbox or "(not set)"),
            ("CRM", s.crm_url or "(not set)"),
            ("State", state),
            ("Last synced", local_time(s.last_synced)),
            ("Outbox", outbox),
            ("Track queue", waiting),
            ("Auto-track", "on" if s.autotrack_enabled else "off"),
            ("Issues", issues),
        ]
    )


def not_set_up_text(profile: str) -> str:
    return (
        f"No profile is set up yet (profile {profile!r} has no mailbox and CRM).\n"
        f"Next: {SETUP_COMMAND}\n"
        "then 'crm-bridge config secret mailbox' and 'crm-bridge config secret crm',\n"
        "or start 'crm-bridge' and follow the set-up wizard. Walkthrough: docs/CONNECT.md"
    )


# -- track / untrack -------------------------------------------------------------------------


def track_text(results: Sequence[TrackResult]) -> str:
    rows = []
    for r in results:
        outcome = OUTCOME_WORDS.get(r.outcome, words(r.outcome.value))
        note = "" if r.message.strip().lower() == outcome.lower() else r.message  # no "Tracked  Tracked"
        if r.warnings:
            note = "; ".join([note, *r.warnings]) if note else "; ".join(r.warnings)
        rows.append((outcome, r.subject or r.item_id, note))
    counts: dict[str, int] = {}
    for r in results:
        label = OUTCOME_WORDS.get(r.outcome, r.outcome.value).lower()
        counts[label] = counts.get(label, 0) + 1
    summary = ", ".join(f"{n} {label}" for label, n in counts.items())
    return table(("Result", "Subject", "Note"), rows) + f"\n\n{plural(len(results), 'message')}: {summary}."


def untrack_text(results: Sequence[TrackResult]) -> str:
    lines = []
    for r in results:
        subject = quoted(r.subject) if r.subject else terminal_text(r.item_id)
        if r.outcome is TrackOutcome.FAILED:
            lines.append(f"Could not untrack {subject}: {terminal_text(r.message)}")
        elif r.activity_id is None and r.message and r.message != "Untracked":
            lines.append(f"{subject}: {terminal_text(r.message)}.")  # e.g. not tracked: nothing to undo
        else:
            lines.append(f"Untracked {subject}.")
    return "\n".join(lines)


# -- outbox / log ----------------------------------------------------------------------------


def outbox_text(items: Sequence[OutboxItem], retried: str | None = None) -> str:
    head = f"Queued {retried} to be sent again.\n\n" if retried else ""
    if not items:
        return head + "The CRM outbox is empty."
    rows = [
        (
            OUTBOX_WORDS.get(i.state, words(i.state.value)),
            i.subject,
            ", ".join(i.to),
            local_time(i.send_after if i.state is OutboxState.SCHEDULED else i.updated),
            i.reason,
        )
        for i in items
    ]
    return head + table(("State", "Subject", "To", "When", "Reason"), rows)


def log_text(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return "Nothing has happened yet."
    rows = [
        (local_time(e.at), action_words(e.action) + ("" if e.ok else " (failed)"), e.subject, e.detail)
        for e in entries
    ]
    return table(("When", "What", "Subject", "Detail"), rows)


# -- config ----------------------------------------------------------------------------------


def setting_value(setting: Setting | None, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if value in ("", None):
        return "(not set)"
    if setting is not None and setting.kind is Kind.CHOICE:
        label = dict(setting.choices).get(str(value))
        return f"{value}: {label}" if label else str(value)
    return str(value)


def config_show_text(
    name: str,
    active: bool,
    values: dict[str, Any],
    by_key: dict[str, Setting],
    problems: Sequence[str] = (),
) -> str:
    rows = [(key, setting_value(by_key.get(key), values[key])) for key in by_key if key in values]
    head = f"Profile {name!r}" + (" (active)" if active else "") + ":"
    tail = "".join(f"\nProblem: {terminal_text(p)}" for p in problems)
    return head + "\n" + table(("Setting", "Value"), rows) + ("\n" + tail if tail else "")


def config_keys_text(settings: Sequence[Setting]) -> str:
    def allowed(s: Setting) -> str:
        if s.kind is Kind.CHOICE:
            return " | ".join(v for v, _ in s.choices)
        if s.kind is Kind.INT:
            return f"number {s.minimum}..{s.maximum}"
        return {
            Kind.BOOL: "yes | no",
            Kind.LIST: "a list, one item per line",
            Kind.URL: "https://… address",
            Kind.EMAIL: "an e-mail address",
            Kind.TEXT: "text",
        }.get(s.kind, s.kind.value)

    return table(("Key", "What", "Values"), [(s.key, s.label, allowed(s)) for s in settings])


# -- run ---------------------------------------------------------------------------------------


@dataclass
class RunPrinter:
    """``crm-bridge run``'s console: one line per state change and per action, never a repr.

    Actions between two state lines are counted into the next "Up to date" line, e.g.
    ``12:04 Up to date · 2 tracked · outbox empty``.
    """

    last_state: BridgeState | None = None
    counts: dict[str, int] = field(default_factory=dict)
    known_issues: set[str] = field(default_factory=set)

    def line(self, event: BridgeEvent, now: datetime | None = None) -> str | None:
        at = local_time(now or datetime.now().astimezone())
        if isinstance(event, StateChanged):
            return self._state(event.status, at)
        if isinstance(event, ActivityLogged):
            e = event.entry
            self.counts[e.action] = self.counts.get(e.action, 0) + 1
            detail = f": {terminal_text(e.detail)}" if e.detail and not e.ok else ""
            return f"{at} {action_words(e.action)} {quoted(e.subject)}{detail}"
        if isinstance(event, IssuesChanged):
            fresh = [i for i in event.issues if i.key not in self.known_issues]
            self.known_issues = {i.key for i in event.issues}
            if not fresh:
                return None
            return "\n".join(
                f"{at} Needs attention: {terminal_text(i.title)}: {terminal_text(i.message)}" for i in fresh
            )
        return None  # OutboxChanged: the action lines already say what happened

    def _state(self, s: Status, at: str) -> str | None:
        if s.state is self.last_state and s.state is not BridgeState.IDLE:
            return None
        self.last_state = s.state
        if s.state is BridgeState.SYNCING:
            return None  # every poll syncs; the line that matters is the one after it
        parts = [s.state.label + (f" ({terminal_text(s.detail)})" if s.detail else "")]
        if s.state is BridgeState.IDLE:
            if not self.counts and s.outbox_queued == 0 and s.track_queue == 0:
                return None  # a quiet poll: nothing to say
            parts += [f"{n} {action_words(a).lower()}" for a, n in self.counts.items()]
            parts.append(
                f"outbox: {plural(s.outbox_queued, 'e-mail')} being sent"
                if s.outbox_queued
                else "outbox empty"
            )
            if s.track_queue:
                parts.append(plural(s.track_queue, "track request") + " waiting")
            self.counts.clear()
        return f"{at} " + " · ".join(parts)


def event_document(event: BridgeEvent) -> dict[str, Any]:
    """One JSON line per event for ``crm-bridge run --json``."""
    from addin.cli_output import to_plain

    if isinstance(event, StateChanged):
        return {"type": "state_changed", **to_plain(event.status)}
    if isinstance(event, ActivityLogged):
        return {"type": "activity_logged", **to_plain(event.entry)}
    if isinstance(event, IssuesChanged):
        return {"type": "issues_changed", "issues": to_plain(list(event.issues))}
    return {"type": "outbox_changed"}


# -- demo ------------------------------------------------------------------------------------

DEMO_REPORT_LABELS = (
    ("tracked_selected", "Tracked from the Track window"),
    ("retrack_already_tracked", "Tracked again, found already tracked"),
    ("tracked_by_category", "Tracked by the “Track in CRM” category"),
    ("tracked_automatically", "Tracked automatically on arrival"),
    ("private_tracked", "Private messages tracked"),
    ("sent", "CRM e-mails sent through the mailbox"),
    ("sent_items_copies", "Copies in Sent Items"),
    ("reply_correlated", "Reply linked to the same record"),
    ("duplicates", "Duplicates"),
    ("lost", "Lost"),
    ("crm_requests", "Requests to the CRM"),
    ("ews_requests", "Requests to the mailbox"),
    ("seconds", "Seconds"),
)


def demo_report_text(report: dict[str, Any]) -> str:
    rows = [
        (label, setting_value(None, report[key]) if isinstance(report[key], bool) else report[key])
        for key, label in DEMO_REPORT_LABELS
        if key in report
    ]
    verdict = (
        "Both flows worked: everything arrived exactly once."
        if report.get("ok")
        else "Something did not add up: see the counts above."
    )
    return pairs(rows) + "\n\n" + verdict
