"""The Microsoft Graph backend of the Mailbox port (Exchange Online), over ``requests``.

Connecting: ``MailboxSettings.server`` is the Graph root (default
``https://graph.microsoft.com/v1.0``); the SecretSource returns a bearer token (MSAL), asked
again once after a 401.  Every request carries ``Prefer: IdType="ImmutableId"`` so a
message keeps its id when it moves, and a sent draft's id names its Sent Items copy.

Jobs by module: :mod:`graph_http` (retries, throttling, ``$batch``, errors),
:mod:`graph_items` (JSON <-> port types, the stamp), :mod:`graph_sync` (delta sync, watch),
:mod:`graph_send` (drafts, uploads, send, evidence).  This module holds folders, reading,
searching and marking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from addin.errors import BridgeError, ConfigError, MailboxError
from addin.mailbox import graph_items
from addin.mailbox.ews_errors import DEFAULT_MAX_RETRIES, DEFAULT_MAX_WAIT
from addin.mailbox.graph_categories import MasterCategories
from addin.mailbox.graph_errors import answers_checked
from addin.mailbox.graph_http import Answer, GraphClient, Part, answer_error
from addin.mailbox.graph_send import Sender, message_path
from addin.mailbox.graph_sync import WATCH_INTERVAL, DeltaSync, folder_path
from addin.mailbox.port import Mailbox
from addin.mailbox.types import (
    Attachment,
    FetchFailure,
    Folder,
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

log = logging.getLogger(__name__)

GRAPH_ROOT = "https://graph.microsoft.com/v1.0"
HINT_FOR = "graph_for"
_FOLDER_SELECT = "id,displayName,parentFolderId,totalItemCount,childFolderCount"
_KINDS = (FolderKind.INBOX, FolderKind.SENT, FolderKind.DRAFTS, FolderKind.DELETED)
_FIND_TOP = 50


def _option_float(options: Mapping[str, str], key: str, default: float) -> float:
    try:
        return float(options.get(key, default))
    except (TypeError, ValueError):
        raise ConfigError(f"Mailbox option {key!r} must be a number.") from None


def graph_root(settings: MailboxSettings) -> str:
    root = (settings.server or GRAPH_ROOT).strip().rstrip("/")
    parts = urlsplit(root)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigError(f"The Microsoft Graph address {root!r} is not a URL.")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        # A bearer token never travels in clear text; only a sandbox on this computer is plain http.
        raise ConfigError("Microsoft Graph must be reached over https.")
    return root


class GraphMailbox(Mailbox):
    """One Exchange Online mailbox through Microsoft Graph; thread-safe, connects lazily."""

    backend_name = "graph"
    sends_drafts = True

    def __init__(
        self, settings: MailboxSettings, secret: SecretSource, *, sleep: Callable[[float], None] | None = None
    ) -> None:
        options = settings.options or {}
        self._settings = settings
        self._client = GraphClient(
            graph_root(settings),
            secret,
            timeout=settings.timeout,
            verify=settings.verify_tls,
            sleep=sleep or time.sleep,
            max_retries=int(_option_float(options, "busy_max_retries", DEFAULT_MAX_RETRIES)),
            max_wait=_option_float(options, "busy_max_wait", DEFAULT_MAX_WAIT),
        )
        self._delta = DeltaSync(self._client)
        self._sender = Sender(self._client)
        self._watch_interval = _option_float(options, "watch_interval", WATCH_INTERVAL)
        self._lock = threading.Lock()
        self._folders: dict[FolderKind, Folder] = {}
        self._categories = MasterCategories(self._client)
        self._address = ""

    @classmethod
    def from_settings(
        cls, settings: MailboxSettings, secret: SecretSource, *, sleep: Callable[[float], None] | None = None
    ) -> GraphMailbox:
        return cls(settings, secret, sleep=sleep)

    @property
    def requests_sent(self) -> int:
        """HTTP requests this instance made (a ``$batch`` is one); for benchmarks."""
        return self._client.requests_sent

    # -- connection -------------------------------------------------------------------------

    @answers_checked
    def check(self) -> MailboxInfo:
        me = self._client.json("GET", "/me?$select=mail,userPrincipalName,displayName", what="account")
        address = str((me or {}).get("mail") or (me or {}).get("userPrincipalName") or "")
        if not address:
            raise MailboxError("Microsoft Graph did not tell the mailbox's address.")
        wanted = self._settings.email.lower()
        if wanted and address.lower() != wanted:
            raise ConfigError(
                f"The Microsoft sign-in is for {address}, not for {self._settings.email}; "
                "sign in with that account.",
                title="Wrong account",
            )
        self._address = address
        self.folder(FolderKind.INBOX)
        return MailboxInfo(
            address=address, server=self._client.base_url, backend=self.backend_name, version="v1.0"
        )

    def hints(self) -> dict[str, str]:
        # Graph needs no discovery; nothing to remember beyond the address checked.
        return {HINT_FOR: self._address.lower()} if self._address else {}

    def close(self) -> None:
        self._client.close()

    # -- folders ------------------------------------------------------------------------------

    @staticmethod
    def _folder(data: Mapping[str, Any], kind: FolderKind = FolderKind.OTHER, path: str = "") -> Folder:
        name = str(data.get("displayName") or kind.value)
        total = data.get("totalItemCount")
        return Folder(
            id=str(data["id"]),
            name=name,
            kind=kind,
            parent_id=str(data["parentFolderId"]) if data.get("parentFolderId") else None,
            total=int(total) if isinstance(total, int) else None,
            path=path or name,
        )

    @answers_checked
    def folder(self, kind: FolderKind) -> Folder:
        if kind is FolderKind.OTHER:
            raise ConfigError(f"{kind.value!r} is not a well-known folder.")
        with self._lock:
            cached = self._folders.get(kind)
        if cached is not None:
            return cached
        data = self._client.json(
            "GET", f"/me/mailFolders/{kind.value}?$select={_FOLDER_SELECT}", what="folder"
        )
        folder = self._folder(data, kind)
        with self._lock:
            self._folders[kind] = folder
        return folder

    @answers_checked
    def list_folders(self) -> list[Folder]:
        wanted = (FolderKind.ROOT, *_KINDS)
        answers = self._client.batch(
            [Part("GET", f"/me/mailFolders/{k.value}?$select={_FOLDER_SELECT}") for k in wanted]
        )
        kinds: dict[str, FolderKind] = {}
        root_id = ""
        for kind, answer in zip(wanted, answers, strict=True):
            if not answer.ok:
                if kind is FolderKind.ROOT or answer.status != 404:
                    raise answer_error(answer, server=self._client.server, what="folders")
                continue  # a mailbox without, say, Drafts still lists the rest
            kinds[str(answer.body["id"])] = kind
            if kind is FolderKind.ROOT:
                root_id = str(answer.body["id"])
        result: list[Folder] = []
        level: list[tuple[str, str]] = [(root_id, "")]  # (folder id, its path)
        while level:
            parts = [
                Part("GET", f"{folder_path(fid)}/childFolders?$select={_FOLDER_SELECT}&$top=250")
                for fid, _ in level
            ]
            following: list[tuple[str, str]] = []
            for (_, parent_path), answer in zip(level, self._client.batch(parts), strict=True):
                if not answer.ok:
                    raise answer_error(answer, server=self._client.server, what="folders")
                for child in self._all_pages(answer):
                    path = (
                        f"{parent_path}/{child.get('displayName') or ''}"
                        if parent_path
                        else str(child.get("displayName") or "")
                    )
                    folder = self._folder(child, kinds.get(str(child["id"]), FolderKind.OTHER), path)
                    result.append(folder)
                    if child.get("childFolderCount") != 0:
                        following.append((folder.id, path))
            level = following
        return result

    def _all_pages(self, answer: Answer) -> list[Mapping[str, Any]]:
        body = answer.body if isinstance(answer.body, Mapping) else {}
        items = [v for v in body.get("value") or () if isinstance(v, Mapping)]
        link = body.get("@odata.nextLink")
        while link:
            more = self._client.json("GET", str(link), what="folders") or {}
            items += [v for v in more.get("value") or () if isinstance(v, Mapping)]
            link = more.get("@odata.nextLink")
        return items

    # -- sync and watch -------------------------------------------------------------------------

    @answers_checked
    def sync(self, folder_id: str, sync_state: str | None, max_changes: int = 100) -> SyncPage:
        return self._delta.sync(folder_id, sync_state, max_changes)

    @answers_checked
    def sync_many(self, states: Mapping[str, str | None], max_changes: int = 100) -> dict[str, SyncPage]:
        return self._delta.sync_many(states, max_changes)

    @answers_checked
    def watch(self, folder_ids: Sequence[str], on_change: Callable[[], None], stop: threading.Event) -> None:
        self._delta.watch(folder_ids, on_change, stop, self._watch_interval)

    # -- reading ------------------------------------------------------------------------------

    @answers_checked
    def fetch(
        self, ids: Sequence[str], *, with_attachments: bool = True, with_mime: bool = False
    ) -> list[Message | FetchFailure]:
        ids = list(ids)
        if not ids:
            return []
        expand = graph_items.STAMP_EXPAND + (",attachments" if with_attachments else "")
        query = f"?$select={graph_items.MESSAGE_SELECT}&$expand={quote(expand, safe=',()')}"
        answers = self._client.batch([Part("GET", message_path(i) + query) for i in ids])
        result: list[Message | FetchFailure] = []
        for requested, answer in zip(ids, answers, strict=True):
            if not answer.ok or not isinstance(answer.body, Mapping):
                error = answer_error(answer, server=self._client.server, what="message")
                result.append(FetchFailure(id=requested, reason=error.message))
                continue
            try:
                atts: list[Attachment] = []
                for raw in answer.body.get("attachments") or () if with_attachments else ():
                    att = graph_items.attachment(raw)
                    if att is not None:
                        atts.append(att)
                mime = self._mime(requested) if with_mime else None
                msg = graph_items.message(answer.body, tuple(atts), mime)
                # The port promises the id asked for (Graph may answer with another form of it).
                result.append(msg if msg.id == requested else _with_id(msg, requested))
            except BridgeError as exc:
                result.append(FetchFailure(id=requested, reason=exc.message))
            except Exception as exc:  # one odd message must not sink the batch
                result.append(FetchFailure(id=requested, reason=f"cannot read message: {exc!r}"[:300]))
        return result

    def _mime(self, item_id: str) -> bytes:
        return bytes(
            self._client.request("GET", message_path(item_id) + "/$value", what="message source").content
        )

    def _find(self, folder_id: str, odata_filter: str) -> list[MessageSummary]:
        query = (
            f"?$filter={quote(odata_filter, safe='')}&$select={graph_items.SUMMARY_SELECT}"
            f"&$expand={quote(graph_items.STAMP_EXPAND, safe='')}&$top={_FIND_TOP}"
        )
        body = self._client.json("GET", f"{folder_path(folder_id)}/messages{query}", what="search")
        return [
            graph_items.summary(v, folder_id)
            for v in (body or {}).get("value") or ()
            if isinstance(v, Mapping)
        ]

    @answers_checked
    def find_by_stamp(self, folder_id: str, stamp: str) -> list[MessageSummary]:
        # Graph compares extended property values without regard to case; the stamp is exact.
        return [s for s in self._find(folder_id, graph_items.stamp_filter(stamp)) if s.stamp == stamp]

    @answers_checked
    def find_by_message_id(self, folder_id: str, message_id: str) -> list[MessageSummary]:
        return self._find(folder_id, graph_items.message_id_filter(message_id))

    @answers_checked
    def list_messages(
        self, folder_id: str, *, offset: int = 0, limit: int = 50, text: str | None = None
    ) -> MessagePage:
        if offset < 0 or limit <= 0:
            raise ValueError("offset must be >= 0 and limit > 0")
        base = f"{folder_path(folder_id)}/messages?$select={graph_items.SUMMARY_SELECT}"
        base += f"&$expand={quote(graph_items.STAMP_EXPAND, safe='')}"
        if text:
            # $search sorts newest first and allows neither $orderby nor $skip: ask for the
            # rows up to the end of the page and cut the page out here.
            url = (
                f"{base}&$search={quote(graph_items.search_literal(text), safe='')}&$top={offset + limit + 1}"
            )
            rows = self._rows(url, offset + limit + 1)[offset:]
        else:
            url = f"{base}&$orderby={quote('receivedDateTime desc')}&$top={limit + 1}&$skip={offset}"
            rows = self._rows(url, limit + 1)
        items = tuple(graph_items.summary(r, folder_id) for r in rows[:limit])
        return MessagePage(items=items, total=None, offset=offset, more=len(rows) > limit)

    def _rows(self, url: str, wanted: int) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        link: str | None = url
        while link and len(rows) < wanted:
            body = self._client.json("GET", link, what="folder") or {}
            rows += [v for v in body.get("value") or () if isinstance(v, Mapping)]
            link = body.get("@odata.nextLink")
        return rows

    # -- writing ------------------------------------------------------------------------------

    @answers_checked
    def set_categories(self, id: str, categories: Sequence[str]) -> None:
        body = graph_items.mark_body(categories, None, set_stamp=False)
        self._categories.ensure(body["categories"])
        self._client.json("PATCH", message_path(id), json=body, what="message")

    @answers_checked
    def master_categories(self) -> list[str]:
        return self._categories.names()

    @answers_checked
    def update_master_categories(self, add: Sequence[str], remove: Sequence[str]) -> None:
        self._categories.update(add, remove)

    @answers_checked
    def set_stamp(self, id: str, stamp: str | None) -> None:
        self._client.json(
            "PATCH", message_path(id), json=graph_items.mark_body(None, stamp, set_stamp=True), what="message"
        )

    @answers_checked
    def mark_many(self, marks: Sequence[Mark]) -> list[str | None]:
        """Categories and stamp of many messages: one PATCH per message, 20 to a $batch."""
        if not marks:
            return []
        parts: list[Part] = []
        errors: list[str | None] = []
        for mark in marks:
            try:
                body = graph_items.mark_body(mark.categories, mark.stamp, set_stamp=True)
            except BridgeError as exc:
                body = {}
                errors.append(exc.message)
            else:
                errors.append(None)
            parts.append(Part("PATCH", message_path(mark.id), body=body))
        self._categories.ensure([c for m in marks for c in m.categories])
        valid = [n for n, e in enumerate(errors) if e is None]
        answers = self._client.batch([parts[n] for n in valid])
        for n, answer in zip(valid, answers, strict=True):
            if not answer.ok:
                errors[n] = answer_error(answer, server=self._client.server, what="message").message
        return errors

    # -- sending ------------------------------------------------------------------------------

    @answers_checked
    def send(self, message: OutgoingMessage) -> None:
        self._sender.send(message)

    @answers_checked
    def create_draft(self, message: OutgoingMessage) -> str:
        return self._sender.create_draft(message)

    @answers_checked
    def send_draft(self, draft_id: str) -> None:
        self._sender.send_draft(draft_id)

    @answers_checked
    def send_evidence(self, stamp: str) -> SendEvidence:
        return self._sender.evidence(stamp)


def _with_id(msg: Message, item_id: str) -> Message:
    from dataclasses import replace

    return replace(msg, id=item_id)


__all__ = ["GraphMailbox"]
