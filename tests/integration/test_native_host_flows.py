"""``crm-bridge native-host`` end to end: framed requests in, the sandbox CRM and mailbox over
real HTTP, framed replies out — on EWS and on Graph, headless and through a running bridge."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flow_helpers import emails, first_record, mime

from addin.bridge import Bridge
from addin.demo import DemoEnvironment, demo_profile, demo_secrets, start_demo
from addin.mailbox.types import FolderKind
from addin.native import channel
from addin.native.framing import encode_frame, read_frame
from addin.native.host import Host

pytestmark = pytest.mark.integration


@pytest.fixture(params=["ews", "graph"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path, backend=request.param)
    yield environment
    environment.close()


def _headless(env: DemoEnvironment) -> Bridge:
    """What ``native-host`` opens when no bridge runs: the profile's facade, same journal."""
    return Bridge(
        demo_profile(env.crm, env.mail, backend=env.backend),
        secrets=demo_secrets(env.backend),
        data_dir=env.bridge.data_dir,
    )


def exchange(host: Host, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    out = io.BytesIO()
    assert host.serve(io.BytesIO(b"".join(encode_frame(r) for r in requests)), out) == 0
    stream = io.BytesIO(out.getvalue())
    replies = []
    while (value := read_frame(stream)) is not None:
        replies.append(value)
    assert len(replies) == len(requests)
    return replies


def _inbox_message_ids(env: DemoEnvironment, n: int) -> list[tuple[str, str]]:
    inbox = env.bridge._mailbox.folder(FolderKind.INBOX)
    items = [i for i in env.bridge.messages(inbox.id, limit=50).items if i.message_id and not i.private]
    return [(i.message_id or "", i.subject) for i in items[:n]]


def test_track_by_message_id_regarding_already_tracked_unknown_and_raw(env: DemoEnvironment) -> None:
    (mid, subject), (mid2, _) = _inbox_message_ids(env, 2)
    account_id, account_name = first_record(env, "accounts", "accountid", "name")
    regarding = {"table": "account", "id": account_id, "name": account_name}
    unknown = mime("buyer@fabrikam.example", "Only in Thunderbird's local folder")
    unknown_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in unknown.splitlines()
        if line.startswith(b"Message-ID")
    )
    before = len(emails(env))
    host = Host(lambda value: None, lambda: _headless(env))
    ping, tracked, again, with_regarding, missing, raw, search, records = exchange(
        host,
        {"action": "ping", "id": 0},
        # Thunderbird's headerMessageId comes without angle brackets.
        {"action": "track", "id": 1, "messages": [{"messageId": mid.strip("<>")}]},
        {"action": "track", "id": 2, "messages": [{"messageId": mid}]},
        {
            "action": "track",
            "id": 3,
            "messages": [{"messageId": mid}, {"messageId": mid2}],
            "regarding": regarding,
        },
        {"action": "track", "id": 4, "messages": [{"messageId": unknown_id}]},
        {
            "action": "track",
            "id": 5,
            "messages": [{"messageId": unknown_id, "raw": base64.b64encode(unknown).decode()}],
        },
        {"action": "search", "id": 6, "text": account_name[:4]},
        {"action": "records", "id": 7},
    )
    assert ping == {"id": 0, "ok": True, "version": ping["version"], "bridge": "headless"}
    result = tracked["results"][0]
    assert (result["outcome"], result["subject"]) == ("tracked", subject)
    assert again["results"][0]["outcome"] == "already_tracked"
    assert again["results"][0]["activityId"] == result["activityId"]
    assert [r["outcome"] for r in with_regarding["results"]] == ["already_tracked", "tracked"]
    assert (
        missing["results"][0]["outcome"] == "not_found"
        and "message itself" in missing["results"][0]["message"]
    )
    assert raw["results"][0]["outcome"] == "tracked"
    assert any(r["id"] == account_id and r["table"] == "account" for r in search["records"])
    assert records["recent"][0]["id"] == account_id  # tracking with a Regarding made it recent

    # Exactly one CRM e-mail per message, the first now regarding the account.
    assert len(emails(env)) == before + 3
    for message_id in (mid, mid2):
        rows = emails(env, f"messageid eq '{message_id}'")
        assert len(rows) == 1 and rows[0]["_regardingobjectid_value"] == account_id
    assert len(emails(env, f"messageid eq '{unknown_id}'")) == 1


def test_a_running_bridge_answers_through_its_channel(env: DemoEnvironment) -> None:
    (mid, _subject), *_ = _inbox_message_ids(env, 1)
    env.bridge.start()
    try:
        opened: list[Bridge] = []
        host = Host(
            lambda value: channel.call(env.bridge.data_dir, value),
            lambda: opened.append(_headless(env)) or opened[-1],
        )
        ping, tracked = exchange(
            host,
            {"action": "ping", "id": "p"},
            {"action": "track", "id": "t", "messages": [{"messageId": mid}]},
        )
        assert ping["bridge"] == "running" and opened == []  # no second facade was opened
        assert tracked["results"][0]["outcome"] == "tracked"
        assert len(emails(env, f"messageid eq '{mid}'")) == 1
        # Garbage through the channel itself is refused by the serving side too.
        assert channel.call(env.bridge.data_dir, {"action": "nope"})["error"]["title"] == "Unknown action"
    finally:
        env.bridge.stop()
    assert channel.call(env.bridge.data_dir, {"action": "ping"}) is None  # stopped: nobody answers
