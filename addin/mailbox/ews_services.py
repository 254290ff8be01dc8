"""exchangelib services as the EWS backend calls them: responses read whole, not byte by byte.

exchangelib 5.6 parses every answer from ``response.iter_content()``, whose default piece is
one byte: a 1 MB answer is 1,000,000 generator steps and byte-by-byte copies into lxml
(about a fifth of bulk tracking's CPU).  These services are never streaming, so requests
already holds the whole body; it is handed to exchangelib's own parser in 64 KiB pieces.
Everything else (SOAP faults, recovery from odd XML, chunking of ids) is exchangelib's.
There is no setting for this in exchangelib; the mixin only overrides the one classmethod.
The two exchangelib internals overridden here (``_get_soap_parts``, ``_elem_to_obj``) are
pinned, with those of ``ews_compat``, by ``tests/core/test_ews_compat.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exchangelib.services import GetAttachment, GetItem, UpdateItem

from addin.mailbox.ews_compat import CheckedSyncFolderItems

# Pieces a whole response body is handed to lxml in (lxml reads its own buffer size from them).
READ_CHUNK = 64 * 1024


class _Body:
    """A received response whose ``iter_content()`` gives its body in big pieces."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def iter_content(self) -> Iterator[bytes]:
        content = self._content
        return (content[i : i + READ_CHUNK] for i in range(0, len(content), READ_CHUNK))


class WholeBodyReading:
    """Mixin for services that never stream: parse the body requests has already read whole."""

    def _get_soap_parts(self, response: Any) -> Any:
        # An instance method like GetAttachment's own override (exchangelib's base one is a
        # classmethod; every caller calls it on the service instance).
        content = None if getattr(self, "streaming", False) else getattr(response, "content", None)
        if isinstance(content, bytes):
            response = _Body(content)
        return super()._get_soap_parts(response=response)  # type: ignore[misc]


class BodyGetAttachment(WholeBodyReading, GetAttachment):  # type: ignore[misc]
    pass


class BodyGetItem(WholeBodyReading, GetItem):  # type: ignore[misc]
    pass


class BodyUpdateItem(WholeBodyReading, UpdateItem):  # type: ignore[misc]
    pass


class SyncItems(WholeBodyReading, CheckedSyncFolderItems):
    """SyncFolderItems read whole, reporting an error answer as its EWS error (ews_compat)."""


class StateOnlySync(SyncItems):
    """SyncFolderItems for a first sync: the changes are skipped, never parsed into items
    (exchangelib builds a full ``Message`` for each, ~0.2 ms; a first sync keeps only the state)."""

    def _elem_to_obj(self, elem: Any) -> tuple[str, None]:
        return str(self.change_types_map.get(elem.tag, "")), None
