"""Gmail labels as categories, and servers that keep no custom keywords.

Gmail (and servers without custom keywords) cannot run here, so this drives the backend
against a scripted stand-in for the IMAP client that answers the way IMAPClient does for a
server announcing X-GM-EXT-1 (labels come back undecoded, in modified UTF-7).  Everything
else the backend does is tested against a real Dovecot elsewhere.
"""

from __future__ import annotations

from typing import Any

from addin.mailbox.imap import ImapMailbox
from addin.mailbox.types import TRACKED_CATEGORY, MailboxSettings, Mark, Message

HEADER = (
    b"From: Carol <carol@fabrikam.example>\r\nSubject: Order\r\nMessage-ID: <o1@fabrikam.example>\r\n\r\n"
)


class ScriptedGmail:
    def __init__(self) -> None:
        self.labels: dict[int, list[bytes]] = {5: [b"\\Inbox", b"\\Important", b"Kunden &APw-", b"Customer"]}
        self.flags: dict[int, list[bytes]] = {5: [b"\\Seen"]}
        self.calls: list[tuple[str, list[int], list[str]]] = []

    def select_folder(self, folder: str) -> dict[bytes, Any]:
        return {b"UIDVALIDITY": 7, b"UIDNEXT": 6, b"PERMANENTFLAGS": (b"\\*",)}

    def fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        out: dict[int, dict[bytes, Any]] = {}
        for uid in uids:
            if uid not in self.labels:
                continue
            row: dict[bytes, Any] = {b"FLAGS": tuple(self.flags[uid]), b"INTERNALDATE": None}
            if "X-GM-LABELS" in items:
                row[b"X-GM-LABELS"] = tuple(self.labels[uid])
            if any(i.startswith("BODY.PEEK[HEADER") for i in items):
                row[b"BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT FROM)]"] = HEADER
            if "BODY.PEEK[]" in items:
                row[b"BODY[]"] = HEADER + b"Ten units, please.\r\n"
            out[uid] = row
        return out

    def search(self, criteria: Any = "ALL", charset: str | None = None) -> list[int]:
        return sorted(self.labels)

    def add_gmail_labels(self, uids: list[int], labels: list[str], silent: bool = False) -> None:
        self.calls.append(("add", uids, labels))
        for uid in uids:
            self.labels[uid] += [label.encode() for label in labels]

    def remove_gmail_labels(self, uids: list[int], labels: list[str], silent: bool = False) -> None:
        self.calls.append(("remove", uids, labels))
        for uid in uids:
            self.labels[uid] = [b for b in self.labels[uid] if b.decode() not in labels]

    def add_flags(self, uids: list[int], flags: list[str], silent: bool = False) -> None:
        self.calls.append(("add_flags", uids, flags))

    def remove_flags(self, uids: list[int], flags: list[str], silent: bool = False) -> None:
        self.calls.append(("remove_flags", uids, flags))


def _mailbox() -> tuple[ImapMailbox, ScriptedGmail]:
    mb = ImapMailbox(
        MailboxSettings(backend="imap", email="alex@gmail.example", server="imaps://imap.gmail.example"),
        lambda: "unused",
    )
    fake = ScriptedGmail()
    mb._conn.client = fake  # type: ignore[assignment]
    mb._conn.capabilities = {"IMAP4REV1", "X-GM-EXT-1", "CONDSTORE"}
    return mb, fake


def test_labels_are_the_categories_and_system_labels_are_not() -> None:
    mb, _ = _mailbox()
    [summary] = mb.list_messages("INBOX").items
    assert summary.categories == ("Kunden ü", "Customer")
    [message] = mb.fetch(["7:5:INBOX"], with_attachments=False)
    assert isinstance(message, Message) and message.categories == ("Kunden ü", "Customer")


def test_setting_categories_changes_labels_not_keywords() -> None:
    mb, fake = _mailbox()
    mb.set_categories("7:5:INBOX", ["Customer", TRACKED_CATEGORY])
    assert ("remove", [5], ["Kunden ü"]) in fake.calls
    assert ("add", [5], [TRACKED_CATEGORY]) in fake.calls
    assert not [c for c in fake.calls if c[0] == "add_flags"], "no keyword is used for categories on Gmail"


def test_a_server_without_custom_keywords_is_a_clear_error_per_message() -> None:
    mb = ImapMailbox(
        MailboxSettings(backend="imap", email="alex@isp.example", server="imaps://imap.isp.example"),
        lambda: "unused",
    )
    fake = ScriptedGmail()
    fake.select_folder = lambda folder: {  # type: ignore[method-assign]
        b"UIDVALIDITY": 7,
        b"PERMANENTFLAGS": (b"\\Seen", b"\\Deleted"),
    }
    mb._conn.client = fake  # type: ignore[assignment]
    mb._conn.capabilities = {"IMAP4REV1"}
    errors = mb.mark_many([Mark("7:5:INBOX", (TRACKED_CATEGORY,), "act-1")])
    assert errors[0] and "custom keywords" in errors[0]
    assert not [c for c in fake.calls if c[0] == "add_flags"]
