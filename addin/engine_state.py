"""The running engine's state, published in the journal for other processes of the same user.

``crm-bridge status`` runs in its own process; the engine (the tray or ``crm-bridge run``)
writes its state to the journal on every change, and holds the profile's engine lock while
it runs.  A reader that can take the lock knows no engine runs; otherwise it shows what
the engine last published.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from filelock import FileLock, Timeout

from addin.bridge_types import Status
from addin.engine.scheduler import Scheduler
from addin.state import BridgeState
from addin.store import Store

ENGINE_STATE_KEY = "engine_state"
NOT_RUNNING_DETAIL = "CRM Bridge is not running for this profile; start the tray app or 'crm-bridge run'."


def publish(store: Store, scheduler: Scheduler) -> None:
    store.put(
        ENGINE_STATE_KEY,
        {
            "state": scheduler.state.value,
            "detail": scheduler.detail,
            "last_synced": scheduler.last_synced.isoformat() if scheduler.last_synced else None,
            "paused_until": scheduler.paused_until.isoformat() if scheduler.paused_until else None,
        },
    )


def withdraw(store: Store) -> None:
    """The engine stopped: nothing published any more."""
    store.put(ENGINE_STATE_KEY, None)


def read(status: Status, store: Store, engine_lock: FileLock) -> Status:
    """``status`` (counts from the journal) with the state of the engine running elsewhere, or
    NOT_RUNNING when none is."""
    try:
        engine_lock.acquire(timeout=0)
    except Timeout:
        published: dict[str, Any] = store.get(ENGINE_STATE_KEY) or {}
        try:
            state = BridgeState(published.get("state", BridgeState.STARTING.value))
        except ValueError:
            state = BridgeState.STARTING
        return replace(
            status,
            state=state,
            detail=str(published.get("detail") or ""),
            last_synced=_when(published.get("last_synced")),
            paused_until=_when(published.get("paused_until")),
        )
    engine_lock.release()
    return replace(status, state=BridgeState.NOT_RUNNING, detail=NOT_RUNNING_DETAIL)


def _when(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
