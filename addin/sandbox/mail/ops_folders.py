"""Folder operations: ConvertId (version probe), GetFolder, FindFolder, CreateFolder, UpdateFolder,
DeleteFolder, MoveFolder, EmptyFolder, SyncFolderHierarchy."""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]

from addin.sandbox.mail.context import Ctx, folder_ids
from addin.sandbox.mail.folder_view import descendants, folder_matches, render_folder, shape_of
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
from addin.sandbox.mail.store import Folder, hierarchy_key
from addin.sandbox.mail.store_folders import is_system_folder


def convert_id(ctx: Ctx, req: Element, messages: Element) -> None:
    """exchangelib sends ConvertId of "DUMMY" only to learn the server version: answer per id."""
    source = req.find(m("SourceIds"))
    for alt in source if source is not None else []:
        error_message(messages, "ConvertId", "ErrorInvalidIdMalformed", f"Id is malformed: {alt.get('Id')!r}")


def get_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    ids = folder_ids(req.find(m("FolderIds")))
    shape = shape_of(req)
    for folder, msg in answer_each(messages, "GetFolder", ids, ctx.folder_from):
        render_folder(sub(msg, m("Folders")), ctx, folder, shape)


def find_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    deep = req.get("Traversal", "Shallow") == "Deep"
    view = req.find(m("IndexedPageFolderView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
    parents = folder_ids(req.find(m("ParentFolderIds")))
    shape = shape_of(req)
    holder_el = req.find(m("Restriction"))
    restriction = (
        next((c for c in holder_el if isinstance(c.tag, str)), None) if holder_el is not None else None
    )
    for parent, msg in answer_each(messages, "FindFolder", parents, ctx.folder_from):
        found = descendants(ctx, parent, deep)
        if restriction is not None:
            try:
                found = [f for f in found if folder_matches(ctx, f, restriction)]
            except EwsError as exc:
                messages.remove(msg)
                error_message(messages, "FindFolder", exc.code, exc.message)
                continue
        page = found[offset : offset + limit]
        last = offset + len(page) >= len(found)
        root = sub(
            msg,
            m("RootFolder"),
            IndexedPagingOffset=str(offset + len(page)),
            TotalItemsInView=str(len(found)),
            IncludesLastItemInRange="true" if last else "false",
        )
        holder = sub(root, t("Folders"))
        for folder in page:
            render_folder(holder, ctx, folder, shape)


def _answer_folder_id(messages: Element, op: str, folder: Folder) -> None:
    """Success, naming the folder created or changed (its new change key)."""
    msg = ok_message(messages, op)
    sub(sub(sub(msg, m("Folders")), t("Folder")), t("FolderId"), Id=folder.id, ChangeKey=folder.changekey)


def create_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    parent_holder = req.find(m("ParentFolderId"))
    targets = folder_ids(parent_holder)
    folders = req.find(m("Folders"))
    for spec in folders if folders is not None else []:
        try:
            if not targets:
                raise EwsError("ErrorInvalidIdEmpty", "No parent folder given.")
            parent = ctx.folder_from(targets[0])
            name = (spec.findtext(t("DisplayName")) or "").strip()
            if not name:
                raise EwsError("ErrorInvalidFolderName", "A folder needs a display name.")
            if local(spec) not in ("Folder", "SearchFolder"):
                raise EwsError("ErrorInvalidFolderTypeForOperation", "Only mail folders can be created.")
            # A t:Folder without a FolderClass has none, as on Exchange: clients then treat it as a
            # generic folder (exchangelib's Folder), not as a mail folder.
            folder_class = (spec.findtext(t("FolderClass")) or "").strip() or None
            try:
                folder = ctx.store.create_folder(parent, name, folder_class)
            except FileExistsError:
                raise EwsError("ErrorFolderExists", f"Could not create folder '{name}'.") from None
        except EwsError as exc:
            error_message(messages, "CreateFolder", exc.code, exc.message)
            continue
        _answer_folder_id(messages, "CreateFolder", folder)


def delete_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    for fid in folder_ids(req.find(m("FolderIds"))):
        try:
            folder = ctx.folder_from(fid)
            if folder.distinguished:
                raise EwsError("ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
            parent = ctx.store.folder(folder.parent_id) if folder.parent_id else None
            if is_system_folder(folder, parent):
                raise EwsError("ErrorCannotDeleteObject", "This folder cannot be deleted.")
            ctx.store.delete_folder(folder)
        except EwsError as exc:
            error_message(messages, "DeleteFolder", exc.code, exc.message)
            continue
        ok_message(messages, "DeleteFolder")


def sync_folder_hierarchy(ctx: Ctx, req: Element, messages: Element) -> None:
    """Folders below the sync folder: all of them without a state, else those created or
    deleted since (renames are not modelled)."""
    from addin.sandbox.mail.ops_sync import decode_state, encode_state

    key = hierarchy_key(ctx.user)
    try:
        targets = folder_ids(req.find(m("SyncFolderId")))
        top = ctx.folder_from(targets[0]) if targets else ctx.store.distinguished(ctx.user, "root")
        if top is None:
            raise EwsError("ErrorFolderNotFound", "The mailbox has no root folder.")
        state = (req.findtext(m("SyncState")) or "").strip()
        since = decode_state(state, key) if state else None
    except EwsError as exc:
        msg = error_message(messages, "SyncFolderHierarchy", exc.code, exc.message)
        sub(msg, m("SyncState"))
        sub(msg, m("IncludesLastFolderInRange"), "true")
        return
    last = ctx.store.last_seq()
    below = {f.id: f for f in descendants(ctx, top, deep=True)}
    changes: list[tuple[str, str]] = []
    if since is None:
        changes = [("Create", fid) for fid in below]
    else:
        kinds: dict[str, set[str]] = {}
        for _seq, fid, kind in ctx.store.changes_since(key, since):
            kinds.setdefault(fid, set()).add(kind)
        for fid, seen in kinds.items():
            if fid in below:
                changes.append(("Create" if "create" in seen else "Update", fid))
            elif "create" not in seen and "delete" in seen:
                changes.append(("Delete", fid))
    msg = ok_message(messages, "SyncFolderHierarchy")
    sub(msg, m("SyncState"), encode_state(key, last))
    sub(msg, m("IncludesLastFolderInRange"), "true")
    holder = sub(msg, m("Changes"))
    for kind, fid in changes:
        change = sub(holder, t(kind))
        if kind == "Delete":
            sub(change, t("FolderId"), Id=fid, ChangeKey="")
        else:
            render_folder(change, ctx, below[fid], shape_of(req))


def update_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    """Renames (folder:DisplayName) and permission sets (folder:PermissionSet); a different
    folder:FolderClass is refused with ErrorObjectTypeChanged, as Exchange does."""
    changes = req.find(m("FolderChanges"))
    for change in changes if changes is not None else []:
        try:
            targets = folder_ids(change)
            if not targets:
                raise EwsError("ErrorInvalidIdEmpty", "FolderChange without a folder id.")
            try:
                folder = ctx.folder_from(targets[0])
            except EwsError as exc:
                if exc.code != "ErrorFolderNotFound":
                    raise
                # UpdateFolder on a folder that is gone answers ErrorItemNotFound on Exchange
                # (exchangelib's test_create_update_empty_delete holds a real server to it).
                raise EwsError(
                    "ErrorItemNotFound", "The specified object was not found in the store."
                ) from None
            for upd in change.iter(t("SetFolderField")):
                folder = _set_field(ctx, folder, upd)
        except EwsError as exc:
            error_message(messages, "UpdateFolder", exc.code, exc.message)
            continue
        _answer_folder_id(messages, "UpdateFolder", folder)


def _set_field(ctx: Ctx, folder: Folder, upd: Element) -> Folder:
    path = upd.find(t("FieldURI"))
    uri = (path.get("FieldURI") or "").lower() if path is not None else ""
    if uri == "folder:displayname":
        name = (upd.findtext(f".//{t('DisplayName')}") or "").strip()
        if not name:
            raise EwsError("ErrorInvalidFolderName", "A folder needs a display name.")
        if folder.distinguished:
            raise EwsError("ErrorCannotRenameOrMoveDistinguishedFolder", "Not for this folder.")
        try:
            return ctx.store.rename_folder(folder, name)
        except FileExistsError:
            raise EwsError("ErrorFolderExists", "A folder with that name already exists.") from None
    if uri == "folder:folderclass":
        value = (upd.findtext(f".//{t('FolderClass')}") or "").strip()
        if value != (folder.folder_class or ""):
            raise EwsError("ErrorObjectTypeChanged", "The folder class of a folder cannot be changed.")
        return folder
    if uri == "folder:permissionset":
        found = upd.find(f".//{t('PermissionSet')}")
        if found is None:
            raise EwsError("ErrorInvalidPropertySet", "SetFolderField without a PermissionSet.")
        return ctx.store.set_permission_set(folder, etree.tostring(found))
    return folder  # other folder fields are accepted and not kept


def move_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    """MoveFolder (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/movefolder-operation):
    the folder keeps its id and gets a new change key; distinguished folders stay put."""
    try:
        targets = folder_ids(req.find(m("ToFolderId")))
        if not targets:
            raise EwsError("ErrorInvalidIdEmpty", "No destination folder given.")
        destination = ctx.folder_from(targets[0])
    except EwsError as exc:
        for _ in folder_ids(req.find(m("FolderIds"))) or [None]:
            error_message(messages, "MoveFolder", exc.code, exc.message)
        return
    for fid in folder_ids(req.find(m("FolderIds"))):
        try:
            folder = ctx.folder_from(fid)
            if folder.distinguished:
                raise EwsError("ErrorCannotRenameOrMoveDistinguishedFolder", "Not for this folder.")
            if ctx.store.is_below(destination, folder):
                raise EwsError("ErrorMoveCopyFailed", "A folder cannot be moved into itself.")
            try:
                folder = ctx.store.move_folder(folder, destination)
            except FileExistsError:
                raise EwsError("ErrorFolderExists", "A folder with that name already exists.") from None
        except EwsError as exc:
            error_message(messages, "MoveFolder", exc.code, exc.message)
            continue
        _answer_folder_id(messages, "MoveFolder", folder)


def empty_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    """EmptyFolder (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/emptyfolder-operation):
    deletes the items, and the sub-folders when DeleteSubFolders is true."""
    delete_sub_folders = (req.get("DeleteSubFolders") or "false").lower() == "true"
    for fid in folder_ids(req.find(m("FolderIds"))):
        try:
            folder = ctx.folder_from(fid)
            if folder.distinguished in ("root", "msgfolderroot"):
                raise EwsError("ErrorCannotEmptyFolder", "This folder cannot be emptied.")
            ctx.store.empty_folder(folder, delete_sub_folders)
        except EwsError as exc:
            error_message(messages, "EmptyFolder", exc.code, exc.message)
            continue
        ok_message(messages, "EmptyFolder")
