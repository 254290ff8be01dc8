"""First sync of a big folder: memory stays flat, whatever the folder's size.

The sandbox runs in its own process (``crm-bridge sandbox mail``) so that tracemalloc in
this process sees only the client: the backend plus exchangelib.  The same sync from
"now" is run on a folder of 1,000 and of 5,000 messages; the peak must not grow with the
folder (a backend that collected the old items would need about five times as much).
"""

from __future__ import annotations

import email.utils
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from addin.mailbox.ews import EwsMailbox
from addin.mailbox.types import FolderKind, MailboxSettings
from addin.sandbox.mail import MailSandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZES = {"small@contoso.example": 1_000, "big@contoso.example": 5_000}
PASSWORD = "flat-memory-1"


def _mime(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "history@fabrikam.example"
    msg["To"] = "someone@contoso.example"
    msg["Subject"] = f"old message {i} " + "x" * 200
    msg["Message-ID"] = email.utils.make_msgid(domain="fabrikam.example")
    msg.set_content("an old message that a fresh start must not load\n" * 20)
    return msg.as_bytes()


@pytest.fixture(scope="module")
def ews_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("first-sync")
    seeder = MailSandbox(data_dir=data, seed="empty")
    for address, count in SIZES.items():
        seeder.add_mailbox(address, PASSWORD)
        for i in range(count):
            seeder.deliver(address, _mime(i))
    seeder.stop()

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "addin", "sandbox", "mail", "--data", str(Path(data)), "--seed", "empty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _peak_of_fresh_sync(ews_url: str, address: str) -> int:
    settings = MailboxSettings(backend="ews", email=address, server=ews_url, timeout=30.0)
    box = EwsMailbox.from_settings(settings, lambda: PASSWORD)
    try:
        inbox = box.folder(FolderKind.INBOX)
        assert inbox.total == SIZES[address]
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            page = box.sync(inbox.id, None)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert page.changes == () and not page.more
        return peak - base
    finally:
        box.close()


def test_first_sync_memory_does_not_grow_with_the_folder(ews_url: str) -> None:
    small = _peak_of_fresh_sync(ews_url, "small@contoso.example")
    big = _peak_of_fresh_sync(ews_url, "big@contoso.example")
    # Pages are 512 ids whatever the folder's size: the peak is one page, not the folder.
    print(f"first-sync peak: {small} B for 1,000, {big} B for 5,000")
    assert big < small * 1.5 + 512 * 1024, (small, big)
