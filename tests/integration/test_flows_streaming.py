"""The running bridge tracks through EWS streaming notifications as Exchange sends them: several
events on one subscription, a stream the network breaks, a subscription the server forgets.

The hour-long poll is never what tracks here: each mail is tracked because a notification ran
the mailbox job. Deadlines are generous bounds on "within seconds", not timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flow_helpers import contact_addresses, emails

from addin.demo import DemoEnvironment, start_demo
from addin.engine.outbox import OutboxSettings
from addin.mailbox.types import FolderKind

pytestmark = pytest.mark.integration

BOUND = 30.0  # seconds: far above the few a notification takes, far below the hour-long poll


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path, outbox_settings=OutboxSettings(grace=timedelta(seconds=0)))
    environment.bridge.update_settings({"tracking.poll_seconds": 3600, "sending.poll_seconds": 3600})
    environment.bridge.start()
    try:
        yield environment
    finally:
        environment.bridge._scheduler.stop()
        environment.close()


def _inbox_from_contacts(env: DemoEnvironment) -> list:  # type: ignore[type-arg]
    contacts = set(contact_addresses(env))
    inbox = env.bridge._mailbox.folder(FolderKind.INBOX)
    items = env.bridge.messages(inbox.id, limit=100).items
    return [m for m in items if not m.private and m.sender.rpartition("<")[2].rstrip(">").lower() in contacts]


def _wait(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _streams_open(env: DemoEnvironment) -> int:
    hub = env.mail.app.subscriptions
    with hub._lock:
        return sum(s.streams_open for s in hub._subs.values())


def _watching(env: DemoEnvironment) -> None:
    """The first sync ran and the watcher holds a streaming connection."""
    _wait(lambda: env.bridge._scheduler.last_synced is not None, "the first sync ran")
    _wait(lambda: _streams_open(env) > 0, "the watcher opened a streaming connection")


def _category_set_elsewhere(env: DemoEnvironment, item_id: str) -> None:
    """Another mail client (here: a second connection of the same user) sets the category."""
    bridge = env.bridge
    other = bridge._mailbox.__class__.from_settings(bridge.profile.mailbox_settings(), lambda: "demo")
    try:
        other.set_categories(item_id, ["Track in CRM"])
    finally:
        other.close()


def _tracked(env: DemoEnvironment, subject: str) -> bool:
    return subject in {e["subject"] for e in emails(env)}


def test_several_events_on_one_subscription_each_track(env: DemoEnvironment) -> None:
    first, second, third = _inbox_from_contacts(env)[-3:]
    _watching(env)
    subscriptions = set(env.mail.app.subscriptions._subs)
    for message in (first, second, third):
        _category_set_elsewhere(env, message.id)
        _wait(lambda m=message: _tracked(env, m.subject), f"{message.subject!r} tracked")
    # All three arrived on the subscription the watcher made at the start.
    assert set(env.mail.app.subscriptions._subs) == subscriptions


def test_a_dropped_stream_is_reopened_and_tracks(env: DemoEnvironment) -> None:
    old = _inbox_from_contacts(env)[-1]
    _watching(env)
    env.mail.drop_streams()  # the network breaks the open GetStreamingEvents connection
    _category_set_elsewhere(env, old.id)
    _wait(lambda: _tracked(env, old.subject), "tracked after the stream broke")
    _wait(lambda: _streams_open(env) > 0, "the watcher streams again")


def test_an_expired_subscription_is_replaced_and_tracks(env: DemoEnvironment) -> None:
    old = _inbox_from_contacts(env)[-1]
    _watching(env)
    before = set(env.mail.app.subscriptions._subs)
    assert env.mail.expire_subscriptions() >= 1  # the server forgets it (timeout, restart)
    _wait(lambda: bool(set(env.mail.app.subscriptions._subs) - before), "the watcher subscribed again")
    _category_set_elsewhere(env, old.id)
    _wait(lambda: _tracked(env, old.subject), "tracked on the new subscription")
