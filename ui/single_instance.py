"""One tray per user: a second launch asks the running one to come forward, then exits."""

from __future__ import annotations

import getpass
import hashlib
import os

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket


def default_name(profile: str = "") -> str:
    """A per-user (and per data folder) name; a named pipe on Windows, a socket elsewhere."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getpid())
    # CRM_BRIDGE_HOME separates test runs and portable installs from the user's real copy.
    scope = os.environ.get("CRM_BRIDGE_HOME", "") + "|" + profile
    digest = hashlib.sha256(f"{user}|{scope}".encode()).hexdigest()[:16]
    return f"crm-bridge-{digest}"


class SingleInstance(QObject):
    """Call :meth:`acquire`; False means another copy runs and was told ``message``."""

    messageReceived = Signal(str)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or default_name()
        self._server: QLocalServer | None = None

    def acquire(self, message: str = "show") -> bool:
        if self._send(message):
            return False
        # Nobody answered: a stale socket from a crashed copy may still be there.
        QLocalServer.removeServer(self.name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # Lost a race with a copy started at the same moment: it owns the name now.
            return not self._send(message)
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def ask_to_quit(self, wait_ms: int = 10000) -> bool:
        """Tell a running copy to quit (installers do this before an upgrade).

        True once no copy answers any more (or none ran), False if one still runs after
        ``wait_ms``; the channel closes only as the copy's event loop ends.
        """
        if not self._send("quit"):
            return True
        socket = QLocalSocket()
        for _ in range(max(1, wait_ms // 100)):
            socket.connectToServer(self.name)
            if not socket.waitForConnected(100):
                return True
            socket.disconnectFromServer()
            QThread.msleep(100)
        return False

    def _send(self, message: str) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(500):
            return False
        socket.write((message + "\n").encode())
        socket.waitForBytesWritten(500)
        socket.disconnectFromServer()
        return True

    def _on_connection(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            conn = self._server.nextPendingConnection()
            if conn is None:
                break
            conn.readyRead.connect(lambda c=conn: self._read(c))
            conn.disconnected.connect(conn.deleteLater)
            self._read(conn)  # the line may have arrived before readyRead was connected

    def _read(self, conn: QLocalSocket) -> None:
        while conn.canReadLine():
            text = bytes(conn.readLine().data()).decode(errors="replace").strip()
            if text:
                self.messageReceived.emit(text)

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
