"""Reading whole messages over EWS: one GetItem per chunk, every attachment in one GetAttachment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchangelib import Account, ItemId
from exchangelib.items import ID_ONLY
from exchangelib.items import Message as ExMessage

from addin.mailbox import ews_items
from addin.mailbox.ews_errors import item_error_reason
from addin.mailbox.ews_services import BodyGetAttachment, BodyGetItem
from addin.mailbox.types import Attachment, FetchFailure, Message


def messages(
    account: Account, inbox: Any, ids: Sequence[str], *, with_attachments: bool, with_mime: bool
) -> list[Message | FetchFailure]:
    """The messages in the order asked for; one that cannot be read is a FetchFailure of its own."""
    wanted = list(ews_items.MESSAGE_FIELDS) + (["mime_content"] if with_mime else [])
    # text_body and a few others exist from Exchange 2013 on; ask older servers for less.
    fields = [f for f in wanted if ExMessage.get_field_by_fieldname(f).supports_version(account.version)]
    # What Account.fetch does, with a service that reads the answer whole (ews_services).
    additional = {f for f in inbox.normalize_fields(fields=fields) if not f.field.is_attribute}
    items = list(
        BodyGetItem(account=account).call(
            items=[ItemId(id=i) for i in ids], additional_fields=additional, shape=ID_ONLY
        )
    )
    loaded = load_attachments(account, items) if with_attachments else {}
    result: list[Message | FetchFailure] = []
    for requested, item in zip(ids, items, strict=True):
        if isinstance(item, Exception):
            result.append(FetchFailure(id=requested, reason=item_error_reason(item)))
            continue
        try:
            atts = loaded.get(id(item), ())
            if isinstance(atts, FetchFailure):
                result.append(FetchFailure(id=requested, reason=atts.reason))
                continue
            result.append(ews_items.message(item, atts))
        except Exception as exc:  # one odd item must not sink the batch
            result.append(FetchFailure(id=requested, reason=f"cannot read message: {exc!r}"[:300]))
    return result


def load_attachments(account: Account, items: list[Any]) -> dict[int, Any]:
    """Every attachment of every item in one GetAttachment call (chunked by exchangelib)."""
    wanted: list[tuple[int, Any]] = []
    for item in items:
        if isinstance(item, Exception):
            continue
        for att in getattr(item, "attachments", None) or ():
            if att.attachment_id is not None:
                wanted.append((id(item), att))
    result: dict[int, Any] = {}
    if not wanted:
        return result
    svc = BodyGetAttachment(account=account)
    answers = list(
        svc.call(
            items=[att.attachment_id for _, att in wanted],
            include_mime_content=True,
            body_type=None,
            filter_html_content=None,
            additional_fields=None,
        )
    )
    for (owner, requested), answer in zip(wanted, answers, strict=True):
        current = result.setdefault(owner, ())
        if isinstance(current, FetchFailure):
            continue
        if isinstance(answer, Exception):
            name = requested.name or "attachment"
            result[owner] = FetchFailure(
                id="", reason=f"attachment {name!r} cannot be read: {item_error_reason(answer)}"
            )
            continue
        result[owner] = (*current, _attachment_value(answer, requested))
    return result


def _attachment_value(answer: Any, requested: Any) -> Attachment:
    # GetAttachment answers carry the content; name/type come from either copy.
    if not getattr(answer, "name", None):
        answer.name = requested.name
    if hasattr(answer, "content_type") and not answer.content_type:
        answer.content_type = requested.content_type
    return ews_items.attachment_from_ews(answer)
