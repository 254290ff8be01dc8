"""``/me/mailFolders``: list, get by id or well-known name, child folders, create.

learn.microsoft.com/en-us/graph/api/user-list-mailfolders (top-level folders: the children of
the message folder root, default page 10), mailfolder-get, mailfolder-list-childfolders,
mailfolder-post-childfolders, and the well-known names in resources/mailfolder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from addin.sandbox.mail.graph.http import GraphError, GraphRequest, GraphResponse, bad_request
from addin.sandbox.mail.store import Folder
from addin.sandbox.mail.store_folders import is_mail_folder

if TYPE_CHECKING:
    from addin.sandbox.mail.graph.router import GraphApp

# Graph's well-known folder names the sandbox has (resources/mailfolder "Well-known folder names").
WELL_KNOWN = ("inbox", "sentitems", "drafts", "deleteditems", "outbox", "junkemail", "msgfolderroot")
DEFAULT_PAGE = 10


def resolve(app: GraphApp, user: str, ref: str) -> Folder:
    """A folder of ``user`` by id or well-known name (case-insensitive), else 404."""
    if ref.lower() in WELL_KNOWN:
        folder = app.store.distinguished(user, ref.lower())
    else:
        folder = app.store.folder(ref)
    if folder is None or folder.mailbox != user:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return folder


def mail_children(app: GraphApp, parent: Folder) -> list[Folder]:
    """mailFolders lists mail folders only: not Calendar, Contacts, Tasks and the other folders
    of an Exchange mailbox that hold no messages."""
    return [f for f in app.store.children(parent.id) if is_mail_folder(f)]


def folder_json(app: GraphApp, folder: Folder) -> dict[str, Any]:
    total, unread = app.store.folder_counts(folder.id)
    return {
        "id": folder.id,
        "displayName": folder.name,
        "parentFolderId": folder.parent_id or "",
        "childFolderCount": len(mail_children(app, folder)),
        "unreadItemCount": unread,
        "totalItemCount": total,
        "isHidden": False,
    }


def page_args(req: GraphRequest, default: int) -> tuple[int, int]:
    try:
        top = int(req.args.get("$top", default))
        skip = int(req.args.get("$skip", 0))
    except ValueError:
        raise bad_request("Invalid $top or $skip value.") from None
    if top < 1 or skip < 0:
        raise bad_request("$top must be at least 1 and $skip not negative.")
    return top, skip


def paged(
    req: GraphRequest, context: str, page: list[Any], total: int, top: int, skip: int
) -> dict[str, Any]:
    """One page (``page``, rows skip.. of ``total``); ``@odata.nextLink`` carries ``$skip``."""
    body: dict[str, Any] = {"@odata.context": f"{req.base}/$metadata#{context}"}
    if req.args.get("$count", "").lower() == "true":
        body["@odata.count"] = total
    body["value"] = page
    if skip + top < total:
        args = dict(req.args)
        args["$skip"] = str(skip + top)
        args["$top"] = str(top)
        query = urlencode(args, quote_via=quote)
        body["@odata.nextLink"] = f"{req.base}{req.path}?{query}"
    return body


def _list(app: GraphApp, req: GraphRequest, parent: Folder) -> GraphResponse:
    top, skip = page_args(req, DEFAULT_PAGE)
    children = mail_children(app, parent)
    rows = [folder_json(app, f) for f in children[skip : skip + top]]
    return GraphResponse(200, paged(req, "users('me')/mailFolders", rows, len(children), top, skip))


def list_top(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    return _list(app, req, resolve(app, req.user, "msgfolderroot"))


def list_children(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    return _list(app, req, resolve(app, req.user, ids[0]))


def get_folder(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    body = folder_json(app, resolve(app, req.user, ids[0]))
    body["@odata.context"] = f"{req.base}/$metadata#users('me')/mailFolders/$entity"
    return GraphResponse(200, body)


def _create(app: GraphApp, req: GraphRequest, parent: Folder) -> GraphResponse:
    data = req.json()
    name = str(data.get("displayName") or "").strip() if isinstance(data, dict) else ""
    if not name:
        raise bad_request("The displayName of the folder is required.", "ErrorInvalidRequest")
    try:
        folder = app.store.create_folder(parent, name, "IPF.Note")
    except FileExistsError:
        raise GraphError(
            409, "ErrorFolderExists", "A folder with the specified name already exists."
        ) from None
    return GraphResponse(201, folder_json(app, folder))


def create_top(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    return _create(app, req, resolve(app, req.user, "msgfolderroot"))


def create_child(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    return _create(app, req, resolve(app, req.user, ids[0]))


def get_user(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    from addin.sandbox.mail.graph.router import user_id

    return GraphResponse(
        200,
        {
            "@odata.context": f"{req.base}/$metadata#users/$entity",
            "id": user_id(req.user),
            "displayName": app.store.display_name(req.user),
            "mail": req.user,
            "userPrincipalName": req.user,
        },
    )
