"""Reading and changing messages: list (``$select $top $skip $orderby $filter $search $count
$expand``), get, ``$value``, PATCH, DELETE, move, copy, attachments.

Pages: learn.microsoft.com/en-us/graph/api/user-list-messages (default page 10, at most 1000),
message-get, message-update, message-delete, message-move, message-copy,
message-list-attachments, attachment-get, and /graph/outlook-get-mime-message for ``$value``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from addin.sandbox.mail.graph import extprops, odata, render
from addin.sandbox.mail.graph.folders import page_args, paged, resolve
from addin.sandbox.mail.graph.http import GraphError, GraphRequest, GraphResponse, bad_request, not_found
from addin.sandbox.mail.ops_items import item_mime
from addin.sandbox.mail.soap import now_iso
from addin.sandbox.mail.store import Folder, Item

if TYPE_CHECKING:
    from addin.sandbox.mail.graph.router import GraphApp

DEFAULT_PAGE = 10
MAX_PAGE = 1000
_BY_MESSAGE_ID = re.compile(r"^\s*internetMessageId\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
# The stamp look-up: one named extended property ({GUID} in its id; values stored as given, unlike
# the sensitivity tag) compared with one value, nothing else.
_BY_PROPERTY = re.compile(
    r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'[^']*\{[^']*'\s+and\s+"
    r"\1/value\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$",
    re.IGNORECASE,
)
_SORT_KEYS = {
    "receiveddatetime": "datetime_received",
    "sentdatetime": "datetime_sent",
    "lastmodifieddatetime": "last_modified",
    "createddatetime": "datetime_created",
    "subject": "subject",
}


def item_of(app: GraphApp, user: str, item_id: str) -> Item:
    item = app.store.item(item_id)
    if item is None or item.mailbox != user:
        raise not_found()
    return item


def _immutable(req: GraphRequest, answer: GraphResponse) -> GraphResponse:
    """The sandbox's ids never change (moves keep them), so ``Prefer: IdType="ImmutableId"``
    is always honoured (learn.microsoft.com/en-us/graph/outlook-immutable-id)."""
    if req.prefer().get("idtype", "").lower() == "immutableid":
        answer.headers["Preference-Applied"] = 'IdType="ImmutableId"'
    return answer


def _candidates(app: GraphApp, req: GraphRequest, folder: Folder | None) -> list[Item]:
    text = req.args.get("$filter", "")
    match = _BY_MESSAGE_ID.match(text)
    if match:
        # Look-ups by Message-ID use the index (dedupe and Sent Items checks run them often).
        mid = match.group(1).replace("''", "'")
        if folder is not None:
            return app.store.items_with_message_id(folder.id, mid)
        return app.store.mailbox_items_with_message_id(req.user, mid)
    match = _BY_PROPERTY.match(text)
    value = match.group(2).replace("''", "'") if match else ""
    if value and re.fullmatch(r"[ !#-\[\]-~]+", value):
        # Only items whose stored fields contain the value can match (stored JSON keeps plain
        # ASCII without '"' and '\\' as is); the full filter still decides. Keeps the stamp
        # look-up flat on large folders.
        return app.store.items_containing(folder.id if folder else None, req.user, value)
    if folder is not None:
        return app.store.folder_items(folder.id)
    return app.store.mailbox_items(req.user)


def _sort_key(key: str) -> Callable[[Item], str]:
    return lambda item: str(item.data.get(key) or "").lower()


def _sort(items: list[Item], orderby: str) -> list[Item]:
    for prop, desc in reversed(odata.parse_orderby(orderby)):
        key = _SORT_KEYS.get(prop.lower())
        if key is None:
            raise bad_request(f"The sandbox cannot order by {prop!r}.")
        items = sorted(items, key=_sort_key(key), reverse=desc)
    return items


def _list(app: GraphApp, req: GraphRequest, folder: Folder | None) -> GraphResponse:
    select = render.parse_select(req.args.get("$select", ""))
    expand = odata.parse_expand(req.args.get("$expand", ""))
    top, skip = page_args(req, DEFAULT_PAGE)
    top = min(top, MAX_PAGE)
    items = _candidates(app, req, folder)
    if req.args.get("$filter"):
        pred = odata.compile_filter(req.args["$filter"])
        items = [i for i in items if pred(render.filter_view(i), {})]
    if req.args.get("$search"):
        if req.args.get("$orderby") or req.args.get("$filter"):
            # message-list docs: $search cannot be combined with $filter or $orderby.
            raise bad_request("$search cannot be combined with $filter or $orderby.", "ErrorInvalidUrlQuery")
        terms = odata.search_terms(req.args["$search"])
        items = [i for i in items if render.search_matches(i, terms)]
        items.sort(key=lambda i: str(i.data.get("datetime_sent") or ""), reverse=True)
    if req.args.get("$orderby"):
        items = _sort(items, req.args["$orderby"])
    page = items[skip : skip + top]
    rows: list[Any] = [render.message_json(req, app.store, i, select, expand) for i in page]
    body = paged(req, "users('me')/messages", rows, len(items), top, skip)
    return _immutable(req, GraphResponse(200, body))


def list_folder(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    return _list(app, req, resolve(app, req.user, ids[0]))


def list_all(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    return _list(app, req, None)


def get_message(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    item = item_of(app, req.user, ids[0])
    select = render.parse_select(req.args.get("$select", ""))
    expand = odata.parse_expand(req.args.get("$expand", ""))
    body = render.message_json(req, app.store, item, select, expand)
    body["@odata.context"] = f"{req.base}/$metadata#users('me')/messages/$entity"
    return _immutable(req, GraphResponse(200, body))


def get_mime(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    item = item_of(app, req.user, ids[0])
    raw = item_mime(app.server.ctx(req.user), item)
    return GraphResponse(200, raw, content_type="message/rfc822")


# -- PATCH ------------------------------------------------------------------------------------------

# Graph property -> stored field, for properties PATCH may set on any message.
_ANY_TIME = {
    "categories": "categories",
    "isRead": "is_read",
    "subject": "subject",
    "importance": "importance",
}
# ...and on drafts only (resources/message: "Updatable only if isDraft = true").
_DRAFT_ONLY = {
    "toRecipients": "to",
    "ccRecipients": "cc",
    "bccRecipients": "bcc",
    "replyTo": "reply_to",
    "from": "author",
    "sender": "sender",
    "internetMessageId": "message_id",
    "body": "body",
}
_IGNORED = {
    "flag",
    "inferenceClassification",
    "isReadReceiptRequested",
    "isDeliveryReceiptRequested",
    "@odata.type",
}


def apply_message_json(data: dict[str, Any], body: dict[str, Any], is_draft: bool) -> bool:
    """Write Graph message properties into stored fields; True when only isRead changed."""
    from addin.sandbox.mail.graph.compose import mailbox_of, mailboxes_of

    only_read = True
    for name, value in body.items():
        if name in _IGNORED or name == "attachments":
            continue
        if name == "singleValueExtendedProperties":
            extprops.apply_json(data, value)
            only_read = False
            continue
        if name == "internetMessageHeaders":
            raise bad_request("internetMessageHeaders can be set only when the message is created.")
        if name in _DRAFT_ONLY and not is_draft:
            raise GraphError(
                400,
                "ErrorInvalidPropertyUpdateSentMessage",
                f"{name} can be changed only while the message is a draft.",
            )
        key = _ANY_TIME.get(name) or _DRAFT_ONLY.get(name)
        if key is None:
            raise bad_request(f"The property '{name}' does not exist on type 'microsoft.graph.message'.")
        if name == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise bad_request("categories must be an array of strings.")
            data[key] = list(value)
        elif name == "isRead":
            data[key] = bool(value)
        elif name == "importance":
            data[key] = {"high": "High", "low": "Low"}.get(str(value).lower(), "Normal")
        elif name == "body":
            if not isinstance(value, dict):
                raise bad_request("body must be an itemBody.")
            html = str(value.get("contentType") or "text").lower() == "html"
            data["body"] = str(value.get("content") or "")
            data["body_type"] = "HTML" if html else "Text"
            data["text_body"] = (
                re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", data["body"])).strip() if html else data["body"]
            )
        elif name in ("from", "sender"):
            data[key] = mailbox_of(value)
        elif key in ("to", "cc", "bcc", "reply_to"):
            data[key] = mailboxes_of(value)
        else:
            data[key] = value
        if name != "isRead":
            only_read = False
    return only_read


def update_message(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    item = item_of(app, req.user, ids[0])
    wanted = req.headers.get("if-match", "").strip()
    if wanted and wanted != "*" and wanted != render.etag(item):
        # Optimistic concurrency with the @odata.etag a client read (message-update, If-Match).
        raise GraphError(412, "ErrorIrresolvableConflict", "The message was changed since it was read.")
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("The request body must be a message.")
    only_read = apply_message_json(item.data, body, bool(item.data.get("is_draft")))
    item.data["last_modified"] = now_iso()
    app.store.save_item(item, "read" if only_read else "update")
    fresh = item_of(app, req.user, item.id)
    return _immutable(req, GraphResponse(200, render.message_json(req, app.store, fresh, None, {})))


def delete_message(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    """DELETE removes the message from the mailbox's folders (Exchange Online keeps it in the
    hidden Recoverable Items, out of every client's view: message-delete, and
    message-permanentdelete for the difference). Moving to Deleted Items is ``move``."""
    item = item_of(app, req.user, ids[0])
    app.store.delete_item(item)
    return GraphResponse(204)


def _destination(app: GraphApp, req: GraphRequest) -> Folder:
    body = req.json()
    dest = body.get("destinationId") if isinstance(body, dict) else None
    if not dest:
        raise bad_request("destinationId is required.", "ErrorInvalidRequest")
    return resolve(app, req.user, str(dest))


def move_message(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    item = item_of(app, req.user, ids[0])
    folder = _destination(app, req)
    if item.folder_id != folder.id:
        app.store.move_item(item, folder.id)
    fresh = item_of(app, req.user, item.id)
    return _immutable(req, GraphResponse(201, render.message_json(req, app.store, fresh, None, {})))


def copy_message(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    item = item_of(app, req.user, ids[0])
    folder = _destination(app, req)
    atts = [
        (a.name, a.content_type, a.content_id, a.is_inline, c)
        for a, c in app.store.attachment_contents(item.id)
    ]
    copy = app.store.insert_item(req.user, folder.id, item.data, app.store.mime(item.id), atts)
    return _immutable(req, GraphResponse(201, render.message_json(req, app.store, copy, None, {})))


# -- attachments ------------------------------------------------------------------------------------


def list_attachments(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    item = item_of(app, req.user, ids[0])
    rows = [render.attachment_json(app.store, item, a, content=True) for a in app.store.attachments(item.id)]
    return GraphResponse(
        200, {"@odata.context": f"{req.base}/$metadata#users('me')/messages/attachments", "value": rows}
    )


def _attachment(app: GraphApp, req: GraphRequest, ids: list[str]) -> tuple[Item, Any]:
    item = item_of(app, req.user, ids[0])
    att = app.store.attachment(ids[1])
    if att is None or att.item_id != item.id:
        raise not_found("The attachment was not found.")
    return item, att


def get_attachment(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    item, att = _attachment(app, req, ids)
    return GraphResponse(200, render.attachment_json(app.store, item, att, content=True))


def attachment_value(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    """Raw bytes of a file attachment; an attached message's MIME (attachment-get "$value")."""
    _, att = _attachment(app, req, ids)
    return GraphResponse(200, att.content or b"", content_type=att.content_type)
