"""Turns the facade's events (called on worker threads) into Qt signals on the GUI thread."""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from addin.bridge_types import ActivityLogged, BridgeEvent, IssuesChanged, OutboxChanged, StateChanged, Status


class BridgeAdapter(QObject):
    """Subscribes to the bridge; every signal is emitted in the thread this object lives in."""

    stateChanged = Signal(object)  # Status
    activityLogged = Signal(object)  # AuditEntry
    outboxChanged = Signal()
    issuesChanged = Signal(object)  # tuple[Issue, ...]

    _incoming = Signal(object)

    def __init__(self, bridge: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.status: Status | None = None
        # Queued explicitly: the listener runs on whatever thread the core uses.
        self._incoming.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = bridge.subscribe(self._listener)

    def _listener(self, event: BridgeEvent) -> None:
        # RuntimeError: the adapter was deleted while the core was still running.
        with contextlib.suppress(RuntimeError):
            self._incoming.emit(event)

    @Slot(object)
    def _dispatch(self, event: object) -> None:
        if isinstance(event, StateChanged):
            self.status = event.status
            self.stateChanged.emit(event.status)
        elif isinstance(event, ActivityLogged):
            self.activityLogged.emit(event.entry)
        elif isinstance(event, OutboxChanged):
            self.outboxChanged.emit()
        elif isinstance(event, IssuesChanged):
            self.issuesChanged.emit(tuple(event.issues))

    def close(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
