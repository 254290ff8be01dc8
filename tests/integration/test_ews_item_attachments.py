"""An e-mail attached to an e-mail (Outlook's forward-as-attachment) through the sandbox Exchange
and the bridge: stored as an ItemAttachment, read back with its MIME, tracked into the sandbox CRM
as an .eml file."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import exchangelib
import pytest
from exchangelib import BASIC, DELEGATE, Account, Build, Configuration, Credentials, ItemAttachment, Version
from flow_helpers import USER, contact_addresses, crm_get, mime

from addin.bridge_types import TrackOutcome
from addin.demo import DemoEnvironment, start_demo
from addin.engine.outbox import OutboxSettings
from addin.sandbox.mail.seed import PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path, outbox_settings=OutboxSettings(grace=timedelta(seconds=0)))
    yield environment
    environment.close()
    exchangelib.close_connections()


def _forward_as_attachment(sender: str) -> tuple[bytes, bytes]:
    """(outer, inner): a customer forwards an earlier e-mail as an attachment."""
    inner = mime(sender, "Original quote request", "Please quote 40 units.", to="sales@contoso.example")
    outer = EmailMessage()
    parsed = message_from_bytes(mime(sender, "FW: quote request", "See the attached mail."), policy=default)
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        outer[name] = parsed[name]
    outer.set_content("See the attached mail.")
    outer.add_attachment(message_from_bytes(inner, policy=default), filename="Original quote request")
    return outer.as_bytes(), inner


def test_a_message_with_an_attached_email_is_tracked_with_it_as_an_eml(env: DemoEnvironment) -> None:
    sender = contact_addresses(env)[0]
    outer, _inner = _forward_as_attachment(sender)
    assert b"Content-Type: message/rfc822" in outer and b"base64" not in outer
    item_id = env.mail.deliver(USER, outer)

    # Unmodified exchangelib sees an ItemAttachment whose item is the attached e-mail.
    config = Configuration(
        service_endpoint=env.mail.ews_url,
        credentials=Credentials(USER, PASSWORD),
        auth_type=BASIC,
        version=Version(build=Build(15, 2, 1544, 4)),
    )
    acct = Account(USER, config=config, autodiscover=False, access_type=DELEGATE)
    [att] = acct.inbox.get(id=item_id).attachments
    assert isinstance(att, ItemAttachment)
    assert att.item.subject == "Original quote request"
    assert b"Please quote 40 units." in att.item.mime_content

    [result] = env.bridge.track([item_id])
    assert result.outcome is TrackOutcome.TRACKED, result.message
    rows = crm_get(
        env,
        "activitymimeattachments?$select=filename,mimetype,body"
        f"&$filter=_objectid_value eq {result.activity_id}",
    )["value"]
    assert [r["filename"] for r in rows] == ["Original quote request.eml"]
    assert rows[0]["mimetype"] == "message/rfc822"
    tracked = message_from_bytes(base64.b64decode(rows[0]["body"]), policy=default)
    assert tracked["Subject"] == "Original quote request"
    assert "Please quote 40 units." in tracked.get_content()
