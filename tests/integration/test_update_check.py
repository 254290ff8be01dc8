"""Update check against a release feed served over real HTTP on loopback; off by default."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from addin.cli import main
from addin.config import Config
from addin.errors import ConfigError, OfflineError
from addin.updates import UpdateCheckError, UpdateState, check, parse_version

pytestmark = pytest.mark.integration


class Feed:
    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b"{}"
        self.requests = 0


@pytest.fixture
def feed() -> Iterator[tuple[Feed, str]]:
    state = Feed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/latest.json"
    server.shutdown()
    server.server_close()


def test_off_by_default_asks_nothing(feed, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    state, _url = feed
    assert main(["update-check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "off"
    assert check("").state is UpdateState.OFF
    assert state.requests == 0


@pytest.mark.parametrize(
    "body",
    [
        {"version": "9.1.0", "url": "https://example.org/crm-bridge/9.1.0"},
        {"tag_name": "v9.1.0", "html_url": "https://example.org/crm-bridge/9.1.0"},
    ],
)
def test_a_newer_release_is_reported_with_where_to_get_it(feed, body, capsys) -> None:  # type: ignore[no-untyped-def]
    state, url = feed
    state.body = json.dumps(body).encode()
    cfg = Config.load()
    cfg.add_profile("default", {"general.update_feed": url})
    cfg.save()
    assert main(["update-check"]) == 0
    out = capsys.readouterr().out
    assert "CRM Bridge 9.1.0 is available" in out and "https://example.org/crm-bridge/9.1.0" in out
    assert state.requests == 1


def test_same_or_older_release_is_current(feed) -> None:  # type: ignore[no-untyped-def]
    state, url = feed
    state.body = json.dumps({"tag_name": "v0.1.0", "html_url": "https://example.org/x"}).encode()
    info = check(url, current="0.1.0")
    assert info.state is UpdateState.CURRENT and info.url == ""
    state.body = json.dumps({"version": "0.0.9"}).encode()
    assert check(url, current="0.1.0").state is UpdateState.CURRENT


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (404, b"{}", "HTTP 404"),
        (200, b"<html>", "did not send JSON"),
        (200, b'{"version": "latest"}', "no usable version"),
        (200, b'{"version": "9.0"}', "no web address"),
        (200, b"[]", "no version"),
    ],
)
def test_bad_feeds_give_a_readable_error(feed, status: int, body: bytes, match: str) -> None:  # type: ignore[no-untyped-def]
    state, url = feed
    state.status, state.body = status, body
    with pytest.raises(UpdateCheckError, match=match):
        check(url, current="0.1.0")


def test_an_unreachable_feed_is_offline_and_plain_http_elsewhere_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OfflineError):
        check(f"http://127.0.0.1:{port}/latest.json", timeout=5)
    with pytest.raises(ConfigError, match="https"):
        check("http://releases.example.org/latest.json")


def test_versions_compare_by_number() -> None:
    assert parse_version("v1.10.0") > parse_version("1.9.3")
    assert parse_version("1.2.0") == parse_version("1.2")
    assert parse_version("2.0.0rc1") == parse_version("2.0")
    with pytest.raises(ValueError):
        parse_version("nightly")
