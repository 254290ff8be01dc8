"""The master category list over EWS: the ``CategoryList`` user configuration item of the
default Calendar folder (MS-OXOCFG §2.2.5.2, XML in the ``CategoryList.xsd`` namespace), read
and written with Get/Create/UpdateUserConfiguration.  Outlook, Outlook on the web and Graph's
``/me/outlook/masterCategories`` all show this one list.

Only ``<category>`` elements the bridge adds or removes change; every other element and
attribute of the user's list is written back exactly as read.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from exchangelib.errors import ErrorItemNotFound
from exchangelib.properties import (
    DistinguishedFolderId,
    Mailbox,
    UserConfigurationName,
    UserConfigurationNameMNS,
)
from exchangelib.properties import UserConfiguration as ExUserConfiguration
from exchangelib.services import CreateUserConfiguration, GetUserConfiguration, UpdateUserConfiguration
from lxml import etree  # type: ignore[import-untyped]

from addin.errors import MailboxError

CONFIG_NAME = "CategoryList"
NS = "CategoryList.xsd"
# Outlook's colour index (0 = red ... 24); 7 = blue, the colour Graph's preset7 names too.
COLOR = "7"

# Server XML is data, never instructions: no entities, no network, no huge trees.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)


def _name(account: Any) -> Any:
    return DistinguishedFolderId(id="calendar", mailbox=Mailbox(email_address=account.primary_smtp_address))


def read(account: Any) -> tuple[bool, bytes | None]:
    """Whether the item exists (a new mailbox never opened in Outlook has none) and its XML."""
    try:
        config = GetUserConfiguration(account=account).get(
            user_configuration_name=UserConfigurationNameMNS(name=CONFIG_NAME, folder=_name(account)),
            properties="XmlData",
        )
    except ErrorItemNotFound:
        return False, None
    data = getattr(config, "xml_data", None)
    return True, (bytes(data) if data else None)


def write(account: Any, xml: bytes, *, create: bool) -> None:
    config = ExUserConfiguration(
        user_configuration_name=UserConfigurationName(name=CONFIG_NAME, folder=_name(account)), xml_data=xml
    )
    service = CreateUserConfiguration if create else UpdateUserConfiguration
    service(account=account).get(expect_result=None, user_configuration=config)


def _root(xml: bytes | None) -> Any:
    if not xml:
        return etree.Element(f"{{{NS}}}categories", nsmap={None: NS})
    if b"<!DOCTYPE" in xml[:4096].upper():
        # The list never has a DTD; one could only carry entity expansions.
        raise MailboxError("The mailbox's category list has a document type declaration; it is not read.")
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise MailboxError(f"The mailbox's category list is not readable XML ({exc}).") from None
    if etree.QName(root).localname != "categories":
        raise MailboxError("The mailbox's category list has an unexpected shape.")
    return root


def _categories(root: Any) -> list[Any]:
    return [el for el in root if isinstance(el.tag, str) and etree.QName(el).localname == "category"]


def names(xml: bytes | None) -> list[str]:
    return [str(el.get("name") or "") for el in _categories(_root(xml))]


def edited(xml: bytes | None, add: Sequence[str], remove: Sequence[str]) -> bytes | None:
    """The list with ``add`` present and ``remove`` gone; None when nothing changes."""
    root = _root(xml)
    gone = {n.lower() for n in remove}
    changed = False
    for el in _categories(root):
        if str(el.get("name") or "").lower() in gone:
            root.remove(el)
            changed = True
    present = {str(el.get("name") or "").lower() for el in _categories(root)}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000")
    for name in dict.fromkeys(n for n in add if n and n.lower() not in present):
        ns = etree.QName(root).namespace or NS
        etree.SubElement(
            root,
            f"{{{ns}}}category",
            name=name,
            color=COLOR,
            keyboardShortcut="0",
            usageCount="0",
            lastTimeUsed=now,
            guid="{" + str(uuid.uuid4()).upper() + "}",
            renameOnFirstUse="0",
        )
        changed = True
    if not changed:
        return None
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def update(account: Any, add: Sequence[str], remove: Sequence[str]) -> None:
    exists, current = read(account)
    new = edited(current, add, remove)
    if new is not None:
        write(account, new, create=not exists)
