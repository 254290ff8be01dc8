"""Sending through Graph: a stamped draft, its attachments, then ``send``.

Every request carries ``Prefer: IdType="ImmutableId"``, so the draft's id is also the id of
its Sent Items copy afterwards (learn.microsoft.com/graph/outlook-immutable-id, "Immutable
ID with sending mail").  The draft carries the chosen ``internetMessageId`` (writable only
while it is a draft) and the stamp, so a crash at any point leaves positive evidence:

* the stamped draft still in Drafts: the mail did not leave; send *that* draft;
* the stamped item in Outbox: submitted, the server is sending it; wait;
* the stamped copy in Sent Items: sent.

Attachments up to 3 MB are posted as JSON; larger ones go through an upload session in
320 KiB-multiple chunks (the upload URL is pre-authorised: no bearer token is sent to it).
When attachments follow the draft in further requests, the stamp is written last, so a
stamped draft is always complete; a draft whose attachments failed is deleted.
``send`` is limited to 30 messages a minute per mailbox (Exchange Online's sending limit).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from addin.errors import BridgeError, MailboxError, MessageError
from addin.mailbox import graph_items
from addin.mailbox.graph_http import GraphClient, Part, answer_error
from addin.mailbox.types import Attachment, OutgoingMessage, SendEvidence, SendState

log = logging.getLogger(__name__)

# Where a submitted message can be, in the order it travels.  The $batch asks in this order,
# so a server that runs the parts in order finds a message moving on in the later folder
# (Graph does not promise an order without dependsOn: see Mailbox.absence_is_evidence).
# The answer is the most conclusive place it was seen (the last in this order).
EVIDENCE_FOLDERS = (
    ("drafts", SendState.DRAFT),
    ("outbox", SendState.SUBMITTED),
    ("sentitems", SendState.SENT),
)


def message_path(item_id: str) -> str:
    return "/me/messages/" + quote(item_id, safe="")


class Sender:
    def __init__(self, client: GraphClient) -> None:
        self.client = client

    def create_draft(self, message: OutgoingMessage) -> str:
        """A stamped draft with every attachment; returns its (immutable) id."""
        body = graph_items.draft(message)  # validates before any traffic
        small, large = graph_items.split_attachments(message.attachments)
        # Small attachments ride along with the draft while the request stays under
        # Graph's 4 MB request limit; the rest are added one by one.
        inline: list[Attachment] = []
        budget = graph_items.UPLOAD_SESSION_THRESHOLD
        for a in small:
            if a.size * 4 // 3 + 1024 <= budget:
                inline.append(a)
                budget -= a.size * 4 // 3 + 1024
        later = [a for a in small if a not in inline]
        if inline:
            body["attachments"] = [graph_items.file_attachment(a) for a in inline]
        # A stamped draft is evidence that may be sent as it is after a crash, so it must be
        # complete: when attachments follow in further requests, the stamp comes last.
        stamp_later = bool(later or large) and "singleValueExtendedProperties" in body
        stamp = body.pop("singleValueExtendedProperties") if stamp_later else None
        # Not repeated on a gateway timeout: a second POST could leave two stamped drafts.
        created = self.client.json(
            "POST", "/me/messages", json=body, safe_to_repeat=False, unknown_outcome=True, what="draft"
        )
        if not isinstance(created, dict) or not created.get("id"):
            raise MailboxError(f"The mail server {self.client.server} created a draft without an id.")
        draft_id = str(created["id"])
        try:
            for a in later:
                self.client.json(
                    "POST",
                    message_path(draft_id) + "/attachments",
                    json=graph_items.file_attachment(a),
                    what=f"attachment {a.name!r}",
                )
            for a in large:
                self._upload(draft_id, a)
            if stamp is not None:
                self.client.json(
                    "PATCH",
                    message_path(draft_id),
                    json={"singleValueExtendedProperties": stamp},
                    what="draft",
                )
        except BridgeError:
            self._discard(draft_id)  # an incomplete draft must never be sent
            raise
        return draft_id

    def _discard(self, draft_id: str) -> None:
        try:
            self.client.request("DELETE", message_path(draft_id), what="draft")
        except BridgeError as exc:  # an unstamped leftover draft is clutter, not a risk
            log.info("incomplete draft not removed: %s", exc.message)

    def _upload(self, draft_id: str, a: Attachment) -> None:
        session = self.client.json(
            "POST",
            message_path(draft_id) + "/attachments/createUploadSession",
            json=graph_items.upload_session_request(a),
            what=f"attachment {a.name!r}",
        )
        url = session.get("uploadUrl") if isinstance(session, dict) else None
        if not url:
            raise MailboxError(f"The mail server {self.client.server} gave no upload address for {a.name!r}.")
        total = a.size
        start = 0
        while start < total:
            end = min(start + graph_items.UPLOAD_CHUNK, total)
            self.client.request(
                "PUT",
                str(url),
                data=a.content[start:end],
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"bytes {start}-{end - 1}/{total}",
                },
                authorize=False,  # the upload URL carries its own authorisation
                what=f"attachment {a.name!r}",
            )
            start = end

    def send_draft(self, draft_id: str) -> None:
        """Send a draft.  A draft that is no longer a draft was sent already: that is success."""
        self.client.sends.wait_turn()
        try:
            self.client.request("POST", message_path(draft_id) + "/send", unknown_outcome=True, what="send")
        except MessageError:
            # 400/404: gone from Drafts or no longer a draft.  Sent (by us before a crash,
            # or by another machine settling a stale claim) if the item says so.
            state = self.client.json(
                "GET", message_path(draft_id) + "?$select=id,isDraft", what="sent message"
            )
            if isinstance(state, dict) and state.get("isDraft") is False:
                return
            # Refused for good (say, a recipient the server rejects): remove the stamped
            # draft so a later retry of the e-mail starts from a clean mailbox.
            self._discard(draft_id)
            raise

    def send(self, message: OutgoingMessage) -> None:
        self.send_draft(self.create_draft(message))

    def evidence(self, stamp: str) -> SendEvidence:
        """Where the stamped message is (Sent Items, Outbox, Drafts), in one $batch."""
        select = "id,internetMessageId,isDraft,parentFolderId"
        parts = [
            Part(
                "GET",
                f"/me/mailFolders/{folder}/messages?$filter={quote(graph_items.stamp_filter(stamp), safe='')}"
                f"&$select={select}&$top=5",
            )
            for folder, _ in EVIDENCE_FOLDERS
        ]
        answers = self.client.batch(parts)
        for (_, state), answer in reversed(list(zip(EVIDENCE_FOLDERS, answers, strict=True))):
            if not answer.ok:
                if answer.status == 404:
                    continue  # a mailbox without that folder
                raise answer_error(answer, server=self.client.server, what="stamped message")
            hits = _values(answer.body)
            if state is SendState.DRAFT:
                hits = [h for h in hits if h.get("isDraft") is not False]
            if hits:
                first = hits[0]
                return SendEvidence(
                    state=state,
                    item_id=str(first.get("id") or ""),
                    message_id=str(first.get("internetMessageId") or "") or None,
                    count=len(hits),
                )
        return SendEvidence(state=SendState.NONE)


def _values(body: object) -> list[dict[str, object]]:
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return [v for v in body["value"] if isinstance(v, dict)]
    return []
