"""The IMAP + SMTP backend of the Mailbox port: any provider (Dovecot, Fastmail, Gmail, ...).

Reading goes through one IMAP session (:mod:`addin.mailbox.imap_conn`, IMAPClient);
sending through SMTP submission (:mod:`addin.mailbox.smtp_submit`), after which the
same bytes are filed in the Sent folder by APPEND — unless the provider files its own
copy (Gmail, Exchange Online, ...), which is detected by finding the copy by
Message-ID first and remembered in the hints, so no one gets two.

Settings: ``server`` is the incoming server URL; ``options``: ``smtp_server``
(``smtp://host:587`` or ``smtps://host:465``; default: the IMAP host on 587),
``sent_folder`` (overrides discovery), ``sent_copy`` (``auto`` | ``append`` |
``provider``) and ``sent_copy_wait`` (seconds to wait for a provider's copy, default 3).

Folders: SPECIAL-USE attributes (RFC 6154) name Sent, Drafts and Trash; without them
common names are tried (:mod:`addin.mailbox.imap_folders`).  Ids: see
:mod:`addin.mailbox.imap_codec`; categories and the stamp: :mod:`addin.mailbox.imap_marks`.

Threads: one IMAP connection (IMAPClient is not thread-safe) used under the mailbox's lock
by the engine and the UI's workers; IDLE (:mod:`addin.mailbox.imap_watch`) opens its own.

Sync state (JSON): UIDVALIDITY, the last UID reported and, where the server offers
CONDSTORE, the HIGHESTMODSEQ below which flag changes were reported.  New mail is found
by UID; flag changes (categories, the tracking request) by ``CHANGEDSINCE``.  A changed
UIDVALIDITY raises "Mailbox sync restarted" so the engine starts afresh without
replaying history.  Expunges are not reported (QRESYNC's VANISHED is not used): the
engine does not act on deletions.

Exactly once: SMTP cannot say whether a message whose DATA answer was lost left
(RFC 1047), so :meth:`ImapMailbox.send` raises ``UnknownOutcomeError`` then, and
:meth:`ImapMailbox.missing_copy_means_unsent` is False unless the provider is known to
file its own Sent copy: the outbox must not send again on the absence of our copy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient

from addin.engine.mime import parse_mime
from addin.errors import BridgeError, ConfigError, MailboxError, MessageError
from addin.mailbox import imap_codec as codec
from addin.mailbox import imap_folders, imap_marks, imap_sync, imap_watch, smtp_submit
from addin.mailbox.imap_conn import Connection, create_folder
from addin.mailbox.port import Mailbox
from addin.mailbox.types import (
    Address,
    FetchFailure,
    Folder,
    FolderKind,
    MailboxAuth,
    MailboxInfo,
    MailboxSettings,
    Mark,
    Message,
    MessagePage,
    MessageSummary,
    OutgoingMessage,
    SecretSource,
    SyncPage,
)

log = logging.getLogger(__name__)

_SUMMARY_FETCH = [
    "UID",
    "FLAGS",
    "INTERNALDATE",
    "BODY.PEEK[HEADER.FIELDS (" + " ".join(codec.SUMMARY_HEADERS) + ")]",
]


class ImapMailbox(Mailbox):
    """One mailbox over IMAP (reading, marking) and SMTP (sending); thread-safe, lazy."""

    backend_name = "imap"

    def __init__(
        self, settings: MailboxSettings, secret: SecretSource, *, sleep: Callable[[float], None] | None = None
    ) -> None:
        self._settings = settings
        self._secret = secret
        self._sleep = sleep or time.sleep
        self._lock = threading.RLock()
        self._conn = Connection(settings, secret)
        options = settings.options or {}
        self._smtp = smtp_submit.parse_server(options.get("smtp_server", ""), f"smtp://{self._conn.host}:587")
        self._sent_copy = options.get("sent_copy", "auto")
        if self._sent_copy not in ("auto", "append", "provider"):
            raise ConfigError("Mailbox option 'sent_copy' must be auto, append or provider.")
        try:
            self._copy_wait = float(options.get("sent_copy_wait", "3"))
        except ValueError:
            raise ConfigError("Mailbox option 'sent_copy_wait' must be a number of seconds.") from None
        # A hidden copy to the user's own address, moved into Sent on arrival: evidence of
        # whether a message left even when the SMTP answer was lost.
        self._bcc_self = options.get("bcc_self") == "yes"
        # What was learnt about another server (the user changed it) does not apply here.
        same_server = options.get("imap_server", self._conn.server) == self._conn.server
        learnt = options.get("provider_files_sent", "") if same_server else ""
        self._hints: dict[str, str] = {"provider_files_sent": learnt} if learnt else {}
        self._kinds: dict[FolderKind, str] = {}
        if options.get("sent_folder"):
            self._kinds[FolderKind.SENT] = options["sent_folder"]

    @classmethod
    def from_settings(
        cls, settings: MailboxSettings, secret: SecretSource, *, sleep: Callable[[float], None] | None = None
    ) -> ImapMailbox:
        return cls(settings, secret, sleep=sleep)

    # -- connection -------------------------------------------------------------------

    def _run(self, work: Callable[[IMAPClient], Any], *, retry: bool = True) -> Any:
        with self._lock:
            return self._conn.run(work, retry=retry)

    def check(self) -> MailboxInfo:
        def probe(client: IMAPClient) -> MailboxInfo:
            self._conn.select("INBOX")
            welcome = client.welcome
            text = welcome.decode("utf-8", "replace") if isinstance(welcome, bytes) else str(welcome or "")
            return MailboxInfo(
                address=self._settings.email,
                server=self._conn.server,
                backend=self.backend_name,
                version=text.strip()[:100],
            )

        info: MailboxInfo = self._run(probe)
        self._submission().verify()  # a wrong outgoing server shows now, not at the first send
        return info

    def hints(self) -> dict[str, str]:
        with self._lock:
            hints = dict(self._hints)
            sent = self._kinds.get(FolderKind.SENT)
        if sent:
            hints["sent_folder"] = sent
        host, port, security = self._smtp
        hints["imap_server"] = self._conn.server
        hints["smtp_server"] = f"{'smtps' if security == 'tls' else 'smtp'}://{host}:{port}"
        return hints

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def missing_copy_means_unsent(self) -> bool:
        """Only where the provider files the Sent copy itself does its absence prove anything."""
        if self._bcc_self:
            return True  # the hidden copy to the user arrives whenever the message left
        return self._sent_copy == "provider" or self._hints.get("provider_files_sent") == "yes"

    # -- folders ----------------------------------------------------------------------

    def _discover(self, client: IMAPClient) -> list[Folder]:
        return imap_folders.discover(client, self._kinds)

    def list_folders(self) -> list[Folder]:
        folders: list[Folder] = self._run(self._discover)
        return folders

    def folder(self, kind: FolderKind) -> Folder:
        if kind == FolderKind.ROOT:
            return Folder(id="", name="Mailbox", kind=kind, path="")

        def work(client: IMAPClient) -> Folder:
            if kind not in self._kinds:
                self._discover(client)
            name = self._kinds.get(kind)
            if name is None and kind == FolderKind.SENT:
                # A mailbox without a Sent folder gets one, as mail clients do.
                create_folder(client, "Sent")
                name = self._kinds[kind] = "Sent"
            if name is None:
                raise MailboxError(f"This mailbox has no {kind.value} folder.", title="Folder not found")
            return Folder(id=name, name=name.rsplit("/", 1)[-1], kind=kind, path=name)

        result: Folder = self._run(work)
        return result

    # -- sync -------------------------------------------------------------------------

    def sync(self, folder_id: str, sync_state: str | None, max_changes: int = 100) -> SyncPage:
        if max_changes <= 0:
            raise ValueError("max_changes must be positive")

        def work(client: IMAPClient) -> SyncPage:
            return imap_sync.sync_page(
                self._conn, client, folder_id, sync_state, max_changes, self._summaries
            )

        page: SyncPage = self._run(work)
        return page

    def _summaries(
        self, client: IMAPClient, folder: str, validity: int, uids: list[int]
    ) -> list[MessageSummary]:
        if not uids:
            return []
        gmail = self._conn.has("X-GM-EXT-1")
        data = client.fetch(uids, _SUMMARY_FETCH + (["X-GM-LABELS"] if gmail else []))
        out = []
        for uid in uids:
            row = data.get(uid)
            if row is None:
                continue  # expunged meanwhile
            out.append(
                codec.summary(
                    codec.message_id_of(folder, validity, uid),
                    folder,
                    codec.header_bytes(row),
                    row.get(b"FLAGS", ()),
                    row.get(b"INTERNALDATE"),
                    row.get(b"X-GM-LABELS", ()) if gmail else None,
                )
            )
        return out

    def _validity(self, folder: str) -> int:
        info = self._conn.select(folder)
        return int(info[b"UIDVALIDITY"])

    # -- reading ----------------------------------------------------------------------

    def fetch(
        self, ids: Sequence[str], *, with_attachments: bool = True, with_mime: bool = False
    ) -> list[Message | FetchFailure]:
        ids = list(ids)
        results: dict[int, Message | FetchFailure] = {}
        by_folder: dict[str, list[tuple[int, int, int]]] = {}
        for pos, item_id in enumerate(ids):
            parsed = codec.parse_id(item_id)
            if parsed is None:
                results[pos] = FetchFailure(item_id, "not a message id of this IMAP mailbox")
                continue
            folder, validity, uid = parsed
            by_folder.setdefault(folder, []).append((pos, validity, uid))

        def work(client: IMAPClient) -> None:
            for folder, wanted in by_folder.items():
                try:
                    current = self._validity(folder)
                except MailboxError as exc:
                    for pos, _, _ in wanted:
                        results[pos] = FetchFailure(ids[pos], exc.message)
                    continue
                uids = [uid for _, validity, uid in wanted if validity == current]
                gmail = self._conn.has("X-GM-EXT-1")
                items = ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"] + (["X-GM-LABELS"] if gmail else [])
                data = client.fetch(uids, items) if uids else {}
                for pos, validity, uid in wanted:
                    row = data.get(uid) if validity == current else None
                    if row is None:
                        results[pos] = FetchFailure(ids[pos], "the message no longer exists on the server")
                        continue
                    results[pos] = self._message(ids[pos], folder, row, with_attachments, with_mime)

        if by_folder:
            self._run(work)
        return [results[pos] for pos in range(len(ids))]

    @staticmethod
    def _message(
        item_id: str, folder: str, row: dict[bytes, Any], with_attachments: bool, with_mime: bool
    ) -> Message | FetchFailure:
        raw = row.get(b"BODY[]") or b""
        try:
            msg = parse_mime(raw, item_id=item_id, folder_id=folder)
        except MessageError as exc:
            return FetchFailure(item_id, exc.message)
        flags = row.get(b"FLAGS", ())
        headers = codec.header_list(raw)
        stamp_header = next((v for k, v in headers if k.lower() == codec.STAMP_HEADER.lower()), None)
        return replace(
            msg,
            received=codec.as_utc(row.get(b"INTERNALDATE")) or msg.sent,
            categories=(
                codec.categories_of_labels(row[b"X-GM-LABELS"])
                if b"X-GM-LABELS" in row
                else codec.categories_of(flags)
            ),
            stamp=codec.stamp_of(flags, stamp_header),
            attachments=msg.attachments if with_attachments else (),
            mime=raw if with_mime else None,
            headers=tuple(headers),
        )

    def _search(
        self, folder_id: str, criteria: list[Any], keep: Callable[[MessageSummary], bool]
    ) -> list[MessageSummary]:
        def work(client: IMAPClient) -> list[MessageSummary]:
            validity = self._validity(folder_id)
            uids = sorted(client.search(criteria, charset="UTF-8"))
            return [s for s in self._summaries(client, folder_id, validity, uids) if keep(s)]

        found: list[MessageSummary] = self._run(work)
        return found

    def find_by_stamp(self, folder_id: str, stamp: str) -> list[MessageSummary]:
        if self._bcc_self and folder_id == self._kinds.get(FolderKind.SENT):
            self._file_hidden_copies()
        keyword = codec.stamp_keyword(stamp)
        criteria = ["OR", "KEYWORD", keyword, "HEADER", codec.STAMP_HEADER, stamp]
        return self._search(folder_id, criteria, lambda s: s.stamp == stamp)

    def find_by_message_id(self, folder_id: str, message_id: str) -> list[MessageSummary]:
        return self._search(
            folder_id, ["HEADER", "Message-ID", message_id], lambda s: s.message_id == message_id
        )

    def list_messages(
        self, folder_id: str, *, offset: int = 0, limit: int = 50, text: str | None = None
    ) -> MessagePage:
        if offset < 0 or limit <= 0:
            raise ValueError("offset must be >= 0 and limit > 0")
        criteria: list[Any] = ["OR", "OR", "SUBJECT", text, "FROM", text, "BODY", text] if text else ["ALL"]

        def work(client: IMAPClient) -> MessagePage:
            validity = self._validity(folder_id)
            if self._conn.has("SORT"):
                ordered = [int(u) for u in client.sort(["REVERSE", "ARRIVAL"], criteria, "UTF-8")]
            else:
                uids = client.search(criteria, charset="UTF-8")
                dates = client.fetch(uids, ["INTERNALDATE"]) if uids else {}
                epoch = datetime.min.replace(tzinfo=UTC)
                ordered = sorted(
                    uids,
                    key=lambda u: (codec.as_utc(dates.get(u, {}).get(b"INTERNALDATE")) or epoch, u),
                    reverse=True,
                )
            window = ordered[offset : offset + limit]
            items = self._summaries(client, folder_id, validity, window)
            return MessagePage(
                items=tuple(items), total=len(ordered), offset=offset, more=len(ordered) > offset + limit
            )

        page: MessagePage = self._run(work)
        return page

    # -- marking ----------------------------------------------------------------------

    def set_categories(self, id: str, categories: Sequence[str]) -> None:
        self._run(lambda client: imap_marks.mark(self._conn, client, id, categories, imap_marks.KEEP))

    def set_stamp(self, id: str, stamp: str | None) -> None:
        self._run(lambda client: imap_marks.mark(self._conn, client, id, None, stamp))

    def mark_many(self, marks: Sequence[Mark]) -> list[str | None]:
        def work(client: IMAPClient) -> list[str | None]:
            errors: list[str | None] = []
            for mark in marks:
                try:
                    imap_marks.mark(self._conn, client, mark.id, mark.categories, mark.stamp)
                    errors.append(None)
                except MessageError as exc:
                    errors.append(exc.message)
            return errors

        result: list[str | None] = self._run(work)
        return result

    # -- sending ----------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> None:
        sender = Address(self._settings.email)
        msg = codec.compose(message, sender)  # validates before any traffic
        rcpts = codec.recipients(message)
        if not rcpts:
            raise MessageError("The e-mail has no recipient address.")
        if self._bcc_self and message.stamp:
            self._file_hidden_copies()
            rcpts = [*rcpts, sender.email]  # envelope only: no header names the hidden copy
        self._submission().send(msg, sender.email, rcpts)  # raises by phase; see smtp_submit
        try:
            self._file_sent_copy(msg.as_bytes(), message.message_id)
        except BridgeError as exc:
            # The message left; a missing copy must not make anyone send it again.
            log.warning("sent %s but could not file the copy in Sent: %s", message.message_id, exc.message)

    def _submission(self) -> smtp_submit.Submission:
        host, port, security = self._smtp
        return smtp_submit.Submission(
            host,
            port,
            security,
            username=self._settings.username or self._settings.email,
            secret=self._secret(),
            oauth=self._settings.auth == MailboxAuth.OAUTH,
            timeout=self._settings.timeout,
            verify_tls=self._settings.verify_tls,
        )

    def _file_sent_copy(self, data: bytes, message_id: str) -> None:
        sent = self.folder(FolderKind.SENT).id
        if self._sent_copy == "provider":
            return
        if self._sent_copy == "auto" and "provider_files_sent" not in self._hints:
            # First send on this account: does the provider file a copy itself?
            deadline = time.monotonic() + self._copy_wait
            while True:
                if self.find_by_message_id(sent, message_id):
                    with self._lock:
                        self._hints["provider_files_sent"] = "yes"
                    return
                if time.monotonic() >= deadline:
                    break
                self._sleep(0.5)
            with self._lock:
                self._hints["provider_files_sent"] = "no"
        elif self._hints.get("provider_files_sent") == "yes" and self._sent_copy == "auto":
            return

        def append(client: IMAPClient) -> None:
            try:
                self._conn.select(sent)
                filed = client.search(["HEADER", "Message-ID", message_id])
            except MailboxError as exc:
                if exc.code not in (None, "NONEXISTENT"):
                    raise
                filed = []  # no such folder (Dovecot says a plain NO): APPEND answers [TRYCREATE]
            if filed:
                return  # already there (a retry after a dropped APPEND answer)
            client.append(sent, data, flags=[b"\\Seen"], msg_time=datetime.now(UTC))

        try:
            self._run(append)
        except MailboxError as exc:
            if exc.code != "TRYCREATE":
                raise
            # The Sent folder went away since it was found (another client deleted or renamed
            # it): as RFC 3501 asks, CREATE it and APPEND once more.
            self._run(lambda client: create_folder(client, sent))
            self._run(append)

    def _file_hidden_copies(self) -> None:
        """Move the hidden copies that came back to the Inbox into Sent (or drop them where
        Sent already holds the bridge's own copy), so they count as Sent copies."""
        sent = self.folder(FolderKind.SENT).id
        own = self._settings.email

        def work(client: IMAPClient) -> None:
            validity = self._validity("INBOX")
            uids = client.search(["HEADER", codec.STAMP_HEADER, "", "FROM", own])
            arrived = [s for s in self._summaries(client, "INBOX", validity, sorted(uids)) if s.stamp]
            if not arrived:
                return
            self._conn.select(sent)
            keep: list[int] = []
            drop: list[int] = []
            for summary in arrived:
                stamp = summary.stamp or ""
                filed = client.search(["HEADER", codec.STAMP_HEADER, stamp])
                uid = int(summary.id.split(":")[1])
                (drop if filed else keep).append(uid)
            self._conn.select("INBOX")
            if keep:
                client.add_flags(keep, [b"\\Seen"], silent=True)
                if self._conn.has("MOVE"):
                    client.move(keep, sent)
                else:
                    client.copy(keep, sent)
                    drop += keep
            if drop:
                client.delete_messages(drop, silent=True)
                if self._conn.has("UIDPLUS"):
                    client.uid_expunge(drop)
                else:
                    client.expunge()

        self._run(work)

    # -- near-real-time ---------------------------------------------------------------

    def watch(self, folder_ids: Sequence[str], on_change: Callable[[], None], stop: threading.Event) -> None:
        imap_watch.idle(self._settings, self._secret, folder_ids, on_change, stop)


__all__ = ["ImapMailbox"]
