"""Near-real-time pick-up for the IMAP backend: IDLE (RFC 2177) on a connection of its own.

IMAP watches one folder per connection, so the first folder (the Inbox) is watched and the
poll covers the others.  IDLE is re-issued every ten minutes (servers drop it after 30).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from addin.errors import BridgeError, MailboxError
from addin.mailbox.imap_conn import Connection
from addin.mailbox.types import MailboxSettings, SecretSource


def idle(
    settings: MailboxSettings,
    secret: SecretSource,
    folder_ids: Sequence[str],
    on_change: Callable[[], None],
    stop: threading.Event,
) -> None:
    """Block until ``stop``; call ``on_change`` when the server reports anything.  Raises
    NotImplementedError where the server has no IDLE, MailboxError when the watch breaks."""
    if not folder_ids:
        return
    watcher = Connection(settings, secret)
    try:
        client = watcher.open()
        if not watcher.has("IDLE"):
            raise NotImplementedError
        watcher.select(folder_ids[0])
        while not stop.is_set():
            client.idle()
            started = time.monotonic()
            try:
                while not stop.is_set() and time.monotonic() - started < 600:
                    if client.idle_check(timeout=5):
                        on_change()
            finally:
                client.idle_done()
    except (OSError, EOFError) as exc:
        raise MailboxError(f"Watching {watcher.server} stopped: {type(exc).__name__}") from None
    except BridgeError:
        raise
    except NotImplementedError:
        raise
    except Exception as exc:
        raise MailboxError(f"Watching {watcher.server} stopped: {exc}"[:300]) from None
    finally:
        watcher.close()
