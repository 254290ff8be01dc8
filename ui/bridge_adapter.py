"""Turns the facade's events (called on worker threads) into Qt signals on the GUI thread."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal, Slot

from addin.bridge_types import ActivityLogged, BridgeEvent, IssuesChanged, OutboxChanged, StateChanged, Status
from addin.facade import BridgeFacade


class _Relay(QObject):
    """Lives in the GUI thread for the life of the app; the core's threads emit through it.

    Listeners registered with the core hold only a number, never a Qt object: a worker
    thread must neither touch a QObject that the GUI thread may be deleting nor drop the
    last reference to one.
    """

    event = Signal(int, object)  # adapter number, BridgeEvent

    def __init__(self) -> None:
        super().__init__()
        self.event.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(int, object)
    def _deliver(self, number: int, event: object) -> None:
        ref = _adapters.get(number)
        adapter = ref() if ref is not None else None
        if adapter is not None and shiboken6.isValid(adapter):
            adapter._dispatch(event)


_relay: _Relay | None = None
_adapters: dict[int, weakref.ref[BridgeAdapter]] = {}
_numbers = itertools.count(1)


def _relay_listener(number: int) -> Callable[[BridgeEvent], None]:
    relay = _relay
    assert relay is not None
    signal = relay.event

    def listener(event: BridgeEvent) -> None:
        signal.emit(number, event)

    return listener


class BridgeAdapter(QObject):
    """Subscribes to the bridge; every signal is emitted in the thread this object lives in."""

    stateChanged = Signal(object)  # Status
    activityLogged = Signal(object)  # AuditEntry
    outboxChanged = Signal()
    issuesChanged = Signal(object)  # tuple[Issue, ...]

    def __init__(self, bridge: BridgeFacade, parent: QObject | None = None) -> None:
        global _relay
        super().__init__(parent)
        self.bridge = bridge
        self.status: Status | None = None
        if _relay is None:
            _relay = _Relay()
        self._number = next(_numbers)
        _adapters[self._number] = weakref.ref(self)
        self._unsubscribe = bridge.subscribe(_relay_listener(self._number))

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
        _adapters.pop(self._number, None)
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
