"""Folder operations: ConvertId (version probe), GetFolder, FindFolder, CreateFolder."""

from __future__ import annotations

from addin.sandbox.mail.context import Ctx, folder_ids
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


def render_folder(parent: Element, ctx: Ctx, folder: Folder) -> None:
    el = sub(parent, t("Folder"))
    sub(el, t("FolderId"), Id=folder.id, ChangeKey=folder.changekey)
    if folder.parent_id:
        parent_folder = ctx.store.folder(folder.parent_id)
        if parent_folder is not None:
            sub(el, t("ParentFolderId"), Id=parent_folder.id, ChangeKey=parent_folder.changekey)
    if folder.distinguished != "root" and folder.folder_class:
        sub(el, t("FolderClass"), folder.folder_class)
    sub(el, t("DisplayName"), folder.name)
    total, unread = ctx.store.folder_counts(folder.id)
    sub(el, t("TotalCount"), str(total))
    sub(el, t("ChildFolderCount"), str(len(ctx.store.children(folder.id))))
    sub(el, t("UnreadCount"), str(unread))


def convert_id(ctx: Ctx, req: Element, messages: Element) -> None:
    """exchangelib sends ConvertId of "DUMMY" only to learn the server version: answer per id."""
    source = req.find(m("SourceIds"))
    for alt in source if source is not None else []:
        error_message(messages, "ConvertId", "ErrorInvalidIdMalformed", f"Id is malformed: {alt.get('Id')!r}")


def get_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    ids = folder_ids(req.find(m("FolderIds")))
    for folder, msg in answer_each(messages, "GetFolder", ids, ctx.folder_from):
        render_folder(sub(msg, m("Folders")), ctx, folder)


def _descendants(ctx: Ctx, folder: Folder, deep: bool) -> list[Folder]:
    out: list[Folder] = []
    for child in ctx.store.children(folder.id):
        out.append(child)
        if deep:
            out.extend(_descendants(ctx, child, deep))
    return out


def find_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    deep = req.get("Traversal", "Shallow") == "Deep"
    view = req.find(m("IndexedPageFolderView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
    parents = folder_ids(req.find(m("ParentFolderIds")))
    for parent, msg in answer_each(messages, "FindFolder", parents, ctx.folder_from):
        found = _descendants(ctx, parent, deep)
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
            render_folder(holder, ctx, folder)


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
            try:
                folder = ctx.store.create_folder(parent, name, spec.findtext(t("FolderClass")) or "IPF.Note")
            except FileExistsError:
                raise EwsError(
                    "ErrorFolderExists", "A folder with the specified name already exists."
                ) from None
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
    below = {f.id: f for f in _descendants(ctx, top, deep=True)}
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
            render_folder(change, ctx, below[fid])


def update_folder(ctx: Ctx, req: Element, messages: Element) -> None:
    """Renames (folder:DisplayName); other folder fields are accepted and ignored."""
    changes = req.find(m("FolderChanges"))
    for change in changes if changes is not None else []:
        try:
            targets = folder_ids(change)
            if not targets:
                raise EwsError("ErrorInvalidIdEmpty", "FolderChange without a folder id.")
            folder = ctx.folder_from(targets[0])
            for upd in change.iter(t("SetFolderField")):
                path = upd.find(t("FieldURI"))
                if path is not None and (path.get("FieldURI") or "").lower() == "folder:displayname":
                    name = (upd.findtext(f".//{t('DisplayName')}") or "").strip()
                    if not name:
                        raise EwsError("ErrorInvalidFolderName", "A folder needs a display name.")
                    if folder.distinguished:
                        raise EwsError("ErrorCannotRenameOrMoveDistinguishedFolder", "Not for this folder.")
                    try:
                        folder = ctx.store.rename_folder(folder, name)
                    except FileExistsError:
                        raise EwsError(
                            "ErrorFolderExists", "A folder with that name already exists."
                        ) from None
        except EwsError as exc:
            error_message(messages, "UpdateFolder", exc.code, exc.message)
            continue
        _answer_folder_id(messages, "UpdateFolder", folder)
