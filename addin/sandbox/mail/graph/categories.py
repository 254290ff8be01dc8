"""``/me/outlook/masterCategories``: the mailbox's category list, kept per mailbox in the store.

learn.microsoft.com/en-us/graph/api/outlookuser-list-mastercategories and
outlookuser-post-mastercategories: ``{"displayName", "color"}`` with ``color`` ``preset0`` ..
``preset24`` or ``none``; the name is unique in the mailbox. A duplicate answers 409 here
(code ``ErrorDuplicateCategoryName``; the exact code Exchange Online sends is unverified).
Messages keep categories by display name whether or not the list has them, as in Outlook.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from addin.sandbox.mail.graph.http import GraphError, GraphRequest, GraphResponse, bad_request, not_found

if TYPE_CHECKING:
    from addin.sandbox.mail.graph.router import GraphApp

_COLOR = re.compile(r"^(none|preset([0-9]|1[0-9]|2[0-4]))$", re.IGNORECASE)


def _json(cat_id: str, name: str, color: str) -> dict[str, str]:
    return {"id": cat_id, "displayName": name, "color": color}


def list_categories(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    rows = [_json(*c) for c in app.store.categories(req.user)]
    return GraphResponse(
        200, {"@odata.context": f"{req.base}/$metadata#users('me')/outlook/masterCategories", "value": rows}
    )


def create_category(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    body = req.json()
    name = str(body.get("displayName") or "").strip() if isinstance(body, dict) else ""
    color = str(body.get("color") or "none") if isinstance(body, dict) else "none"
    if not name:
        raise bad_request("displayName is required.", "ErrorInvalidRequest")
    if not _COLOR.match(color):
        raise bad_request(f"Invalid color {color!r}: use preset0 to preset24 or none.", "ErrorInvalidRequest")
    try:
        cat_id = app.store.add_category(req.user, name, color)
    except FileExistsError:
        raise GraphError(
            409, "ErrorDuplicateCategoryName", f"A category named '{name}' already exists."
        ) from None
    return GraphResponse(201, _json(cat_id, name, color))


def delete_category(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    if not app.store.delete_category(req.user, ids[0]):
        raise not_found("The category was not found.")
    return GraphResponse(204)
