"""How the sandbox Exchange shows folders: the FolderShape of GetFolder/FindFolder (base shape and
additional properties), the folder-size extended property, and FindFolder restrictions.

Shapes follow https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/foldershape
(IdOnly: the id and what AdditionalProperties asks for; Default: id, display name and counts;
AllProperties: everything the sandbox keeps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from addin.sandbox.mail.context import Ctx
from addin.sandbox.mail.soap import Element, EwsError, local, m, sub, t
from addin.sandbox.mail.store import Folder
from addin.sandbox.mail.store_folders import folder_element

# PR_MESSAGE_SIZE_EXTENDED (0x0E08, Long): the bytes of a folder's messages; on the root, of the
# whole mailbox, as the store object reports it.
SIZE_TAG = 0x0E08

_ALL = ("parentfolderid", "folderclass", "displayname", "totalcount", "childfoldercount", "unreadcount")
_DEFAULT = ("displayname", "totalcount", "childfoldercount", "unreadcount")


@dataclass
class Shape:
    fields: set[str] = field(default_factory=lambda: set(_ALL))
    size: bool = False  # the folder-size extended property was asked for
    permission_set: bool = False


def shape_of(req: Element) -> Shape:
    holder = req.find(m("FolderShape"))
    if holder is None:
        return Shape(permission_set=True)
    base = (holder.findtext(t("BaseShape")) or "Default").strip()
    fields = set(_ALL) if base == "AllProperties" else set(_DEFAULT) if base == "Default" else set()
    out = Shape(fields=fields, permission_set=base == "AllProperties")
    extra = holder.find(t("AdditionalProperties"))
    for path in extra if extra is not None else []:
        if not isinstance(path.tag, str):
            continue
        name = local(path)
        if name == "FieldURI":
            uri = (path.get("FieldURI") or "").lower().partition(":")[2]
            if uri == "permissionset":
                out.permission_set = True
            else:
                out.fields.add(uri)
        elif name == "ExtendedFieldURI" and _tag(path.get("PropertyTag")) == SIZE_TAG:
            out.size = True
    return out


def _tag(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def render_folder(parent: Element, ctx: Ctx, folder: Folder, shape: Shape | None = None) -> Element:
    shape = shape or Shape(permission_set=True)
    want = shape.fields
    el = sub(parent, t(folder_element(folder.folder_class)))
    sub(el, t("FolderId"), Id=folder.id, ChangeKey=folder.changekey)
    if "parentfolderid" in want and folder.parent_id:
        parent_folder = ctx.store.folder(folder.parent_id)
        if parent_folder is not None:
            sub(el, t("ParentFolderId"), Id=parent_folder.id, ChangeKey=parent_folder.changekey)
    if "folderclass" in want and folder.folder_class:
        sub(el, t("FolderClass"), folder.folder_class)
    if "displayname" in want:
        sub(el, t("DisplayName"), folder.name)
    total, unread = ctx.store.folder_counts(folder.id)
    if "totalcount" in want:
        sub(el, t("TotalCount"), str(total))
    if "childfoldercount" in want:
        sub(el, t("ChildFolderCount"), str(len(ctx.store.children(folder.id))))
    if shape.size:
        prop = sub(el, t("ExtendedProperty"))
        sub(prop, t("ExtendedFieldURI"), PropertyTag=hex(SIZE_TAG), PropertyType="Long")
        sub(prop, t("Value"), str(_size(ctx, folder)))
    if shape.permission_set:
        stored = ctx.store.permission_set(folder.id)
        if stored:
            el.append(etree.fromstring(stored))
    if "unreadcount" in want and folder_element(folder.folder_class) in ("Folder", "TasksFolder"):
        sub(el, t("UnreadCount"), str(unread))
    return el


def _size(ctx: Ctx, folder: Folder) -> int:
    if folder.distinguished == "root":
        return sum(ctx.store.folder_size(f.id) for f in descendants(ctx, folder, deep=True))
    return ctx.store.folder_size(folder.id)


def descendants(ctx: Ctx, folder: Folder, deep: bool) -> list[Folder]:
    out: list[Folder] = []
    for child in ctx.store.children(folder.id):
        out.append(child)
        if deep:
            out.extend(descendants(ctx, child, deep))
    return out


# -- FindFolder restrictions --------------------------------------------------------------------


def _values(ctx: Ctx, folder: Folder, path: Element) -> tuple[str, Any]:
    if local(path) != "FieldURI":
        raise EwsError("ErrorUnsupportedPathForQuery", "Folder restrictions take folder: field paths.")
    uri = (path.get("FieldURI") or "").lower()
    if uri == "folder:displayname":
        return "str", folder.name
    if uri == "folder:folderclass":
        return "str", folder.folder_class
    if uri == "folder:folderid":
        return "id", folder.id
    if uri in ("folder:totalcount", "folder:unreadcount"):
        total, unread = ctx.store.folder_counts(folder.id)
        return "int", total if uri == "folder:totalcount" else unread
    if uri == "folder:childfoldercount":
        return "int", len(ctx.store.children(folder.id))
    raise EwsError("ErrorUnsupportedPathForQuery", f"Restrictions on {uri} are not supported.")


def _path(el: Element) -> Element:
    for child in el:
        if isinstance(child.tag, str) and local(child) in ("FieldURI", "ExtendedFieldURI", "IndexedFieldURI"):
            return child
    raise EwsError("ErrorInvalidRestriction", f"{local(el)} has no field path.")


def _coerce(kind: str, text: str) -> Any:
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise EwsError("ErrorInvalidValueForProperty", f"{text!r} is not a number.") from None
    return text.casefold() if kind == "str" else text


_COMPARE = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}


def folder_matches(ctx: Ctx, folder: Folder, el: Element) -> bool:
    """Whether a folder satisfies a restriction element; text compares ignore case, as Exchange's
    default collation does."""
    op = local(el)
    kids = [c for c in el if isinstance(c.tag, str)]
    if op == "And":
        return all(folder_matches(ctx, folder, c) for c in kids)
    if op == "Or":
        return any(folder_matches(ctx, folder, c) for c in kids)
    if op == "Not":
        return not folder_matches(ctx, folder, kids[0]) if kids else True
    if op == "Exists":
        return _values(ctx, folder, _path(el))[1] not in (None, "")
    if op == "Contains":
        _, value = _values(ctx, folder, _path(el))
        constant = el.find(t("Constant"))
        needle = constant.get("Value", "") if constant is not None else ""
        hay = str(value or "")
        if "IgnoreCase" in el.get("ContainmentComparison", "Exact"):
            hay, needle = hay.casefold(), needle.casefold()
        mode = el.get("ContainmentMode", "Substring")
        if mode == "FullString":
            return hay == needle
        if mode == "Prefixed":
            return hay.startswith(needle)
        if mode == "PrefixOnWords":
            return any(word.startswith(needle) for word in hay.split())
        return needle in hay
    if op in _COMPARE:
        kind, value = _values(ctx, folder, _path(el))
        holder = el.find(t("FieldURIOrConstant"))
        constant = holder.find(t("Constant")) if holder is not None else None
        if constant is None:
            raise EwsError("ErrorUnsupportedQueryFilter", "Only comparisons with a constant are supported.")
        right = _coerce(kind, constant.get("Value", ""))
        if value is None:
            return op == "IsNotEqualTo"
        left = value.casefold() if kind == "str" else value
        try:
            return bool(_COMPARE[op](left, right))
        except TypeError:
            return False
    raise EwsError("ErrorUnsupportedQueryFilter", f"Restriction {op} is not supported.")
