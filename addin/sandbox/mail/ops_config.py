"""User configuration items: Get/Create/Update/DeleteUserConfiguration, for the one item a mail
bridge needs, the master category list (``CategoryList`` in the Calendar folder, MS-OXOCFG
§2.2.5.2; EWS reference pages getuserconfiguration-operation and friends).

The list is the same one Graph's ``/me/outlook/masterCategories`` serves, as in Exchange: both
faces read and write the store's ``master_categories`` rows.  The XML the client last wrote is
kept, so attributes and elements the sandbox does not model come back as written.  The
sandbox has no calendar folder; ``DistinguishedFolderId Id="calendar"`` (or any folder id of
the user's) names the item's home.  Other configuration names are answered
ErrorItemNotFound on read and refused on write.
"""

from __future__ import annotations

import uuid

from lxml import etree  # type: ignore[import-untyped]

from addin.sandbox.mail.context import Ctx
from addin.sandbox.mail.soap import (
    Element,
    EwsError,
    b64,
    child_text,
    error_message,
    local,
    m,
    ok_message,
    sub,
    t,
    unb64,
)

CATEGORY_LIST = "CategoryList"
NS = "CategoryList.xsd"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _meta_key(mailbox: str) -> str:
    return f"userconfig:{mailbox}:{CATEGORY_LIST}"


def _name_of(ctx: Ctx, req: Element) -> str:
    name_el = next((c for c in req.iter() if local(c) == "UserConfigurationName"), None)
    if name_el is None:
        raise EwsError("ErrorInvalidRequest", "UserConfigurationName is required.")
    folder = next((c for c in name_el if local(c) in ("FolderId", "DistinguishedFolderId")), None)
    if folder is None:
        raise EwsError("ErrorInvalidRequest", "UserConfigurationName needs a folder id.")
    if local(folder) == "DistinguishedFolderId" and folder.get("Id") == "calendar":
        mailbox = child_text(folder, f"{t('Mailbox')}/{t('EmailAddress')}").strip().lower() or ctx.user
        if mailbox != ctx.user:
            raise EwsError(
                "ErrorAccessDenied", "The sandbox grants access to the signed-in user's own mailbox only."
            )
    else:
        ctx.folder_from(folder)  # any other folder must at least be the user's
    return str(name_el.get("Name") or "")


def _color(value: str | None) -> str:
    try:
        n = int(value or "-1")
    except ValueError:
        n = -1
    return f"preset{n}" if 0 <= n <= 24 else "none"


def _xml(ctx: Ctx) -> bytes:
    """The stored XML brought in step with the master list (Graph may have changed it)."""
    stored = ctx.store.meta(_meta_key(ctx.user))
    root = (
        etree.fromstring(unb64(stored), _PARSER)
        if stored
        else etree.Element(f"{{{NS}}}categories", nsmap={None: NS})
    )
    rows = {name.lower(): (name, color) for _, name, color in ctx.store.categories(ctx.user)}
    for el in [c for c in root if isinstance(c.tag, str) and etree.QName(c).localname == "category"]:
        if str(el.get("name") or "").lower() not in rows:
            root.remove(el)
        else:
            rows.pop(str(el.get("name")).lower())
    ns = etree.QName(root).namespace or NS
    for name, color in rows.values():
        n = color.removeprefix("preset") if color.startswith("preset") else "-1"
        etree.SubElement(
            root, f"{{{ns}}}category", name=name, color=n, keyboardShortcut="0",
            guid="{" + str(uuid.uuid4()).upper() + "}", renameOnFirstUse="0",
        )  # fmt: skip
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def _exists(ctx: Ctx) -> bool:
    return bool(ctx.store.meta(_meta_key(ctx.user)) or ctx.store.categories(ctx.user))


def _save(ctx: Ctx, req: Element) -> None:
    xml_el = next((c for c in req.iter() if local(c) == "XmlData"), None)
    data = unb64(xml_el.text or "") if xml_el is not None else b""
    if b"<!DOCTYPE" in data[:4096].upper():
        raise EwsError("ErrorInvalidRequest", "XmlData must not carry a document type declaration.")
    try:
        root = etree.fromstring(data, _PARSER) if data else etree.Element(f"{{{NS}}}categories")
    except etree.XMLSyntaxError as exc:
        raise EwsError("ErrorInvalidRequest", f"XmlData is not well-formed XML: {exc}") from None
    wanted: dict[str, str] = {}
    for el in root:
        if isinstance(el.tag, str) and etree.QName(el).localname == "category" and el.get("name"):
            wanted.setdefault(str(el.get("name")).lower(), str(el.get("name")))
    for cat_id, name, _ in ctx.store.categories(ctx.user):
        if name.lower() not in wanted:
            ctx.store.delete_category(ctx.user, cat_id)
    known = {name.lower() for _, name, _ in ctx.store.categories(ctx.user)}
    for el in root:
        name = str(el.get("name") or "") if isinstance(el.tag, str) else ""
        if name and name.lower() not in known:
            ctx.store.add_category(ctx.user, name, _color(el.get("color")))
            known.add(name.lower())
    ctx.store.set_meta(_meta_key(ctx.user), b64(data or etree.tostring(root)))


def _check_name(name: str, op: str) -> None:
    if name != CATEGORY_LIST:
        raise EwsError(
            "ErrorItemNotFound" if op == "Get" else "ErrorInvalidRequest",
            f"The sandbox keeps only the {CATEGORY_LIST} configuration item, not {name!r}.",
        )


def get_user_configuration(ctx: Ctx, req: Element, messages: Element) -> None:
    op = "GetUserConfiguration"
    try:
        name = _name_of(ctx, req)
        _check_name(name, "Get")
        if not _exists(ctx):
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
    except EwsError as exc:
        error_message(messages, op, exc.code, exc.message)
        return
    msg = ok_message(messages, op)
    config = sub(msg, m("UserConfiguration"))
    name_el = sub(config, t("UserConfigurationName"), Name=name)
    sub(name_el, t("DistinguishedFolderId"), Id="calendar")
    sub(config, t("ItemId"), Id="UC" + uuid.uuid5(uuid.NAMESPACE_URL, ctx.user).hex, ChangeKey="CQAAAA==")
    sub(config, t("XmlData"), b64(_xml(ctx)))


def _write(ctx: Ctx, req: Element, messages: Element, op: str, *, create: bool) -> None:
    try:
        _check_name(_name_of(ctx, req), "Set")
        if create and _exists(ctx):
            # The exact code Exchange sends for a duplicate configuration item is unverified.
            raise EwsError("ErrorItemSave", "A configuration item with this name already exists.")
        if not create and not _exists(ctx):
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        _save(ctx, req)
    except EwsError as exc:
        error_message(messages, op, exc.code, exc.message)
        return
    ok_message(messages, op)


def create_user_configuration(ctx: Ctx, req: Element, messages: Element) -> None:
    _write(ctx, req, messages, "CreateUserConfiguration", create=True)


def update_user_configuration(ctx: Ctx, req: Element, messages: Element) -> None:
    _write(ctx, req, messages, "UpdateUserConfiguration", create=False)


def delete_user_configuration(ctx: Ctx, req: Element, messages: Element) -> None:
    op = "DeleteUserConfiguration"
    try:
        _check_name(_name_of(ctx, req), "Get")
    except EwsError as exc:
        error_message(messages, op, exc.code, exc.message)
        return
    for cat_id, _, _ in ctx.store.categories(ctx.user):
        ctx.store.delete_category(ctx.user, cat_id)
    ctx.store.set_meta(_meta_key(ctx.user), "")
    ok_message(messages, op)
