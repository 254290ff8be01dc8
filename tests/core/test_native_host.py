"""The native host's wire protocol and validation, with the bridge faked at the Host seam."""

from __future__ import annotations

import base64
import io
import struct
from typing import Any

import pytest

from addin.errors import ConfigError
from addin.native.framing import MAX_REPLY, encode_frame, read_frame
from addin.native.host import Host
from addin.native.protocol import RequestError, parse_request

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def frames(*values: Any) -> bytes:
    return b"".join(encode_frame(v) for v in values)


def replies(data: bytes) -> list[dict[str, Any]]:
    stream = io.BytesIO(data)
    out = []
    while (value := read_frame(stream)) is not None:
        out.append(value)
    return out


class Recorder:
    """Stands in for the running bridge: records what reaches it and answers ok."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def __call__(self, value: Any) -> dict[str, Any]:
        self.seen.append(value)
        return {"id": value.get("id"), "ok": True, "bridge": "running"}


def serve(data: bytes, forward: Any = None) -> tuple[int, list[dict[str, Any]], Recorder]:
    rec = Recorder()

    def no_bridge() -> Any:
        raise ConfigError("Profile 'default' is not set up yet.", title="Set-up needed")

    out = io.BytesIO()
    code = Host(forward or rec, no_bridge).serve(io.BytesIO(data), out)
    return code, replies(out.getvalue()), rec


def test_frames_round_trip_in_native_byte_order_with_non_ascii() -> None:
    data = encode_frame({"name": "Fabrikam ▸ Müller"})
    assert struct.unpack("@I", data[:4])[0] == len(data) - 4
    assert read_frame(io.BytesIO(data)) == {"name": "Fabrikam ▸ Müller"}


def test_requests_reach_the_bridge_and_the_host_exits_when_stdin_closes() -> None:
    code, out, rec = serve(frames({"action": "ping", "id": 1}, {"action": "records", "id": "b"}))
    assert code == 0 and [r["id"] for r in out] == [1, "b"] and all(r["ok"] for r in out)
    assert [v["action"] for v in rec.seen] == ["ping", "records"]


def test_bad_messages_are_refused_one_by_one_and_the_host_goes_on() -> None:
    bad_json = struct.pack("@I", 5) + b"{nope"
    bad_utf8 = struct.pack("@I", 2) + b"\xff\xfe"
    code, out, rec = serve(
        bad_json
        + bad_utf8
        + frames(
            [1, 2],
            {"action": "format-disk", "id": 7},
            {"action": "track", "id": 8, "messages": []},
            {"action": "track", "id": 9, "messages": [{"messageId": "a b@c"}]},
            {"action": "track", "id": 10, "messages": [{"messageId": "<a@b>", "raw": "***"}]},
            {
                "action": "track",
                "id": 11,
                "messages": [{"messageId": "a@b"}],
                "regarding": {"table": "email"},
            },
            {"action": "track", "id": 12, "messages": [{"messageId": "a@b"}], "sneaky": True},
            {"action": "ping", "id": 13},
        )
    )
    assert code == 0
    assert [r["ok"] for r in out] == [False] * 9 + [True]
    titles = [r["error"]["title"] for r in out[:9]]
    assert titles[:2] == ["Bad message", "Bad message"] and titles[3] == "Unknown action"
    messages = [r["error"]["message"] for r in out[:9]]
    assert "not JSON" in messages[0] and "UTF-8" in messages[1] and "JSON object" in messages[2]
    assert "format-disk" in messages[3] and "non-empty" in messages[4] and "Message-ID" in messages[5]
    assert "base64" in messages[6] and "regarding.table" in messages[7] and "sneaky" in messages[8]
    assert [r["id"] for r in out[3:]] == [7, 8, 9, 10, 11, 12, 13]
    assert [v["id"] for v in rec.seen] == [13]  # nothing invalid reached the bridge
    assert all("Traceback" not in str(r) for r in out)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x05\x00", "header"),
        (struct.pack("@I", 100) + b'{"action":', "after 10 of 100"),
        (struct.pack("@I", 0xFFFFFFF0), "over the limit"),
    ],
)
def test_truncated_and_oversized_frames_end_the_host_with_a_reply(data: bytes, why: str) -> None:
    code, out, rec = serve(frames({"action": "ping", "id": 1}) + data)
    assert code == 1
    assert out[0]["ok"] and not out[1]["ok"] and why in out[1]["error"]["message"]
    assert len(rec.seen) == 1


def test_without_a_bridge_the_headless_facade_answers_and_its_errors_are_replies() -> None:
    code, out, _ = serve(frames({"action": "ping", "id": 1}), forward=lambda value: None)
    assert code == 0
    assert out == [
        {
            "id": 1,
            "ok": False,
            "error": {"title": "Set-up needed", "message": "Profile 'default' is not set up yet."},
        }
    ]


def test_a_reply_over_one_mebibyte_is_replaced_by_an_error() -> None:
    huge = lambda value: {"id": value.get("id"), "ok": True, "blob": "x" * (MAX_REPLY + 10)}  # noqa: E731
    code, out, _ = serve(frames({"action": "records", "id": 3}), forward=huge)
    assert (
        code == 0 and out[0]["ok"] is False and out[0]["id"] == 3 and out[0]["error"]["title"] == "Too much"
    )


def test_an_unexpected_failure_is_a_reply_not_a_traceback() -> None:
    def broken(value: Any) -> dict[str, Any]:
        raise RuntimeError("bug")

    code, out, _ = serve(frames({"action": "ping", "id": 1}, {"action": "ping", "id": 2}), forward=broken)
    assert code == 0 and [r["error"]["title"] for r in out] == ["Internal error", "Internal error"]


def test_track_requests_are_parsed_into_typed_values() -> None:
    raw = base64.b64encode(b"Subject: hi\r\n\r\nbody").decode()
    req = parse_request(
        {
            "action": "track",
            "id": "x",
            "messages": [{"messageId": "<abc@host>"}, {"messageId": "def@host", "raw": raw}],
            "regarding": {"table": "account", "id": GUID.upper(), "name": "Fabrikam"},
        }
    )
    assert [i.message_id for i in req.items] == ["abc@host", "def@host"]
    assert req.items[1].raw == b"Subject: hi\r\n\r\nbody"
    assert req.regarding is not None and req.regarding.id == GUID and req.regarding.name == "Fabrikam"
    with pytest.raises(RequestError, match="At most 100"):
        parse_request({"action": "track", "messages": [{"messageId": "a@b"}] * 101})
    with pytest.raises(RequestError, match="id must be"):
        parse_request({"action": "ping", "id": True})
