"""The local channel between ``crm-bridge native-host`` and the bridge that is running for the
same profile (the tray or ``crm-bridge run``): one JSON request, one JSON reply per connection.

Why not the tray's single-instance socket: that one is a one-way "come forward" line owned by
the Qt layer, and the host must stay Qt-free and get answers.  This channel is served by the
core facade itself, so every running bridge answers it, with or without a tray.

Who may connect: on Linux and macOS a Unix socket in a folder only the user can open (checked:
owned by the user, no access for group or others); on Windows a named pipe, whose default
security lets other users read but not write.  Only JSON crosses it (never pickle), and every
request is validated again on the serving side.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from addin.errors import ConfigError
from addin.native.framing import MAX_REQUEST

log = logging.getLogger(__name__)

Handler = Callable[[Any], dict[str, Any]]
REPLY_TIMEOUT = 120.0  # a track of many messages against a slow CRM


def _private_dir() -> Path:
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    folder = base / f"crm-bridge-{os.getuid()}"  # type: ignore[attr-defined,unused-ignore]
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:  # type: ignore[attr-defined,unused-ignore]
        raise ConfigError(
            f"{folder} is not private to this user; the bridge will not use it for its channel.",
            title="Unsafe folder",
        )
    return folder


def address(data_dir: Path) -> tuple[str, str]:
    """(family, address) of the channel of the bridge keeping its journal in ``data_dir``."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    if os.name == "nt":
        return "AF_PIPE", rf"\\.\pipe\crm-bridge-{digest}"
    # A short path: Unix socket paths are limited to about 100 bytes.
    return "AF_UNIX", str(_private_dir() / f"{digest}.sock")


def call(data_dir: Path, request: Any, *, timeout: float = REPLY_TIMEOUT) -> dict[str, Any] | None:
    """The running bridge's reply, or None when no bridge serves this profile."""
    family, addr = address(data_dir)
    try:
        conn = Client(addr, family=family)
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    except OSError as exc:
        log.info("no running bridge reachable at %s: %s", addr, exc)
        return None
    with conn:
        conn.send_bytes(json.dumps(request).encode("utf-8"))
        if not conn.poll(timeout):
            raise TimeoutError("the running bridge did not answer in time")
        reply = json.loads(conn.recv_bytes(MAX_REQUEST).decode("utf-8"))
    return reply if isinstance(reply, dict) else None


class ChannelServer:
    """Serves requests in threads until :meth:`stop`."""

    def __init__(self, data_dir: Path, handler: Handler) -> None:
        self.data_dir = data_dir
        self.handler = handler
        self._listener: Listener | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        family, addr = address(self.data_dir)
        if family == "AF_UNIX" and os.path.exists(addr):
            if call(self.data_dir, {"action": "ping"}, timeout=2.0) is not None:
                raise ConfigError(
                    "Another bridge already serves this profile's channel.", title="Already running"
                )
            os.unlink(addr)  # left behind by a bridge that did not stop cleanly
        self._listener = Listener(addr, family=family)
        if family == "AF_UNIX":
            os.chmod(addr, 0o600)
        self._thread = threading.Thread(target=self._accept, name="crm-bridge-channel", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn = self._listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                log.warning("channel accept failed", exc_info=True)
                continue
            if self._stopping.is_set():
                conn.close()
                return
            threading.Thread(
                target=self._serve, args=(conn,), name="crm-bridge-channel-req", daemon=True
            ).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            try:
                request = json.loads(conn.recv_bytes(MAX_REQUEST).decode("utf-8"))
                reply = self.handler(request)
                conn.send_bytes(json.dumps(reply).encode("utf-8"))
            except (EOFError, OSError, ValueError) as exc:
                log.info("channel request dropped: %s", exc)
            except Exception:  # a bug in one request must not stop the channel
                log.exception("channel request failed")
                with contextlib.suppress(OSError):
                    conn.send_bytes(
                        json.dumps(
                            {
                                "ok": False,
                                "error": {"title": "Internal error", "message": "See the bridge's log."},
                            }
                        ).encode("utf-8")
                    )

    def stop(self) -> None:
        if self._listener is None:
            return
        self._stopping.set()
        family, addr = address(self.data_dir)
        # accept() blocks; a last connection wakes it so the thread ends.
        with contextlib.suppress(OSError):
            Client(addr, family=family).close()
        self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._listener = None
