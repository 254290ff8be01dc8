"""A dropped Outlook .msg file is tracked into the sandbox CRM over real HTTP, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from addin.bridge_types import TrackOutcome
from addin.demo import DemoEnvironment, start_demo

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "data" / "msg"
SUBJECT = "投递状态通知 (Failure Notice)"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def _get(env: DemoEnvironment, path: str) -> list[dict[str, Any]]:
    answer = requests.get(env.crm.base_url + path, headers={"Authorization": "Bearer sandbox"}, timeout=30)
    answer.raise_for_status()
    rows: list[dict[str, Any]] = answer.json()["value"]
    return rows


def _subjects(env: DemoEnvironment) -> list[str]:
    return [row["subject"] for row in _get(env, "emails?$select=subject")]


def test_dropped_msg_is_tracked_once(env: DemoEnvironment) -> None:
    data = (DATA / "other.msg").read_bytes()
    assert SUBJECT not in _subjects(env)
    first = env.bridge.track_file(data, "other.msg")
    assert first.outcome is TrackOutcome.TRACKED, first.message
    assert first.activity_id and first.subject == SUBJECT
    assert _subjects(env).count(SUBJECT) == 1
    [row] = _get(env, f"emails?$select=messageid&$filter=activityid eq {first.activity_id}")
    assert row["messageid"] == "<99d78a$k8gjl@esa2.mentor.iphmx.com>"
    [attachment] = _get(
        env,
        "activitymimeattachments?$select=filename,mimetype,filesize"
        f"&$filter=_objectid_value eq {first.activity_id}",
    )
    assert attachment["filename"] == "回复：转发：反馈·北京 2017年12月02-03日 销售.eml"
    assert attachment["mimetype"] == "message/rfc822"
    assert attachment["filesize"] > 144702  # the attached e-mail still carries its PDF
    second = env.bridge.track_file(data, "other.msg")
    assert second.outcome is TrackOutcome.ALREADY_TRACKED
    assert second.activity_id == first.activity_id
    assert _subjects(env).count(SUBJECT) == 1


def test_msg_is_recognised_by_content_whatever_its_name(env: DemoEnvironment) -> None:
    data = (DATA / "outer.msg").read_bytes()
    result = env.bridge.track_file(data, "saved-from-outlook.eml")
    assert result.outcome is TrackOutcome.TRACKED, result.message
    assert "outer subject" in _subjects(env)
