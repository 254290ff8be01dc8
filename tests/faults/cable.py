"""A loopback TCP forwarder that a test can unplug: the server becomes unreachable for real.

Stopping an in-process sandbox leaves its kept-alive connections served; a real outage
(a server that went away, a network that dropped) refuses new connections and resets
the open ones.  ``Cable`` does exactly that between the bridge and a sandbox, so the
bridge's unmodified clients meet a real "connection refused".
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class Cable:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self._target = (host, target_port)
        self._host = host
        self.port = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.plug()

    def url(self, url: str, target_port: int) -> str:
        """``url`` (pointing at the sandbox) rewritten to go through the cable."""
        return url.replace(f":{target_port}", f":{self.port}", 1)

    def plug(self) -> None:
        listener = socket.create_server((self._host, self.port))  # SO_REUSEADDR: the same port again
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def unplug(self) -> None:
        """Refuse new connections and reset every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            doomed, self._open = self._open, set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
