"""The item side of the sandbox Exchange as Exchange answers it, through unmodified exchangelib:
change keys on delete, malformed ids, new ids on move, an attached e-mail inside the MIME."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default

import exchangelib
import pytest
from exchangelib import BASIC, DELEGATE, Account, Build, Configuration, Credentials, ItemAttachment, Message
from exchangelib.errors import ErrorInvalidIdMalformed, ErrorItemNotFound, ErrorStaleObject

from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration

ADDRESS = "items@contoso.example"
PASSWORD = "items-password"  # a throwaway sandbox mailbox


@pytest.fixture
def acct() -> Iterator[Account]:
    with MailSandbox(seed="empty") as sandbox:
        sandbox.add_mailbox(ADDRESS, PASSWORD, "Item Tests")
        config = Configuration(
            service_endpoint=sandbox.ews_url,
            credentials=Credentials(ADDRESS, PASSWORD),
            auth_type=BASIC,
            version=exchangelib.Version(build=Build(15, 2, 1544, 4)),
        )
        yield Account(ADDRESS, config=config, autodiscover=False, access_type=DELEGATE)
    exchangelib.close_connections()


def test_delete_with_an_older_change_key_is_refused_and_keeps_the_item(acct: Account) -> None:
    item = Message(account=acct, folder=acct.inbox, subject="versioned", body="v1").save()
    old = (item.id, item.changekey)
    item.subject = "versioned again"
    item.save(update_fields=["subject"])
    assert item.changekey != old[1]
    with pytest.raises(ErrorStaleObject):  # exchangelib raises this code rather than returning it
        acct.bulk_delete([old])
    assert acct.inbox.get(id=item.id).subject == "versioned again"
    assert acct.bulk_delete([(item.id, item.changekey)]) == [True]


def test_malformed_ids_are_told_apart_from_missing_ones(acct: Account) -> None:
    item = Message(account=acct, folder=acct.inbox, subject="here", body="x").save()
    [malformed, missing] = list(acct.fetch([("AAAA==", None), (item.id[:-4] + "0000", None)]))
    assert isinstance(malformed, ErrorInvalidIdMalformed)
    assert isinstance(missing, ErrorItemNotFound)


def test_a_moved_item_has_a_new_id_and_the_old_one_names_nothing(acct: Account) -> None:
    item = Message(account=acct, folder=acct.inbox, subject="moving", body="x").save()
    old_id = item.id
    item.move(acct.drafts)
    assert item.id != old_id
    assert acct.drafts.get(id=item.id).subject == "moving"
    [gone] = list(acct.fetch([(old_id, None)]))
    assert isinstance(gone, ErrorItemNotFound)


def test_an_attached_email_is_a_message_rfc822_part_of_the_mime(acct: Account) -> None:
    inner = Message(account=acct, folder=acct.inbox, subject="the  original", body="first words")
    outer = Message(account=acct, folder=acct.drafts, subject="forwarded", body="see attached")
    outer.attach(ItemAttachment(name="the original", item=inner))
    outer.save()
    assert outer.attachments[0].attachment_id is not None  # CreateItem named the saved attachment
    fresh = acct.drafts.get(id=outer.id)
    [att] = fresh.attachments
    assert att.item.subject == "the  original"  # the attached e-mail's fields as saved
    parsed = message_from_bytes(fresh.mime_content, policy=default)
    [part] = [p for p in parsed.walk() if p.get_content_type() == "message/rfc822"]
    assert part["Content-Transfer-Encoding"] in (None, "7bit", "8bit")
    enclosed = part.get_payload(0)
    assert enclosed["Subject"] == "the  original"
    assert enclosed.get_content().strip() == "first words"
