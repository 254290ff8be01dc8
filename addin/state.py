"""The bridge's state as an explicit enum; the UI reacts to change events, never to log text."""

from __future__ import annotations

from enum import StrEnum


class BridgeState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    SYNCING = "syncing"
    PAUSED = "paused"
    OFFLINE = "offline"
    CREDENTIALS_NEEDED = "credentials_needed"
    ERROR = "error"
    # Only in a status read from outside: no engine runs for the profile on this computer.
    NOT_RUNNING = "not_running"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def needs_attention(self) -> bool:
        return self in (BridgeState.CREDENTIALS_NEEDED, BridgeState.ERROR)


_LABELS = {
    BridgeState.STARTING: "Starting",
    BridgeState.IDLE: "Up to date",
    BridgeState.SYNCING: "Syncing",
    BridgeState.PAUSED: "Paused",
    BridgeState.OFFLINE: "Offline",
    BridgeState.CREDENTIALS_NEEDED: "Sign-in needed",
    BridgeState.ERROR: "Needs attention",
    BridgeState.NOT_RUNNING: "Not running",
}
