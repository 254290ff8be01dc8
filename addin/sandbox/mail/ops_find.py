"""Reading items: FindItem (restrictions, sort orders, paging, AQS) and GetItem."""

from __future__ import annotations

from addin.sandbox.mail.context import Ctx, folder_ids
from addin.sandbox.mail.item_answers import item_from, item_ids
from addin.sandbox.mail.items import parse_shape, render_item
from addin.sandbox.mail.ops_items import item_mime
from addin.sandbox.mail.restrict import matches, matches_query, sort_items
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    answer_each,
    error_message,
    local,
    m,
    ok_message,
    sub,
    t,
)


def _message_id_lookup(restriction_el: Element | None) -> str | None:
    """The Message-ID of a restriction that requires ``message:InternetMessageId == X``."""
    if restriction_el is None:
        return None
    candidates = [restriction_el] if local(restriction_el) != "And" else list(restriction_el)
    for el in candidates:
        path = el.find(t("FieldURI"))
        constant = el.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
        if (
            local(el) == "IsEqualTo"
            and path is not None
            and (path.get("FieldURI") or "").lower() == "message:internetmessageid"
            and constant is not None
        ):
            return str(constant.get("Value", ""))
    return None


def _received_order(sort_el: Element | None) -> bool | None:
    """True/False for newest/oldest-first by DateTimeReceived (or no order); None otherwise."""
    orders = [fo for fo in sort_el if local(fo) == "FieldOrder"] if sort_el is not None else []
    if not orders:
        return True
    if len(orders) > 1:
        return None
    path = orders[0].find(t("FieldURI"))
    if path is None or (path.get("FieldURI") or "").lower() != "item:datetimereceived":
        return None
    return bool(orders[0].get("Order", "Ascending") == "Descending")


def find_item(ctx: Ctx, req: Element, messages: Element) -> None:
    shape = parse_shape(req.find(m("ItemShape")))
    view = req.find(m("IndexedPageItemView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
    from_end = view is not None and view.get("BasePoint") == "End"
    query = (req.findtext(m("QueryString")) or "").strip()
    associated = req.get("Traversal", "Shallow") == "Associated"  # no folder-associated items here
    restriction = req.find(m("Restriction"))
    restriction_el = (
        next((c for c in restriction if isinstance(c.tag, str)), None) if restriction is not None else None
    )
    sort_el = req.find(m("SortOrder"))
    needs_attachments = any(
        u.lower() in ("item:attachments", "item:hasattachments") for u in shape.field_uris()
    )
    for fid in folder_ids(req.find(m("ParentFolderIds"))):
        try:
            folder = ctx.folder_from(fid)
            fast = _received_order(sort_el) if restriction_el is None and not query else None
            if associated:
                total, start, page = 0, 0, []
            elif fast is not None:
                # The common unfiltered listing pages in SQL: flat cost on large folders.
                total = ctx.store.count_items(folder.id)
                start = max(0, total - offset - limit) if from_end else offset
                end = (total - offset) if from_end else offset + limit
                ids = ctx.store.page_ids(folder.id, start, max(0, end - start), descending=fast)
                page = ctx.store.items_by_ids(ids)
            else:
                mid = _message_id_lookup(restriction_el)
                if mid is not None:
                    # Lookups by Message-ID (dedupe, Sent Items checks) use the index, not a scan.
                    items = ctx.store.items_with_message_id(folder.id, mid)
                else:
                    items = ctx.store.folder_items(folder.id)
                if restriction_el is not None:
                    items = [i for i in items if matches(i, restriction_el)]
                if query:
                    items = [i for i in items if matches_query(i, query)]
                items = sort_items(items, sort_el)
                total = len(items)
                start = max(0, total - offset - limit) if from_end else offset
                end = (total - offset) if from_end else offset + limit
                page = items[start : max(start, end)]
        except EwsError as exc:
            error_message(messages, "FindItem", exc.code, exc.message)
            continue
        msg = ok_message(messages, "FindItem")
        next_offset = offset + len(page)
        root = sub(
            msg,
            m("RootFolder"),
            IndexedPagingOffset=str(next_offset),
            TotalItemsInView=str(total),
            IncludesLastItemInRange="true" if next_offset >= total else "false",
        )
        holder = sub(root, t("Items"))
        for item in page:
            if needs_attachments:
                item.attachments = ctx.store.attachments(item.id)
            render_item(holder, item, shape, ctx.store, lambda i: item_mime(ctx, i))


def get_item(ctx: Ctx, req: Element, messages: Element) -> None:
    shape = parse_shape(req.find(m("ItemShape")))
    for item, msg in answer_each(
        messages, "GetItem", item_ids(req.find(m("ItemIds"))), lambda el: item_from(ctx, el)
    ):
        render_item(sub(msg, m("Items")), item, shape, ctx.store, lambda i: item_mime(ctx, i))
