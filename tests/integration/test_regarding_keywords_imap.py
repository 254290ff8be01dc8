"""Regarding categories on IMAP (a real Dovecot): no master list, so the keyword form of a
Regarding category (``crm_fabrikam_inc`` for "CRM ▸ Fabrikam, Inc.") set by another IMAP client
tracks the message once with that Regarding, and the keyword is swapped for "Tracked in CRM"."""

from __future__ import annotations

import imaplib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from addin.bridge_types import RecordRef, TrackOutcome
from addin.engine.regarding_categories import keyword_of
from addin.mailbox.types import FolderKind
from addin.sandbox.dovecot import INSTALL_HINT, dovecot_binary

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Any]:
    if dovecot_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    from addin.demo_imap import IMAP_PASSWORD, USER, customer_message, start_imap_demo

    demo = start_imap_demo(tmp_path)
    demo.dovecot.lmtp_deliver(
        "buyer@fabrikam.example", [USER], customer_message("buyer@fabrikam.example", "Quote")
    )
    demo.user, demo.password = USER, IMAP_PASSWORD
    yield demo
    demo.close()


def _emails(env: Any, flt: str) -> list[dict[str, Any]]:
    answer = requests.get(
        env.crm.base_url + "emails?$select=activityid,_regardingobjectid_value&$filter=" + flt,
        headers={"Authorization": "Bearer sandbox"},
        timeout=30,
    )
    answer.raise_for_status()
    rows: list[dict[str, Any]] = answer.json()["value"]
    return rows


def test_a_regarding_keyword_from_another_imap_client_tracks_once(env: Any) -> None:
    bridge = env.bridge
    account = requests.get(
        env.crm.base_url + "accounts?$select=accountid,name&$top=1&$orderby=name",
        headers={"Authorization": "Bearer sandbox"},
        timeout=30,
    ).json()["value"][0]
    bridge.pin_regarding(RecordRef("account", account["accountid"]))
    assert bridge.refresh_regarding_categories() == ([], [])  # IMAP: no master list to write
    keyword = keyword_of(f"CRM ▸ {account['name']}")
    assert keyword.startswith("crm_") and keyword.isascii()

    autotrack = bridge._autotrack
    autotrack.run_once()
    inbox = bridge._mailbox.folder(FolderKind.INBOX)
    item = bridge.messages(inbox.id, limit=10).items[0]
    other = imaplib.IMAP4(env.dovecot.host, env.dovecot.port, timeout=10)
    try:
        other.login(env.user, env.password)
        other.select("INBOX")
        uid = item.id.split(":")[1]
        assert other.uid("STORE", uid, "+FLAGS", f"({keyword})")[0] == "OK"
        results = autotrack.run_once()
        assert [(r.item_id, r.outcome) for r in results] == [(item.id, TrackOutcome.TRACKED)]
        rows = _emails(env, f"activityid eq {results[0].activity_id}")
        assert len(rows) == 1 and rows[0]["_regardingobjectid_value"] == account["accountid"]
        flags = other.uid("FETCH", uid, "(FLAGS)")[1][0].decode()
        assert keyword not in flags and "Tracked_in_CRM" in flags
        assert autotrack.run_once() == []
    finally:
        other.logout()
