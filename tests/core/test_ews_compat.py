"""The exchangelib internals the EWS backend relies on (``addin/mailbox/ews_compat.py``).

These fail when an exchangelib upgrade changes what the adapters read or override: then
``ews_compat`` is the one place to adapt (or to simplify, where the upgrade fixed the cause).
No network: the Account is built with an explicit version and never used to call a server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, FileAttachment, Version
from exchangelib import errors as exl
from exchangelib.services import SyncFolderItems
from exchangelib.services.sync_folder_hierarchy import SyncFolder
from exchangelib.util import MNS
from lxml import etree

from addin.mailbox import ews_compat, ews_connect

ERROR_ANSWER = (
    f'<m:SyncFolderItemsResponseMessage xmlns:m="{MNS}" ResponseClass="Error">'
    "<m:MessageText>The synchronization state data is corrupt or otherwise invalid.</m:MessageText>"
    "<m:ResponseCode>ErrorInvalidSyncStateData</m:ResponseCode>"
    "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
    "</m:SyncFolderItemsResponseMessage>"
)
CHANGES = f"{{{MNS}}}Changes"


@pytest.fixture
def account() -> Iterator[Account]:
    config = Configuration(
        service_endpoint="http://127.0.0.1:9/EWS/Exchange.asmx",
        credentials=Credentials("alex@contoso.example", "not-used"),
        auth_type="basic",
        version=Version(build=Build(15, 0, 1497, 2)),
    )
    acct = Account("alex@contoso.example", config=config, autodiscover=False, access_type=DELEGATE)
    yield acct
    ews_connect.forget_account(acct)


def test_the_version_the_account_learnt_is_read_without_asking_the_server(account: Account) -> None:
    assert "_version" in vars(account), "exchangelib no longer keeps Account._version"
    assert vars(account)["_version"] is None, "a fresh account has learnt nothing yet"
    assert ews_compat.learnt_version(account) == Version(build=Build(15, 0, 1497, 2))
    learnt = Version(build=Build(15, 1, 2507, 6))
    account.version = learnt  # what exchangelib does with each answer's ServerVersionInfo
    assert ews_compat.learnt_version(account) is learnt
    assert ews_connect.hints_of(account, "alex@contoso.example")[ews_connect.HINT_BUILD] == "15.1.2507.6"


def test_a_loaded_attachment_is_read_without_fetching_it_again() -> None:
    assert "_content" in {f.name for f in FileAttachment.FIELDS}, "FileAttachment keeps its content elsewhere"
    assert ews_compat.loaded_content(FileAttachment(name="a.txt", content=b"body")) == b"body"
    assert ews_compat.loaded_content(FileAttachment(name="empty.txt")) is None


def test_an_error_answer_to_sync_folder_items_is_its_ews_error(account: Account) -> None:
    # The override skips SyncFolder in the MRO: the layout it relies on.
    assert SyncFolderItems.__mro__[1] is SyncFolder
    assert "_get_element_container" in vars(SyncFolder)
    message = etree.fromstring(ERROR_ANSWER)
    with pytest.raises(exl.ErrorInvalidSyncStateData):
        ews_compat.CheckedSyncFolderItems(account=account)._get_element_container(
            message=message, name=CHANGES
        )
    # Why the adapter exists; when this stops failing, exchangelib fixed it and the class can go.
    with pytest.raises(AttributeError):
        SyncFolderItems(account=account)._get_element_container(message=message, name=CHANGES)


def test_the_internals_ews_services_overrides_are_still_there() -> None:
    """``ews_services.py`` reads answers whole by overriding ``_get_soap_parts(response)`` and
    skips the item model in a first sync by overriding ``_elem_to_obj(elem)`` with the
    service's ``change_types_map``: an exchangelib that renames or reshapes them fails here."""
    import inspect

    from exchangelib.services.common import EWSService

    from addin.mailbox.ews_services import StateOnlySync, SyncItems

    assert list(inspect.signature(EWSService._get_soap_parts).parameters) == ["response"]
    assert list(inspect.signature(SyncFolderItems._elem_to_obj).parameters) == ["self", "elem"]
    assert {str(v) for v in SyncFolderItems.change_types_map.values()} == {
        "create",
        "update",
        "delete",
        "read_flag_change",
    }
    assert issubclass(SyncItems, ews_compat.CheckedSyncFolderItems)
    assert issubclass(StateOnlySync, SyncItems)
