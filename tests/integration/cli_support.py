"""What the CLI output tests share: running a command in-process and checking its output."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from typing import Any

import pytest

from addin.cli import main

# What plain output must never show a person: Python reprs, enum members, exception class names.
INTERNALS = re.compile(r"BridgeState\.|StateChanged\(|Status\(|<\w+\.\w+: |\w+Error\b|Traceback|None\b")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def plain_ok(text: str) -> str:
    assert text.strip(), "no output"
    assert not INTERNALS.search(text), text
    return text


def json_error(out: str, code_name: str) -> dict[str, str]:
    document = json.loads(out)
    assert set(document) == {"error"} and set(document["error"]) == {"title", "message", "code"}
    assert document["error"]["code"] == code_name, document
    assert document["error"]["title"] and document["error"]["message"]
    return dict(document["error"])


def run_until(capsys: pytest.CaptureFixture[str], argv: list[str], done: Any) -> tuple[int, str]:
    """``crm-bridge run`` in this process (so it sees the test keyring) until ``done()`` holds.

    A helper thread waits for the condition, then sends SIGTERM, which ``run`` handles as a
    clean stop; ``bridge.stop()`` joins the engine, so every line is printed before it returns.
    """
    previous = signal.getsignal(signal.SIGTERM)
    stop_waiting = threading.Event()

    def watch() -> None:
        while not stop_waiting.is_set() and not done():
            stop_waiting.wait(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        code = main(argv)
    finally:
        stop_waiting.set()
        watcher.join()
        signal.signal(signal.SIGTERM, previous)
    return code, capsys.readouterr().out
