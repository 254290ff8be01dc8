"""What installers and the release feed ask of the running tray: quit on request, say an update exists."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ui import app as app_module
from ui.single_instance import SingleInstance

pytestmark = pytest.mark.ui
WAIT = 30_000


@pytest.fixture
def feed_url() -> Iterator[str]:
    body = json.dumps({"version": "99.0.0", "url": "https://example.org/crm-bridge/99.0.0"}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.json"
    server.shutdown()
    server.server_close()


def test_a_newer_release_is_announced_once_at_start(qtbot: Any, demo: Any, feed_url: str) -> None:
    running = app_module.TrayApp(demo.bridge, owns_bridge=False)
    notes: list[Any] = []
    running.tray.notified.connect(notes.append)
    running.check_for_update(feed_url)
    qtbot.waitUntil(lambda: bool(notes), timeout=WAIT)
    assert notes[0].title == "Update available" and "99.0.0" in notes[0].message
    running.check_for_update("")  # no feed set: nothing asked, nothing shown
    qtbot.wait(100)
    assert len(notes) == 1
    running.tray.close()


def test_quit_message_ends_the_event_loop(qtbot: Any, demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"crm-bridge-ui-quit-{time.monotonic_ns()}"
    running = app_module.TrayApp(demo.bridge, owns_bridge=False)
    instance = SingleInstance(name)
    assert instance.acquire()
    instance.messageReceived.connect(running.handle_message)
    quits: list[bool] = []
    # The test's own event loop must survive: record the quit the running copy asks for.
    monkeypatch.setattr(app_module.QApplication, "quit", staticmethod(lambda: quits.append(True)))
    asker = SingleInstance(name)
    assert not asker.acquire("quit")  # the running copy answered and was told to quit
    qtbot.waitUntil(lambda: bool(quits), timeout=WAIT)
    instance.release()
    running.tray.close()
    # Nobody answers any more: asking again reports that none runs.
    assert SingleInstance(name).ask_to_quit(wait_ms=500)
