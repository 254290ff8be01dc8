"""The folders of an IMAP mailbox, and which of them are Sent, Drafts and Trash.

SPECIAL-USE attributes (RFC 6154) name Sent, Drafts and Trash; without them common names
are tried (Gmail's ``[Gmail]/Sent Mail``, Courier's ``INBOX/Sent``, ...).
"""

from __future__ import annotations

from imapclient import IMAPClient

from addin.mailbox.types import Folder, FolderKind

_SPECIAL = {b"\\sent": FolderKind.SENT, b"\\drafts": FolderKind.DRAFTS, b"\\trash": FolderKind.DELETED}
_BY_NAME = {
    FolderKind.SENT: ("sent", "sent items", "sent messages", "sent mail", "[gmail]/sent mail", "inbox/sent"),
    FolderKind.DRAFTS: ("drafts", "draft", "[gmail]/drafts", "inbox/drafts"),
    FolderKind.DELETED: ("trash", "deleted items", "deleted messages", "[gmail]/trash", "inbox/trash"),
}


def discover(client: IMAPClient, known: dict[FolderKind, str]) -> list[Folder]:
    """The mailbox's folders; ``known`` (kind -> folder name) gains the special folders found."""
    rows = client.list_folders()
    names = {str(name).lower(): str(name) for _, _, name in rows}
    kinds: dict[str, FolderKind] = {}
    for flags, _, name in rows:
        for flag in flags:
            kind = _SPECIAL.get(flag.lower())
            if kind is not None and kind not in known:
                known[kind] = str(name)
    for kind, candidates in _BY_NAME.items():
        if kind not in known:
            found = next((names[c] for c in candidates if c in names), None)
            if found:
                known[kind] = found
    known[FolderKind.INBOX] = names.get("inbox", "INBOX")
    for kind, name in known.items():
        kinds[name] = kind
    folders = []
    for flags, delimiter, name in rows:
        if any(f.lower() in (b"\\noselect", b"\\nonexistent") for f in flags):
            continue
        text = str(name)
        sep = delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter or "/")
        parent, _, leaf = text.rpartition(sep) if sep else ("", "", text)
        folders.append(
            Folder(
                id=text,
                name=leaf or text,
                kind=kinds.get(text, FolderKind.OTHER),
                parent_id=parent or None,
                path=text.replace(sep, "/") if sep else text,
            )
        )
    return folders
