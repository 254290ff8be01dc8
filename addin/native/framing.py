"""The native messaging wire format (Gecko ``NativeMessaging.sys.mjs``, MDN native_messaging):
each message is a 32-bit unsigned length in the machine's native byte order, then that many
bytes of UTF-8 JSON, in both directions.  The extension refuses replies over 1 MiB."""

from __future__ import annotations

import json
import struct
from enum import StrEnum
from typing import Any, BinaryIO

HEADER = struct.Struct("@I")
# Thunderbird drops a host whose reply is larger than this (MAX_READ in NativeMessaging.sys.mjs).
MAX_REPLY = 1024 * 1024
# Extension -> host: Gecko allows up to 4 GiB; the host takes a few raw messages at most.
MAX_REQUEST = 64 * 1024 * 1024


class FrameProblem(StrEnum):
    TRUNCATED = "truncated"  # stdin closed inside a frame
    OVERSIZED = "oversized"  # the header announces more than MAX_REQUEST
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"


class FrameError(Exception):
    """A frame that cannot be read.  ``fatal``: the stream is out of step, the host must stop."""

    def __init__(self, problem: FrameProblem, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message
        self.fatal = fatal


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO, limit: int = MAX_REQUEST) -> Any:
    """The next message, or None at a clean end of input (stdin closed between frames)."""
    header = _read_exact(stream, HEADER.size)
    if not header:
        return None
    if len(header) < HEADER.size:
        raise FrameError(FrameProblem.TRUNCATED, "The input ended inside a message header.", fatal=True)
    (size,) = HEADER.unpack(header)
    if size > limit:
        raise FrameError(
            FrameProblem.OVERSIZED,
            f"A message of {size} bytes is over the limit of {limit} bytes.",
            fatal=True,
        )
    body = _read_exact(stream, size)
    if len(body) < size:
        raise FrameError(
            FrameProblem.TRUNCATED, f"The input ended after {len(body)} of {size} bytes.", fatal=True
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(FrameProblem.NOT_UTF8, "The message is not UTF-8 text.", fatal=False) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FrameError(
            FrameProblem.NOT_JSON, f"The message is not JSON ({exc.msg}).", fatal=False
        ) from None
    except ValueError:  # e.g. an integer too long to convert
        raise FrameError(FrameProblem.NOT_JSON, "The message is not usable JSON.", fatal=False) from None


def encode_frame(value: Any) -> bytes:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(len(body)) + body


def write_frame(stream: BinaryIO, value: Any) -> None:
    """Write one reply; a reply over MAX_REPLY is the caller's bug and raises ValueError."""
    data = encode_frame(value)
    if len(data) - HEADER.size > MAX_REPLY:
        raise ValueError(f"reply of {len(data) - HEADER.size} bytes is over {MAX_REPLY}")
    stream.write(data)
    stream.flush()
