"""``crm-bridge native-host``: the program Thunderbird starts for the "Track in CRM" add-on.

Thunderbird runs it with the host manifest's path and the add-on's id as arguments, writes
framed requests to its stdin and reads framed replies from its stdout (``framing``); it stops
the host by closing stdin.  Each request is validated (``protocol``), then answered by the
bridge running for the active profile through its local channel, or — when none runs — by
the facade opened here, headless.  Nothing but replies is written to stdout; problems are
replies with a title and a message, details go to the log file, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from addin.errors import BridgeError
from addin.native import actions
from addin.native.framing import MAX_REPLY, FrameError, encode_frame, read_frame, write_frame
from addin.native.protocol import RequestError, error_reply, parse_request

if TYPE_CHECKING:
    from addin.bridge import Bridge

log = logging.getLogger(__name__)

# Asks the running bridge; None when no bridge runs for the profile.
Forward = Callable[[Any], "dict[str, Any] | None"]


class Host:
    def __init__(self, forward: Forward, open_bridge: Callable[[], Bridge]) -> None:
        self.forward = forward
        self.open_bridge = open_bridge
        self._bridge: Bridge | None = None

    def _headless(self) -> Bridge:
        if self._bridge is None:
            self._bridge = self.open_bridge()
        return self._bridge

    def answer(self, value: Any) -> dict[str, Any]:
        rid = value.get("id") if isinstance(value, dict) else None
        try:
            req = parse_request(value)
        except RequestError as exc:
            return error_reply(rid if isinstance(rid, str | int) else None, exc)
        try:
            reply = self.forward(value) if self._bridge is None else None
            if reply is None:
                reply = actions.handle(self._headless(), req, "headless")
        except BridgeError as exc:
            return error_reply(req.id, exc)
        except TimeoutError:
            return error_reply(
                req.id, BridgeError("The running bridge did not answer in time.", title="Bridge busy")
            )
        return reply

    def serve(self, stdin: BinaryIO, stdout: BinaryIO) -> int:
        """Answer until stdin closes (0) or a frame puts the stream out of step (1)."""
        try:
            while True:
                try:
                    value = read_frame(stdin)
                except FrameError as exc:
                    write_frame(stdout, error_reply(None, RequestError(exc.message, title="Bad message")))
                    if exc.fatal:
                        return 1
                    continue
                if value is None:
                    return 0
                try:
                    reply = self.answer(value)
                except Exception:  # never a traceback to the add-on
                    log.exception("native host request failed")
                    reply = error_reply(
                        None,
                        BridgeError("Something went wrong; see CRM Bridge's log.", title="Internal error"),
                    )
                if len(encode_frame(reply)) > MAX_REPLY:
                    reply = error_reply(
                        reply.get("id"),
                        BridgeError("The answer is too large; ask for fewer messages.", title="Too much"),
                    )
                write_frame(stdout, reply)
        except (BrokenPipeError, OSError) as exc:
            log.info("native host stream closed: %s", exc)
            return 0
        finally:
            if self._bridge is not None:
                self._bridge.stop()


def main(args: Any) -> int:
    """The CLI entry: the active profile's bridge; stdio as Thunderbird connects it."""
    import sys
    from pathlib import Path

    from addin import paths
    from addin.config import Config
    from addin.logging_setup import setup_logging
    from addin.native import channel

    setup_logging()  # the log file only: stdout carries the protocol
    log.info("native host started for %s", " ".join(getattr(args, "caller", []) or ["(no caller)"]))
    profile = getattr(args, "profile", None)

    def data_dir() -> Path:
        name = Config.load().profile(profile).name
        return paths.data_dir() / "profiles" / name

    def forward(value: Any) -> dict[str, Any] | None:
        try:
            return channel.call(data_dir(), value)
        except BridgeError:
            raise
        except (OSError, ValueError, EOFError) as exc:
            log.info("running bridge not reachable: %s", exc)
            return None

    def open_bridge() -> Bridge:
        from addin.bridge import Bridge

        return Bridge.open(profile)

    return Host(forward, open_bridge).serve(sys.stdin.buffer, sys.stdout.buffer)
