"""Drafts, sending, attachments and upload sessions.

- ``POST /me/messages`` creates a draft (201; learn.microsoft.com/en-us/graph/api/user-post-messages),
  attachments may come inline in the JSON; ``internetMessageHeaders`` only with ``x-`` names and
  only at creation (resources/internetmessageheader, user-sendmail example 2).
- ``POST /me/messages/{id}/send`` answers 202 Accepted with an empty body (message-send). The
  draft leaves Drafts and its Sent Items copy keeps the draft's id: the sandbox's ids are always
  immutable, and "Immutable ID with sending mail" (graph/outlook-immutable-id) documents that
  the draft's immutable id finds the sent copy. The copy keeps the stamp and internetMessageId;
  whether Exchange Online keeps a client-set Message-ID is unverified (the sandbox option
  ``replace_message_ids`` plays a server that does not). Delivery and the copy reuse the EWS
  send path (``ops_items.send_existing``/``send_fields``).
- Graph's send is asynchronous. Every send goes through the sandbox transport
  (addin/sandbox/mail/transport.py), shared with EWS: with its delay or outage fault a sent
  draft waits in Outbox (``isDraft`` false) before it reaches the recipients and Sent Items.
- ``send_limit_per_minute`` (fault knob, off by default; outbox.py) refuses sends over Exchange
  Online's 30-a-minute limit with 429.
- Sending something that is not a draft (sent already, or waiting in Outbox) is refused with
  400 ``ErrorInvalidOperation`` -- the code is the sandbox's choice; message-send documents no
  error for it.
- ``POST /me/sendMail`` (user-sendmail): 202; JSON ``{"message", "saveToSentItems"}`` or a
  base64 MIME body with ``Content-Type: text/plain``.
- Attachments: ``POST .../attachments`` for files up to 3 MB; larger ones go through an upload
  session (uploads.py).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from addin.sandbox.mail.graph import render
from addin.sandbox.mail.graph.folders import resolve
from addin.sandbox.mail.graph.http import GraphError, GraphRequest, GraphResponse, bad_request, not_found
from addin.sandbox.mail.mime import AttachmentTuple
from addin.sandbox.mail.ops_items import compose_fields
from addin.sandbox.mail.soap import EwsError
from addin.sandbox.mail.store import Folder

if TYPE_CHECKING:
    from addin.sandbox.mail.graph.router import GraphApp


SMALL_ATTACHMENT_LIMIT = 3 * 1024 * 1024
REQUEST_LIMIT = 4 * 1024 * 1024
HEADER_SET = {"DistinguishedPropertySetId": "InternetHeaders", "PropertyType": "String"}


def mailbox_of(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    address = value.get("emailAddress") if isinstance(value, dict) else None
    if not isinstance(address, dict) or not str(address.get("address") or "").strip():
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
    return {"name": str(address.get("name") or ""), "email": str(address["address"]).strip()}


def mailboxes_of(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise bad_request("Recipients must be an array.")
    return [box for box in (mailbox_of(v) for v in value) if box]


def attachment_tuple(entry: Any) -> AttachmentTuple:
    if not isinstance(entry, dict):
        raise bad_request("An attachment must be an object.")
    kind = str(entry.get("@odata.type") or "#microsoft.graph.fileAttachment").lower()
    if kind != "#microsoft.graph.fileattachment":
        raise bad_request("The sandbox accepts file attachments only.", "ErrorInvalidAttachmentType")
    try:
        content = base64.b64decode(str(entry.get("contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("contentBytes is not valid base64.") from None
    return (
        str(entry.get("name") or "attachment"),
        str(entry.get("contentType") or "application/octet-stream"),
        str(entry.get("contentId")) if entry.get("contentId") else None,
        bool(entry.get("isInline")),
        content,
    )


def message_fields(body: Any) -> tuple[dict[str, Any], list[AttachmentTuple]]:
    """Stored fields and attachments of a message given as Graph JSON."""
    from addin.sandbox.mail.graph.messages import apply_message_json

    if not isinstance(body, dict):
        raise bad_request("The request body must be a message.")
    body = dict(body)
    fields: dict[str, Any] = {}
    headers = body.pop("internetMessageHeaders", None) or []
    atts = [attachment_tuple(a) for a in body.pop("attachments", None) or []]
    apply_message_json(fields, body, is_draft=True)
    for header in headers:
        name = str(header.get("name") or "") if isinstance(header, dict) else ""
        if not name.lower().startswith("x-") or not re.fullmatch(r"[!-9;-~]+", name):
            raise bad_request(
                f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
                "InvalidInternetMessageHeader",
            )
        fields.setdefault("ext", []).append(
            {"attrs": {**HEADER_SET, "PropertyName": name}, "value": str(header.get("value") or "")}
        )
    return fields, atts


def _check_size(req: GraphRequest) -> None:
    if len(req.body) > REQUEST_LIMIT:
        raise GraphError(
            413,
            "RequestEntityTooLarge",
            "The request is over 4 MB; attach large files with an upload session.",
        )


def _create(app: GraphApp, req: GraphRequest, folder: Folder) -> GraphResponse:
    _check_size(req)
    fields, atts = message_fields(req.json())
    ctx = app.server.ctx(req.user)
    data, atts, _ = compose_fields(ctx, fields, atts, None)
    data["is_draft"] = True
    data["size"] = 0
    item = app.store.insert_item(req.user, folder.id, data, None, atts)
    answer = GraphResponse(201, render.message_json(req, app.store, item, None, {}))
    if req.prefer().get("idtype", "").lower() == "immutableid":
        answer.headers["Preference-Applied"] = 'IdType="ImmutableId"'
    return answer


def create_draft(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    return _create(app, req, resolve(app, req.user, "drafts"))


def create_in_folder(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    return _create(app, req, resolve(app, req.user, ids[0]))


def _recipients_check(data: dict[str, Any]) -> None:
    if not any(data.get(k) for k in ("to", "cc", "bcc")):
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")


def _rate_check(app: GraphApp, user: str) -> None:
    wait = app.send_rate.take(user, app.server.faults.send_limit_per_minute)
    if wait is not None:
        raise GraphError(
            429,
            "ApplicationThrottled",
            "The mailbox is over its limit of messages sent a minute.",
            {"Retry-After": str(wait), "RateLimit-Exceeded": "MessageRate"},
        )


def send_draft(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    from addin.sandbox.mail.graph.messages import item_of

    item = item_of(app, req.user, ids[0])
    if not item.data.get("is_draft"):
        raise GraphError(400, "ErrorInvalidOperation", "The message is not a draft and cannot be sent again.")
    _recipients_check(item.data)
    _rate_check(app, req.user)
    ctx = app.server.ctx(req.user)
    sent = resolve(app, req.user, "sentitems")
    try:
        # Asynchronous when the transport lags: the message waits in Outbox, no longer a draft.
        app.server.transport.send_stored(ctx, item, sent, keep_id=True)
    except EwsError as exc:
        raise GraphError(400, exc.code, exc.message) from None
    return GraphResponse(202)


def send_mail(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    _check_size(req)
    ctx = app.server.ctx(req.user)
    mime: bytes | None = None
    if req.headers.get("content-type", "").lower().startswith("text/plain"):
        try:
            mime = base64.b64decode(req.body, validate=False)
        except (binascii.Error, ValueError):
            raise bad_request(
                "The MIME body must be base64.", "ErrorMimeContentInvalidBase64String"
            ) from None
        save = True
        data, atts, mime = compose_fields(ctx, {}, [], mime)
    else:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            raise bad_request("sendMail needs a message.", "ErrorInvalidRequest")
        fields, atts = message_fields(body["message"])
        save = body.get("saveToSentItems", True) is not False
        data, atts, mime = compose_fields(ctx, fields, atts, None)
    _recipients_check(data)
    _rate_check(app, req.user)
    sent = resolve(app, req.user, "sentitems") if save else None
    try:
        app.server.transport.send_new(ctx, data, atts, mime, sent)
    except EwsError as exc:
        raise GraphError(400, exc.code, exc.message) from None
    return GraphResponse(202)


# -- attachments ------------------------------------------------------------------------------------


def add_attachment(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    from addin.sandbox.mail.graph.messages import item_of

    _check_size(req)
    item = item_of(app, req.user, ids[0])
    name, ctype, cid, inline, content = attachment_tuple(req.json())
    if len(content) > SMALL_ATTACHMENT_LIMIT:
        raise GraphError(
            413, "RequestEntityTooLarge", "Files over 3 MB need an upload session (createUploadSession)."
        )
    att_id = app.store.add_attachment(item.id, name, ctype, cid, inline, content)
    att = app.store.attachment(att_id)
    fresh = item_of(app, req.user, item.id)
    assert att is not None
    return GraphResponse(201, render.attachment_json(app.store, fresh, att, content=True))


def delete_attachment(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    from addin.sandbox.mail.graph.messages import item_of

    item = item_of(app, req.user, ids[0])
    att = app.store.attachment(ids[1])
    if att is None or att.item_id != item.id:
        raise not_found("The attachment was not found.")
    app.store.delete_attachment(att.id)
    return GraphResponse(204)
