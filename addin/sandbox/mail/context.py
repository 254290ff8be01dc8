"""What every EWS operation handler gets: the store, the signed-in mailbox, folder lookup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from addin.sandbox.mail.soap import Element, EwsError, child_text, local, t
from addin.sandbox.mail.store import Folder, Item, MailStore
from addin.sandbox.mail.store_folders import is_folder_id


@dataclass
class Ctx:
    store: MailStore
    user: str  # the authenticated mailbox (lower-case address)
    # Delivers RFC 5322 bytes to a sandbox mailbox's folder; set by the server.
    deliver: Callable[[str, bytes, str], str]
    # Act like servers that assign their own Message-ID on send, ignoring the client's.
    replace_message_ids: bool = False
    # The server's notification subscriptions (ops_events.Subscriptions).
    subscriptions: Any = None
    # The server's transport queue (transport.Transport); None sends at once.
    transport: Any = None

    def folder_from(self, el: Element) -> Folder:
        """Resolve a t:FolderId or t:DistinguishedFolderId element to a folder of this user."""
        name = local(el)
        if name == "DistinguishedFolderId":
            mailbox = child_text(el, f"{t('Mailbox')}/{t('EmailAddress')}").strip().lower() or self.user
            if mailbox != self.user:
                raise EwsError(
                    "ErrorAccessDenied", "The sandbox grants access to the signed-in user's own mailbox only."
                )
            folder = self.store.distinguished(mailbox, el.get("Id", ""))
            if folder is None:
                raise EwsError(
                    "ErrorFolderNotFound", f"The distinguished folder {el.get('Id')!r} does not exist."
                )
            return folder
        if name == "FolderId":
            if not is_folder_id(el.get("Id", "")):
                # An id Exchange cannot decode is malformed; one that decodes but names no folder of
                # the mailbox is not found.
                raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            folder = self.store.folder(el.get("Id", ""))
            if folder is None or folder.mailbox != self.user:
                raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
            return folder
        raise EwsError("ErrorInvalidIdMalformed", f"Unsupported folder id element {name}.")

    def item_from(self, el: Element) -> Item:
        item = self.store.item(el.get("Id", ""))
        if item is None or item.mailbox != self.user:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        return item


def folder_ids(parent: Element | None) -> list[Element]:
    if parent is None:
        return []
    return [c for c in parent if local(c) in ("FolderId", "DistinguishedFolderId")]
