"""The master category list (``/me/outlook/masterCategories``) kept in step with the
categories the bridge puts on messages, so every mail client shows them in colour."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from addin.errors import BridgeError
from addin.mailbox.graph_http import GraphClient

log = logging.getLogger(__name__)

# Colour of categories the bridge adds to the master list (preset0 = red, preset7 = blue).
CATEGORY_COLOR = "preset7"
# Adding a name the list already holds (another client added it meanwhile): 409 Conflict
# with Exchange's code for it.
DUPLICATE_CODES = frozenset({"errorduplicatecategoryname", "duplicatecategory"})


def is_duplicate(exc: BridgeError) -> bool:
    return exc.status == 409 or (exc.code or "").lower() in DUPLICATE_CODES


class MasterCategories:
    def __init__(self, client: GraphClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._known: set[str] | None = None  # lower-cased names, once read

    def ensure(self, names: Sequence[str]) -> None:
        """Add missing names to the master category list so clients show them in colour.

        Best effort: without MailboxSettings.ReadWrite the messages still get their
        categories, only uncoloured, so a refusal here is logged, not raised."""
        wanted = [n for n in dict.fromkeys(names) if n]
        if not wanted:
            return
        try:
            with self._lock:
                known = self._known
            if known is None or any(n.lower() not in known for n in wanted):
                body = self._client.json("GET", "/me/outlook/masterCategories", what="categories") or {}
                known = {str(v.get("displayName") or "").lower() for v in body.get("value") or ()}
            for name in wanted:
                if name.lower() in known:
                    continue
                try:
                    self._client.json(
                        "POST",
                        "/me/outlook/masterCategories",
                        json={"displayName": name, "color": CATEGORY_COLOR},
                        what="category",
                    )
                except BridgeError as exc:
                    if not is_duplicate(exc):
                        raise
                known.add(name.lower())
            with self._lock:
                self._known = known
        except BridgeError as exc:
            log.info("master category list not updated: %s", exc.message)

    # -- explicit upkeep (the Regarding categories) ----------------------------------------
    #
    # Unlike ensure(), these raise: the caller keeps the list current and retries later.

    def _rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        path: str | None = "/me/outlook/masterCategories"
        while path:
            body = self._client.json("GET", path, what="categories") or {}
            rows += [v for v in body.get("value") or () if isinstance(v, dict)]
            path = body.get("@odata.nextLink")
        return rows

    def names(self) -> list[str]:
        names = [str(v.get("displayName") or "") for v in self._rows()]
        with self._lock:
            self._known = {n.lower() for n in names}
        return names

    def update(self, add: Sequence[str], remove: Sequence[str]) -> None:
        rows = self._rows()
        gone = {n.lower() for n in remove}
        for row in rows:
            name = str(row.get("displayName") or "")
            if name.lower() in gone and row.get("id"):
                # A category's display name cannot change once created: renames are add + remove.
                self._client.json("DELETE", f"/me/outlook/masterCategories/{row['id']}", what="category")
        with self._lock:
            self._known = None
        present = {str(r.get("displayName") or "").lower() for r in rows} - gone
        for name in dict.fromkeys(n for n in add if n and n.lower() not in present):
            self._client.json(
                "POST",
                "/me/outlook/masterCategories",
                json={"displayName": name, "color": CATEGORY_COLOR},
                what="category",
            )
