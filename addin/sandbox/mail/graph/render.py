"""Stored items as Graph JSON: messages (with ``$select``/``$expand``), attachments, and the
lighter view ``$filter`` evaluates.

Property names and shapes follow learn.microsoft.com/en-us/graph/api/resources/message and
resources/fileattachment, resources/itemattachment. Date-times are ISO 8601 in UTC with ``Z``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from addin.sandbox.mail.graph import extprops, odata
from addin.sandbox.mail.graph.http import GraphError, GraphRequest
from addin.sandbox.mail.items import conversation_id
from addin.sandbox.mail.store import Attachment, Item, MailStore

# Every message property the sandbox knows, in Graph's spelling; the ones a GET without
# $select leaves out are in OPT_IN (Graph returns internetMessageHeaders only when selected).
PROPERTIES = [
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "inferenceClassification",
    "body",
    "uniqueBody",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
    "internetMessageHeaders",
]
OPT_IN = {"internetMessageHeaders", "uniqueBody"}
_BY_LOWER = {p.lower(): p for p in PROPERTIES}
_IMPORTANCE = {"High": "high", "Low": "low"}


def parse_select(text: str) -> list[str] | None:
    """Canonical property names of ``$select``; None = the default set. An unknown name is a
    400, as Graph answers ("Could not find a property named ... on type microsoft.graph.message")."""
    if not text:
        return None
    out = []
    for name in odata.split_top(text):
        canonical = _BY_LOWER.get(name.strip().lower())
        if canonical is None:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name.strip()}' on type 'microsoft.graph.message'.",
            )
        out.append(canonical)
    return out


def recipient(box: dict[str, str] | None) -> dict[str, Any] | None:
    if not box:
        return None
    return {
        "emailAddress": {"name": box.get("name") or box.get("email") or "", "address": box.get("email") or ""}
    }


def _recipients(boxes: list[dict[str, str]] | None) -> list[dict[str, Any]]:
    return [r for r in (recipient(b) for b in boxes or []) if r]


def _text(d: dict[str, Any]) -> str:
    if d.get("text_body") is not None:
        return str(d.get("text_body") or "")
    return re.sub(r"<[^>]+>", " ", str(d.get("body") or ""))


def _body(d: dict[str, Any], want_text: bool) -> dict[str, str]:
    html = d.get("body_type") == "HTML"
    if html and not want_text:
        return {"contentType": "html", "content": str(d.get("body") or "")}
    return {"contentType": "text", "content": _text(d) if html else str(d.get("body") or "")}


def etag(item: Item) -> str:
    return f'W/"{item.changekey}"'


def _field(name: str, item: Item, want_text: bool) -> Any:
    d = item.data
    if name == "id":
        return item.id
    if name == "createdDateTime":
        return d.get("datetime_created") or d.get("datetime_received")
    if name == "lastModifiedDateTime":
        return d.get("last_modified") or d.get("datetime_received")
    if name == "changeKey":
        return item.changekey
    if name == "categories":
        return list(d.get("categories") or [])
    if name == "receivedDateTime":
        return d.get("datetime_received")
    if name == "sentDateTime":
        return d.get("datetime_sent") or d.get("datetime_received")
    if name == "hasAttachments":
        return bool(d.get("has_attachments"))
    if name == "internetMessageId":
        return d.get("message_id")
    if name == "subject":
        return d.get("subject")
    if name == "bodyPreview":
        return re.sub(r"\s+", " ", _text(d)).strip()[:255]
    if name == "importance":
        return _IMPORTANCE.get(str(d.get("importance")), "normal")
    if name == "parentFolderId":
        return item.folder_id
    if name == "conversationId":
        return conversation_id(d) or item.id
    if name in ("isDeliveryReceiptRequested", "isReadReceiptRequested"):
        return False
    if name == "isRead":
        return bool(d.get("is_read"))
    if name == "isDraft":
        return bool(d.get("is_draft"))
    if name == "inferenceClassification":
        return "focused"
    if name in ("body", "uniqueBody"):
        return _body(d, want_text)
    if name == "sender":
        return recipient(d.get("sender") or d.get("author"))
    if name == "from":
        return recipient(d.get("author"))
    if name in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"):
        key = {"toRecipients": "to", "ccRecipients": "cc", "bccRecipients": "bcc", "replyTo": "reply_to"}[
            name
        ]
        return _recipients(d.get(key))
    if name == "flag":
        return {"flagStatus": "notFlagged"}
    if name == "internetMessageHeaders":
        return [{"name": n, "value": v} for n, v in d.get("headers") or []]
    return None


def message_json(
    req: GraphRequest,
    store: MailStore,
    item: Item,
    select: list[str] | None,
    expand: dict[str, dict[str, str]],
) -> dict[str, Any]:
    # Prefer: outlook.body-content-type="text" (message-get, "Prefer: outlook.body-content-type").
    want_text = req.prefer().get("outlook.body-content-type", "").lower() == "text"
    names = select if select is not None else [p for p in PROPERTIES if p not in OPT_IN]
    out: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.message",
        "@odata.etag": etag(item),
        "id": item.id,
    }
    for name in names:
        if name != "id":
            out[name] = _field(name, item, want_text)
    if "singlevalueextendedproperties" in expand:
        ids = odata.expanded_prop_ids(expand["singlevalueextendedproperties"])
        if ids is None:
            props = extprops.all_props(item)
        else:
            props = []
            for pid in ids:
                value = extprops.value_of(item, pid)
                if value is not None:
                    props.append({"id": pid.raw, "value": value})
        # Graph leaves the collection out when no requested property exists on the item.
        if props:
            out["singleValueExtendedProperties"] = props
    if "attachments" in expand:
        out["attachments"] = [
            attachment_json(store, item, a, content=True) for a in store.attachments(item.id)
        ]
    return out


def attachment_json(store: MailStore, item: Item, att: Attachment, content: bool) -> dict[str, Any]:
    """A fileAttachment, or an itemAttachment for an attached message (message/rfc822)."""
    is_item = att.content_type.lower() == "message/rfc822"
    out: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.itemAttachment" if is_item else "#microsoft.graph.fileAttachment",
        "id": att.id,
        "lastModifiedDateTime": att.modified
        or item.data.get("last_modified")
        or item.data.get("datetime_received"),
        "name": att.name,
        "contentType": att.content_type,
        "size": att.size,
        "isInline": att.is_inline,
    }
    if not is_item:
        out["contentId"] = att.content_id
        out["contentLocation"] = None
        if content:
            full = store.attachment(att.id)
            out["contentBytes"] = base64.b64encode(full.content or b"").decode("ascii") if full else ""
    return out


def filter_view(item: Item) -> dict[str, Any]:
    """The properties ``$filter`` can test; extended property ids compare by MAPI identity."""
    view: dict[str, Any] = {
        name: _field(name, item, False)
        for name in (
            "id",
            "internetMessageId",
            "subject",
            "isRead",
            "isDraft",
            "receivedDateTime",
            "sentDateTime",
            "lastModifiedDateTime",
            "categories",
            "from",
            "sender",
            "hasAttachments",
            "parentFolderId",
            "conversationId",
            "importance",
        )
    }
    props = []
    for prop in item.data.get("ext") or []:
        if prop.get("values") is None:
            try:
                pid = extprops.parse_id(extprops.graph_id(prop["attrs"]))
            except GraphError:
                continue
            props.append({"id": pid, "value": str(prop.get("value") or "")})
    props.append(
        {
            "id": extprops.parse_id("Integer 0x36"),
            "value": extprops.value_of(item, extprops.parse_id("Integer 0x36")),
        }
    )
    view["singleValueExtendedProperties"] = props
    return view


def search_matches(item: Item, terms: list[tuple[str, str]]) -> bool:
    d = item.data
    author = d.get("author") or {}
    fields = {
        "subject": str(d.get("subject") or "").lower(),
        "body": _text(d).lower(),
        "from": f"{author.get('name') or ''} {author.get('email') or ''}".lower(),
        "to": " ".join(f"{b.get('name') or ''} {b.get('email') or ''}" for b in d.get("to") or []).lower(),
    }
    for field, term in terms:
        haystacks = [fields[field]] if field else list(fields.values())
        if not any(term in h for h in haystacks):
            return False
    return True
