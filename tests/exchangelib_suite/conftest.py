"""Run exchangelib's own tests against a fresh sandbox Exchange per test file.

The only thing bent is how the tests build their ``Configuration`` (``common.py``, see SOURCE.md):
the service endpoint is the sandbox's plain-http EWS URL and the auth is Basic. Out-of-scope tests
are deselected by name below, each with its reason; nothing is skipped.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import exchangelib
import pytest

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX, PASSWORD

from .sandbox_settings import SETTINGS

# Deselected by name ("file::Class::test", or "file::Class" for a whole class), each with its reason.
# Not a mail bridge's business: the sandbox answers these operations with Exchange's own
# "not supported" style error (ErrorInvalidOperation).
DESELECTED: dict[str, str] = {
    "test_account.py::AccountTest::test_all_inbox_rule_actions": "inbox rules are out of scope",
    "test_account.py::AccountTest::test_basic_inbox_rule": "inbox rules are out of scope",
    "test_account.py::AccountTest::test_disabled_inbox_rule": "inbox rules are out of scope",
    "test_account.py::AccountTest::test_delegate": "delegates are out of scope",
    "test_account.py::AccountTest::test_mail_tips": "mail tips are out of scope",
    "test_account.py::AccountTest::test_protocol_default_values": (
        "builds its own Configuration from server= (https, guessed auth): the bent part of this suite"
    ),
    "test_account.py::AccountTest::test_get_default_folder": (
        "expects the well-known folders named in Danish, the language of exchangelib's own test mailbox"
    ),
    "test_folder.py::FolderTest::test_public_folders_root": "public folders are out of scope",
    "test_folder.py::FolderTest::test_user_configuration": "user configuration is out of scope",
    "test_items/test_bulk.py::CalendarBulkMethodTest": "calendar items are out of scope",
    # exchangelib's abstract bases, collected again wherever a test file imports them; they raise
    # SkipTest themselves ("only for inheritance") and their tests run in the concrete subclasses.
    "test_items/test_basics.py::CommonItemTest": "abstract base, runs in its subclasses",
    "test_items/test_bulk.py::CommonItemTest": "abstract base, runs in its subclasses",
    "test_items/test_generic.py::CommonItemTest": "abstract base, runs in its subclasses",
    "test_items/test_messages.py::CommonItemTest": "abstract base, runs in its subclasses",
    # Tests that skip themselves on a model without indexed fields (those are a contact's).
    "test_items/test_generic.py::GenericItemTest::test_filter_on_single_field_index_fields": (
        "a message has no single-index fields (contacts are out of scope)"
    ),
    "test_items/test_generic.py::GenericItemTest::test_filter_on_multi_field_index_fields": (
        "a message has no multi-index fields (contacts are out of scope)"
    ),
    "test_items/test_messages.py::MessagesTest::test_filter_on_single_field_index_fields": (
        "a message has no single-index fields (contacts are out of scope)"
    ),
    "test_items/test_messages.py::MessagesTest::test_filter_on_multi_field_index_fields": (
        "a message has no multi-index fields (contacts are out of scope)"
    ),
    "test_items/test_messages.py::MessagesTest::test_filter_on_list_fields": (
        "every list field of a message is an Item field, filtered in GenericItemTest; skips itself here"
    ),
    # Tests that assert one server's exact bytes or its own quirk rather than EWS's documented behaviour.
    "test_attachments.py::AttachmentsTest::test_raw_service_call": (
        "asserts the byte-exact output of Exchange's HTML-to-text converter and HTML filter (a CRLF and a"
        " space it adds); the sandbox converts and filters, with other bytes"
    ),
    "test_items/test_queryset.py::ItemQuerySetTest::test_mark_as_junk_via_queryset": (
        "asserts Exchange Online's quirk (the test's own comment): MarkAsJunk with MoveItem leaves the"
        " item in the Inbox; the sandbox moves it to Junk Email, as the MarkAsJunk reference documents"
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = __name__.rpartition(".")[0]
    keep: list[pytest.Item] = []
    gone: list[pytest.Item] = []
    for item in items:
        key = item.nodeid.split("exchangelib_suite/", 1)[-1]
        klass = key.rpartition("::")[0]
        ours = item.module is not None and item.module.__name__.startswith(here)
        if ours and (key in DESELECTED or klass in DESELECTED):
            gone.append(item)
        else:
            keep.append(item)
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = keep


@pytest.fixture(scope="session")
def seeded_mailbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of a sandbox as ``crm-bridge sandbox mail`` seeds it (the demo mailboxes),
    made once; every test file starts its own sandbox on a copy of it."""
    template = tmp_path_factory.mktemp("ews-suite-template")
    MailSandbox(data_dir=template, seed="demo").stop()
    return template


@pytest.fixture(scope="module", autouse=True)
def sandbox_exchange(seeded_mailbox: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSandbox]:
    """A fresh sandbox per test file; exchangelib's tests sign in as the demo salesperson and read
    the address from SETTINGS."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    data = tmp_path_factory.mktemp("ews-suite") / "mail"
    shutil.copytree(seeded_mailbox, data)
    with MailSandbox(data_dir=data) as sandbox:
        SETTINGS.clear()
        SETTINGS.update(
            service_endpoint=sandbox.ews_url,
            username=ALEX.email,
            password=PASSWORD,
            account=ALEX.email,
        )
        yield sandbox
        SETTINGS.clear()
    exchangelib.close_connections()
