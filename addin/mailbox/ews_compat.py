"""The only places where the EWS backend reaches past exchangelib's public API.

Each is here, named for what it does, and pinned by ``tests/core/test_ews_compat.py``: an
exchangelib upgrade that changes what it relies on fails that test instead of the backend
failing quietly at a user's desk.  ``ews_services.py`` overrides two more (how an answer's
body is read, and skipping the item model in a first sync), pinned by the same test.
Everything else in ``addin/mailbox/ews*.py`` uses exchangelib's documented classes,
attributes and methods.
"""

from __future__ import annotations

from typing import Any

from exchangelib import Account, FileAttachment
from exchangelib.services import SyncFolderItems
from exchangelib.services.sync_folder_hierarchy import SyncFolder
from exchangelib.util import MNS
from exchangelib.version import Version

#: The exchangelib release these adapters were checked against (the test says if they hold).
CHECKED_WITH = "5.6.0"


def learnt_version(account: Account) -> Version | None:
    """The server version the account knows now, without asking the server.

    ``Account.version`` (public) probes the server when nothing is known yet, and the
    configuration keeps autodiscover's coarser guess; the account's own record (updated from
    each answer's ServerVersionInfo) is private: ``Account._version``.
    """
    version: Version | None = getattr(account, "_version", None)
    return version or account.protocol.config.version


def loaded_content(attachment: FileAttachment) -> bytes | None:
    """The content a GetAttachment answer carried, without fetching it again.

    ``FileAttachment.content`` (public) calls GetAttachment once more whenever the loaded
    value is None — for an empty file, every time; the loaded value is the private field
    ``FileAttachment._content``.
    """
    content: bytes | None = getattr(attachment, "_content", None)
    return content


class CheckedSyncFolderItems(SyncFolderItems):  # type: ignore[misc]
    """SyncFolderItems that reports an error answer as its EWS error.

    exchangelib 5.6's ``SyncFolder._get_element_container`` reads SyncState before looking
    at the ResponseClass, so an error answer (say ErrorInvalidSyncStateData) surfaces as an
    AttributeError.  Without a SyncState the generic check of the class after ``SyncFolder``
    in the MRO runs instead (a private method, and a skipped class in the MRO).
    """

    def _get_element_container(self, message: Any, name: Any = None) -> Any:
        if message.find(f"{{{MNS}}}SyncState") is None:
            return super(SyncFolder, self)._get_element_container(message=message, name=name)
        return super()._get_element_container(message=message, name=name)
