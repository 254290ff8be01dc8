"""The Exchange Web Services backend of the Mailbox port (exchangelib).

Connecting: the EWS URL comes from remembered hints, else ``MailboxSettings.server``
(a URL or a host name), else autodiscover against ``MailboxSettings.autodiscover_url``
(tests and odd setups) or the standard autodiscover steps from the e-mail address.
Password (Basic/NTLM, probed unless remembered) or OAuth bearer token (``auth="oauth"``;
the SecretSource returns a fresh MSAL token and is asked once more after a 401).

Hints: after :meth:`EwsMailbox.check` (or any first call), :meth:`EwsMailbox.hints`
returns plain strings (EWS URL, auth type, server build, API version, the address they
belong to).  Store them in non-secret state and pass them back in
``MailboxSettings.options``; the next connect then sends no discovery or probe request.

Sync (``ews_sync``): ``sync(folder, None)`` starts "now": it walks the folder with
id-only SyncFolderItems pages and keeps only the final state, never building the items.

Busy: exchangelib runs fail-fast; an ``ErrorServerBusy`` (or HTTP 429/503) is retried
here after the server's BackOffMilliseconds (capped), at most a few times, with an
injectable ``sleep``.  401/403 fail at once with AuthError.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from exchangelib import Account, FolderCollection, Q
from exchangelib.folders import Folder
from exchangelib.folders.queryset import DEEP
from exchangelib.items import ALWAYS_OVERWRITE, SAVE_ONLY, SEND_TO_NONE
from exchangelib.items import Message as ExMessage

from addin.errors import AuthError, BridgeError, ConfigError, MailboxError, MessageError
from addin.mailbox import ews_categories, ews_connect, ews_evidence, ews_fetch, ews_items, ews_sync, ews_watch
from addin.mailbox.ews_errors import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT,
    Backoff,
    BridgeRetryPolicy,
    convert,
    item_error_reason,
    sync_state_invalid,
)
from addin.mailbox.ews_services import BodyUpdateItem
from addin.mailbox.port import Mailbox
from addin.mailbox.types import (
    FetchFailure,
    FolderKind,
    MailboxInfo,
    MailboxSettings,
    Mark,
    Message,
    MessagePage,
    MessageSummary,
    OutgoingMessage,
    SecretSource,
    SendEvidence,
    SyncPage,
)
from addin.mailbox.types import (
    Folder as PortFolder,
)

T = TypeVar("T")

# exchangelib logs full request headers (Authorization included) at DEBUG; keep its
# loggers at INFO or above so a debug log of the app never holds a password or token.
for _name in ("exchangelib", "exchangelib.util", "exchangelib.protocol"):
    _logger = logging.getLogger(_name)
    if _logger.level < logging.INFO:
        _logger.setLevel(logging.INFO)

_WELL_KNOWN = {
    FolderKind.INBOX: "inbox",
    FolderKind.SENT: "sent",
    FolderKind.DRAFTS: "drafts",
    FolderKind.DELETED: "trash",
    FolderKind.ROOT: "msg_folder_root",
}


def _option_float(options: dict[str, str], key: str, default: float) -> float:
    try:
        return float(options.get(key, default))
    except (TypeError, ValueError):
        raise ConfigError(f"Mailbox option {key!r} must be a number.") from None


class EwsMailbox(Mailbox):
    """One mailbox reached through EWS; thread-safe, connects lazily."""

    backend_name = "ews"
    # Exchange keeps a message sent with CreateItem/SendItem in Outbox until its Sent Items copy
    # is filed (one store move), and send_evidence reads Outbox before Sent Items.
    absence_is_evidence = True

    def __init__(
        self,
        settings: MailboxSettings,
        secret: SecretSource,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._settings = settings
        self._secret = secret
        self._lock = threading.RLock()
        self._account: Account | None = None
        self._credentials: Any = None
        self._folders: dict[FolderKind, Any] = {}
        self._by_id: dict[str, Any] = {}
        self._last_hints: dict[str, str] = {}
        options = settings.options or {}
        self._backoff = Backoff(
            sleep or time.sleep,
            max_retries=int(_option_float(options, "busy_max_retries", DEFAULT_MAX_RETRIES)),
            max_wait=_option_float(options, "busy_max_wait", DEFAULT_MAX_WAIT),
        )

    @classmethod
    def from_settings(
        cls,
        settings: MailboxSettings,
        secret: SecretSource,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> EwsMailbox:
        return cls(settings, secret, sleep=sleep)

    # -- connection -------------------------------------------------------------------

    @property
    def _server(self) -> str:
        account = self._account  # read once: another thread may drop it meanwhile
        if account is not None:
            return str(account.protocol.service_endpoint)
        return self._settings.server or self._settings.email.partition("@")[2] or "the mail server"

    def _connect(self) -> Account:
        with self._lock:
            if self._account is None:
                credentials = ews_connect.build_credentials(self._settings, self._secret)
                self._account = ews_connect.make_account(self._settings, credentials, BridgeRetryPolicy())
                self._credentials = credentials
            return self._account

    def _refresh_token(self) -> bool:
        """After a 401 with OAuth: ask the SecretSource for a new token and drop old sessions."""
        credentials = self._credentials
        if not self._settings.auth.bearer or not isinstance(credentials, ews_connect.TokenCredentials):
            return False
        credentials.reload()
        account = self._account  # read once: another thread may drop it meanwhile
        if account is not None:
            account.protocol.close()
        return True

    def _run(self, fn: Callable[[Account], T], *, unknown_outcome: bool = False) -> T:
        def attempt() -> T:
            return fn(self._connect())

        try:
            return self._backoff.run(
                attempt,
                server=self._server,
                on_auth_failure=self._refresh_token,
                unknown_outcome=unknown_outcome,
            )
        except AuthError:
            # Drop the session so the next call reads the secret again (the user may have
            # fixed the password or signed in anew); keep what was learnt about the server.
            with self._lock:
                if self._account is not None:
                    self._last_hints = self._hints_locked()
                    ews_connect.forget_account(self._account)
                    self._account = None
                    self._folders.clear()
            raise

    def _hints_locked(self) -> dict[str, str]:
        if self._account is None:
            return dict(self._last_hints)
        return ews_connect.hints_of(self._account, self._settings.email or self._settings.username)

    def hints(self) -> dict[str, str]:
        """Discovery and probe results to persist (non-secret) and pass back in settings.options."""
        with self._lock:
            return self._hints_locked()

    def check(self) -> MailboxInfo:
        def probe(account: Account) -> MailboxInfo:
            self._well_known(account, FolderKind.INBOX)
            version = account.version
            build = version.build
            return MailboxInfo(
                address=str(account.primary_smtp_address),
                server=str(account.protocol.service_endpoint),
                backend=self.backend_name,
                version=str(build) if build is not None else str(version.api_version),
            )

        return self._run(probe)

    def close(self) -> None:
        with self._lock:
            if self._account is not None:
                ews_connect.forget_account(self._account)
            self._account = None
            self._folders.clear()
            self._by_id.clear()

    # -- folders ----------------------------------------------------------------------

    def _well_known(self, account: Account, kind: FolderKind) -> Any:
        attribute = _WELL_KNOWN.get(kind)
        if attribute is None:
            raise ConfigError(f"{kind.value!r} is not a well-known folder.")
        with self._lock:
            cached = self._folders.get(kind)
        if cached is not None:
            return cached
        folder = getattr(account, attribute)  # GetFolder on the distinguished id, cached by exchangelib
        with self._lock:
            self._folders[kind] = folder
            self._by_id[str(folder.id)] = folder
        return folder

    def _folder_by_id(self, account: Account, folder_id: str) -> Any:
        with self._lock:
            cached = self._by_id.get(folder_id)
        if cached is not None:
            return cached
        # An id the engine stored earlier: address it directly, no lookup needed.
        folder = Folder(root=account.root, id=folder_id)
        with self._lock:
            self._by_id[folder_id] = folder
        return folder

    def _port_folder(self, folder: Any, kind: FolderKind, path: str = "") -> PortFolder:
        parent = getattr(folder, "parent_folder_id", None)
        return PortFolder(
            id=str(folder.id),
            name=str(folder.name or kind.value),
            kind=kind,
            parent_id=str(parent.id) if parent is not None and parent.id else None,
            total=getattr(folder, "total_count", None),
            path=path or str(folder.name or ""),
        )

    def folder(self, kind: FolderKind) -> PortFolder:
        return self._run(lambda account: self._port_folder(self._well_known(account, kind), kind))

    def list_folders(self) -> list[PortFolder]:
        def work(account: Account) -> list[PortFolder]:
            root = self._well_known(account, FolderKind.ROOT)
            kinds = {str(root.id): FolderKind.ROOT}
            for kind in (FolderKind.INBOX, FolderKind.SENT, FolderKind.DRAFTS, FolderKind.DELETED):
                try:
                    kinds[str(self._well_known(account, kind).id)] = kind
                except BridgeError:
                    raise
                except Exception as exc:
                    # A server without, say, a Drafts folder still lists the rest.
                    if "FolderNotFound" not in type(exc).__name__:
                        raise
            found = list(FolderCollection(account=account, folders=[root]).find_folders(depth=DEEP))
            names = {str(f.id): (str(f.name or ""), getattr(f.parent_folder_id, "id", None)) for f in found}

            def path_of(fid: str) -> str:
                parts: list[str] = []
                seen: set[str] = set()
                while fid in names and fid not in seen:
                    seen.add(fid)
                    name, parent = names[fid]
                    parts.append(name)
                    fid = str(parent) if parent else ""
                return "/".join(reversed(parts))

            result = []
            for f in found:
                if isinstance(f, Exception):
                    continue
                folder_class = getattr(f, "folder_class", None)
                if folder_class and not str(folder_class).startswith("IPF.Note"):
                    continue  # calendars, contacts, tasks: not mail
                with self._lock:
                    self._by_id.setdefault(str(f.id), f)
                kind = kinds.get(str(f.id), FolderKind.OTHER)
                result.append(self._port_folder(f, kind, path_of(str(f.id))))
            return result

        return self._run(work)

    # -- sync -------------------------------------------------------------------------

    def sync(self, folder_id: str, sync_state: str | None, max_changes: int = 100) -> SyncPage:
        if max_changes <= 0:
            raise ValueError("max_changes must be positive")

        def fresh_state(account: Account) -> SyncPage:
            return ews_sync.fresh_state(account, self._folder_by_id(account, folder_id))

        def page(account: Account) -> SyncPage:
            folder = self._folder_by_id(account, folder_id)
            return ews_sync.page(account, folder, folder_id, sync_state or "", max_changes)

        if sync_state is None:
            return self._run(fresh_state)
        try:
            return self._run(page)
        except MailboxError as exc:
            if sync_state_invalid(exc):
                raise MailboxError(
                    "The saved sync state of this folder is no longer valid; sync again from the start.",
                    title="Mailbox sync restarted",
                ) from exc
            raise

    # -- reading ----------------------------------------------------------------------

    def fetch(
        self, ids: Sequence[str], *, with_attachments: bool = True, with_mime: bool = False
    ) -> list[Message | FetchFailure]:
        ids = list(ids)
        if not ids:
            return []

        def work(account: Account) -> list[Message | FetchFailure]:
            inbox = self._well_known(account, FolderKind.INBOX)
            return ews_fetch.messages(
                account, inbox, ids, with_attachments=with_attachments, with_mime=with_mime
            )

        return self._run(work)

    def _find(self, folder_id: str, q: Any) -> list[MessageSummary]:
        def work(account: Account) -> list[MessageSummary]:
            folder = self._folder_by_id(account, folder_id)
            qs = folder.filter(q).only(*ews_items.SUMMARY_FIELDS)
            return [ews_items.summary(i, folder_id) for i in qs if not isinstance(i, Exception)]

        return self._run(work)

    def find_by_stamp(self, folder_id: str, stamp: str) -> list[MessageSummary]:
        return self._find(folder_id, Q(**{ews_items.STAMP_FIELD: stamp}))

    def find_by_message_id(self, folder_id: str, message_id: str) -> list[MessageSummary]:
        return self._find(folder_id, Q(message_id=message_id))

    def list_messages(
        self, folder_id: str, *, offset: int = 0, limit: int = 50, text: str | None = None
    ) -> MessagePage:
        if offset < 0 or limit <= 0:
            raise ValueError("offset must be >= 0 and limit > 0")

        def work(account: Account) -> MessagePage:
            folder = self._folder_by_id(account, folder_id)
            qs = folder.all()
            if text:
                qs = folder.filter(
                    Q(subject__icontains=text) | Q(body__icontains=text) | Q(sender__icontains=text)
                )
            qs = qs.order_by("-datetime_received").only(*ews_items.SUMMARY_FIELDS)
            # One FindItem: ask for one more than a page to learn whether another follows.
            rows = [i for i in qs[offset : offset + limit + 1] if not isinstance(i, Exception)]
            if not rows and offset == 0:
                # exchangelib drops FindItem's error for a folder id the server cannot decode
                # (ErrorInvalidIdMalformed): confirm an empty folder exists, so a bad id is a clear
                # error and not an empty list.
                for found in FolderCollection(account=account, folders=[folder]).get_folders():
                    if isinstance(found, Exception):
                        raise found
            items = tuple(ews_items.summary(i, folder_id) for i in rows[:limit])
            return MessagePage(items=items, total=None, offset=offset, more=len(rows) > limit)

        return self._run(work)

    # -- writing ----------------------------------------------------------------------

    def _update(self, id: str, field: str, value: Any) -> None:
        def work(account: Account) -> None:
            item = ExMessage(account=account, id=id)
            setattr(item, field, value)
            answers = list(
                BodyUpdateItem(account=account).call(
                    items=[(item, [field])],
                    conflict_resolution=ALWAYS_OVERWRITE,
                    message_disposition=SAVE_ONLY,
                    send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                    suppress_read_receipts=True,
                )
            )
            for answer in answers:
                if isinstance(answer, Exception):
                    raise MessageError(f"The message could not be updated: {item_error_reason(answer)}")

        self._run(work)

    def mark_many(self, marks: Sequence[Mark]) -> list[str | None]:
        """Categories and stamp of many messages in one UpdateItem (exchangelib chunks it)."""
        if not marks:
            return []

        def work(account: Account) -> list[str | None]:
            items = []
            for mark in marks:
                item = ExMessage(account=account, id=mark.id)
                item.categories = list(dict.fromkeys(c for c in mark.categories if c)) or None
                setattr(item, ews_items.STAMP_FIELD, mark.stamp or None)
                items.append((item, ["categories", ews_items.STAMP_FIELD]))
            answers = list(
                BodyUpdateItem(account=account).call(
                    items=items,
                    conflict_resolution=ALWAYS_OVERWRITE,
                    message_disposition=SAVE_ONLY,
                    send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                    suppress_read_receipts=True,
                )
            )
            return [item_error_reason(a) if isinstance(a, Exception) else None for a in answers]

        result: list[str | None] = self._run(work)
        return result

    def watch(self, folder_ids: Sequence[str], on_change: Callable[[], None], stop: threading.Event) -> None:
        ews_watch.stream_changes(self._run, self._folder_by_id, folder_ids, on_change, stop)

    def send_evidence(self, stamp: str) -> SendEvidence:
        """Outbox (a message the transport has not taken yet), then Sent Items: travel order."""

        def work(account: Account) -> SendEvidence:
            return ews_evidence.evidence(self._well_known(account, FolderKind.SENT), account.outbox, stamp)

        return self._run(work)

    def set_categories(self, id: str, categories: Sequence[str]) -> None:
        cleaned = list(dict.fromkeys(c for c in categories if c))
        self._update(id, "categories", cleaned or None)

    def set_stamp(self, id: str, stamp: str | None) -> None:
        self._update(id, ews_items.STAMP_FIELD, stamp or None)

    def master_categories(self) -> list[str]:
        return ews_categories.names(self._run(lambda account: ews_categories.read(account)[1]))

    def update_master_categories(self, add: Sequence[str], remove: Sequence[str]) -> None:
        self._run(lambda account: ews_categories.update(account, add, remove))

    def send(self, message: OutgoingMessage) -> None:
        def work(account: Account) -> None:
            sent = self._well_known(account, FolderKind.SENT)
            ews_items.outgoing(account, sent, message).send_and_save()

        # Validate before any traffic so a bad message fails as itself, not as a server error.
        ews_items.outgoing(None, None, message)
        try:
            self._run(work, unknown_outcome=True)
        except BridgeError:
            raise
        except Exception as exc:
            raise convert(exc, server=self._server, unknown_outcome=True) from exc


__all__ = ["EwsMailbox"]
