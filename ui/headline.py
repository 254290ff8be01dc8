"""The one summary of the bridge's state that the tray icon, its tooltip and the menu header show.

All three read :func:`headline`, so they can never disagree: an open problem outranks
"Up to date" everywhere at once ("1 e-mail not sent" with a red badge, never "Up to date"
above a warning).  No Qt here beyond the icon-state enum, so the ranking is testable alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from addin.bridge_types import Issue, Status
from addin.state import BridgeState
from ui.common import when
from ui.icons import IconState, icon_state


@dataclass(frozen=True)
class Headline:
    text: str  # "1 e-mail not sent", "Sign-in needed", "Offline since 10:42 — retrying", ...
    icon: IconState
    problem: bool  # something the person should look at


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _problems(issues: tuple[Issue, ...] | list[Issue]) -> str:
    unsent = sum(1 for i in issues if i.key.startswith("outbox:"))
    other = [i for i in issues if not i.key.startswith("outbox:")]
    parts = []
    if unsent:
        parts.append(plural(unsent, "e-mail") + " not sent")
    if len(other) == 1:
        parts.append(other[0].title)
    elif other:
        parts.append(plural(len(other), "problem"))
    return ", ".join(parts)


def headline(
    status: Status | None, issues: tuple[Issue, ...] | list[Issue] = (), offline_since: datetime | None = None
) -> Headline:
    """Rank: sign-in needed, error, offline, open problems, paused, syncing, up to date."""
    if status is None:
        return Headline("Starting…", IconState.SYNCING, False)
    state = status.state
    problems = _problems(issues)
    icon = icon_state(state, len(issues))
    if state is BridgeState.CREDENTIALS_NEEDED:
        return Headline("Sign-in needed", icon, True)
    if state is BridgeState.ERROR:
        return Headline("Needs attention", icon, True)
    if state is BridgeState.OFFLINE:
        since = offline_since or status.last_synced
        text = f"Offline since {when(since)} — retrying" if since else "Offline — retrying"
        return Headline(text, icon, True)
    if problems:
        return Headline(problems, icon, True)
    if state is BridgeState.PAUSED:
        until = f"until {when(status.paused_until)}" if status.paused_until else "until resumed"
        return Headline(f"Paused {until}", icon, False)
    if state in (BridgeState.SYNCING, BridgeState.STARTING):
        return Headline(f"{state.label}…", icon, False)
    return Headline("Up to date", icon, False)


def synced_line(status: Status | None) -> str:
    if status is None or status.last_synced is None:
        return "Not synced yet"
    return f"Last synced {when(status.last_synced)}"


def tooltip(
    status: Status | None, issues: tuple[Issue, ...] | list[Issue] = (), offline_since: datetime | None = None
) -> str:
    return f"CRM Bridge: {headline(status, issues, offline_since).text}\n{synced_line(status)}"


def outbox_entry(status: Status | None) -> str:
    """The menu's Outbox entry, each count once: "Outbox (1 sending, 1 not sent)…"."""
    parts = []
    if status is not None and status.outbox_queued:
        parts.append(f"{status.outbox_queued} sending")
    if status is not None and status.outbox_failed:
        parts.append(f"{status.outbox_failed} not sent")
    return f"Outbox ({', '.join(parts)})…" if parts else "Outbox…"
