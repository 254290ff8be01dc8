"""Marking one IMAP message: its categories (keywords, or labels on Gmail) and the stamp.

The categories are keywords (``$``-free atoms, see :mod:`addin.mailbox.imap_codec`), or
Gmail labels where the server is Gmail, so they show in Gmail's own interface; the stamp is a
keyword too, with ``NO_STAMP`` marking a message whose stamp header (set when it was sent)
was removed.  A folder whose PERMANENTFLAGS do not keep new keywords is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imapclient import IMAPClient

from addin.errors import MessageError
from addin.mailbox import imap_codec as codec
from addin.mailbox.imap_conn import Connection

#: ``stamp=KEEP``: leave the stamp as it is.
KEEP: Any = object()


def mark(
    conn: Connection, client: IMAPClient, item_id: str, categories: Sequence[str] | None, stamp: Any
) -> None:
    """Set the categories (None: keep them) and the stamp (``KEEP``: keep it) of one message."""
    parsed = codec.parse_id(item_id)
    if parsed is None:
        raise MessageError("Not a message id of this IMAP mailbox.")
    folder, validity, uid = parsed
    info = conn.select(folder)
    if int(info[b"UIDVALIDITY"]) != validity:
        raise MessageError("The message no longer exists on the server.")
    # PERMANENTFLAGS without \* (and without our keywords) means new keywords are not kept.
    permanent = {codec.flag_text(f).lower() for f in info.get(b"PERMANENTFLAGS", (b"\\*",))}
    gmail = conn.has("X-GM-EXT-1")
    items = ["FLAGS", f"BODY.PEEK[HEADER.FIELDS ({codec.STAMP_HEADER.upper()})]"]
    row = client.fetch([uid], items + (["X-GM-LABELS"] if gmail else [])).get(uid)
    if row is None:
        raise MessageError("The message no longer exists on the server.")
    flags = row.get(b"FLAGS", ())
    remove: list[str] = []
    add: list[str] = []
    if categories is not None and gmail:
        # Gmail: categories are labels, so they show in Gmail's own interface too.
        names = list(dict.fromkeys(c for c in categories if c))
        have = list(codec.categories_of_labels(row.get(b"X-GM-LABELS", ())))
        if [n for n in have if n not in names]:
            client.remove_gmail_labels([uid], [n for n in have if n not in names], silent=True)
        if [n for n in names if n not in have]:
            client.add_gmail_labels([uid], [n for n in names if n not in have], silent=True)
    elif categories is not None:
        wanted = [codec.keyword_of(c) for c in dict.fromkeys(c for c in categories if c)]
        current = codec.category_keywords(flags)
        remove += [k for k in current if k not in wanted]
        add += [k for k in wanted if k not in current]
    if stamp is not KEEP:
        current_stamps = codec.stamp_keywords(flags)
        has_header = bool(codec.header_bytes(row).strip())
        if stamp:
            keyword = codec.stamp_keyword(stamp)
            remove += [k for k in current_stamps if k != keyword] + [codec.NO_STAMP]
            add.append(keyword)
        else:
            remove += current_stamps
            if has_header:
                add.append(codec.NO_STAMP)
            else:
                remove.append(codec.NO_STAMP)
    if add and "\\*" not in permanent and any(k.lower() not in permanent for k in add):
        raise MessageError(
            f"The mail server does not keep custom keywords in {folder!r}, so the categories and "
            "the tracking mark cannot be stored there."
        )
    if remove:
        client.remove_flags([uid], remove, silent=True)
    if add:
        client.add_flags([uid], add, silent=True)
