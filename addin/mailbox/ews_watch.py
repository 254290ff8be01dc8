"""EWS streaming notifications: learn of changes within seconds instead of at the next poll."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from exchangelib import Account, FolderCollection
from exchangelib.errors import ErrorInvalidSubscription, ErrorSubscriptionNotFound
from exchangelib.properties import StatusEvent

from addin.errors import OfflineError

Runner = Callable[[Callable[[Account], Any]], Any]

CONNECTION_MINUTES = 1  # one GetStreamingEvents connection at a time, a minute long


class Heard(Enum):
    CHANGE = "change"  # an event other than a keep-alive
    QUIET = "quiet"  # the connection timed out (ConnectionStatus Closed) with nothing to report
    EXPIRED = "expired"  # the server no longer knows the subscription


def stream_changes(
    run: Runner,
    folder_for: Callable[[Account, str], Any],
    folder_ids: Sequence[str],
    on_change: Callable[[], None],
    stop: threading.Event,
) -> None:
    """Hold one streaming request a minute at a time; call ``on_change`` when the server
    reports anything but a keep-alive.  ``run`` is the backend's error-converting runner, so
    failures arrive as BridgeErrors and the caller decides when to watch again.

    A subscription outlives its connections: events that happen between two GetStreamingEvents
    calls arrive on the next one.  A subscription the server has forgotten (its timeout, a
    restart: ErrorInvalidSubscription / ErrorSubscriptionNotFound) is replaced at once, and a
    broken connection is reopened once at once; both call ``on_change``, since events may have
    been lost with them, and the sync it runs catches up."""

    def subscribe(account: Account) -> tuple[Any, Any, str]:
        watched = [folder_for(account, f) for f in folder_ids]
        folders = FolderCollection(account=account, folders=watched)
        return folders, watched[0], str(folders.subscribe_to_streaming())

    folders, first, subscription = run(subscribe)

    def listen(account: Account) -> Heard:
        # GetStreamingEvents serves the whole subscription; exchangelib offers it on a folder.
        try:
            for note in first.get_streaming_events(subscription, connection_timeout=CONNECTION_MINUTES):
                if any(not isinstance(event, StatusEvent) for event in note.events):
                    return Heard.CHANGE
                if stop.is_set():
                    break
        except (ErrorInvalidSubscription, ErrorSubscriptionNotFound):
            return Heard.EXPIRED
        return Heard.QUIET

    reconnected = False
    try:
        while not stop.is_set():
            try:
                heard = run(listen)
            except OfflineError:
                if reconnected:
                    raise  # broken twice in a row: the server is away, the caller waits
                reconnected = True
                on_change()
                continue
            reconnected = False
            if heard is Heard.EXPIRED:
                folders, first, subscription = run(subscribe)
                on_change()
            elif heard is Heard.CHANGE and not stop.is_set():
                on_change()
    finally:
        with contextlib.suppress(Exception):
            folders.unsubscribe(subscription)
