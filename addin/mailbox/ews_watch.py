"""EWS streaming notifications: learn of changes within seconds instead of at the next poll."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from exchangelib import Account, FolderCollection
from exchangelib.properties import StatusEvent

Runner = Callable[[Callable[[Account], Any]], Any]


def stream_changes(
    run: Runner,
    folder_for: Callable[[Account, str], Any],
    folder_ids: Sequence[str],
    on_change: Callable[[], None],
    stop: threading.Event,
) -> None:
    """Hold one streaming request a minute at a time; call ``on_change`` when the server
    reports anything but a keep-alive.  ``run`` is the backend's error-converting runner, so
    failures arrive as BridgeErrors and the caller decides when to watch again."""

    def subscribe(account: Account) -> tuple[Any, Any, str]:
        watched = [folder_for(account, f) for f in folder_ids]
        folders = FolderCollection(account=account, folders=watched)
        return folders, watched[0], str(folders.subscribe_to_streaming())

    folders, first, subscription = run(subscribe)

    def listen(account: Account) -> bool:
        # GetStreamingEvents serves the whole subscription; exchangelib offers it on a folder.
        for note in first.get_streaming_events(subscription, connection_timeout=1):
            if any(not isinstance(event, StatusEvent) for event in note.events):
                return True
            if stop.is_set():
                break
        return False

    try:
        while not stop.is_set():
            if run(listen) and not stop.is_set():
                on_change()
    finally:
        with contextlib.suppress(Exception):
            folders.unsubscribe(subscription)
