"""Fill the demo mailbox with many messages from CRM contacts, quickly and deterministically."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

import requests

from addin.demo import DemoEnvironment
from addin.store import utcnow

USER = "alex@contoso.example"


def deliver_many(env: DemoEnvironment, count: int) -> list[str]:
    rows = requests.get(
        env.crm.base_url + "contacts?$select=emailaddress1",
        headers={"Authorization": "Bearer sandbox"},
        timeout=30,
    ).json()["value"]
    senders = [r["emailaddress1"] for r in rows if r.get("emailaddress1")]
    ids = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = senders[i % len(senders)]
        msg["To"] = USER
        msg["Subject"] = f"Order update {i}"
        msg["Date"] = format_datetime(utcnow())
        msg["Message-ID"] = f"<bench-{i}@customer.example>"
        msg.set_content(f"Update number {i}.")
        ids.append(env.mail.deliver(USER, msg.as_bytes()))
    return ids
