"""Helpers for the UI tests: read the sandbox CRM over its Web API, build customer mail."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import requests


def crm_rows(env: Any, path: str) -> list[dict[str, Any]]:
    answer = requests.get(
        env.crm.base_url + path,
        headers={**env.crm.headers, "Prefer": 'odata.include-annotations="*"'},
        timeout=30,
    )
    answer.raise_for_status()
    rows: list[dict[str, Any]] = answer.json()["value"]
    return rows


def crm_patch(env: Any, path: str, body: dict[str, Any]) -> None:
    answer = requests.patch(env.crm.base_url + path, json=body, headers=env.crm.headers, timeout=30)
    answer.raise_for_status()


def contact_addresses(env: Any) -> list[str]:
    return sorted(
        r["emailaddress1"].lower()
        for r in crm_rows(env, "contacts?$select=emailaddress1")
        if r.get("emailaddress1")
    )


def customer_mime(sender: str, subject: str, body: str = "Hello") -> bytes:
    from addin.demo import USER

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = USER
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    msg.set_content(body)
    return msg.as_bytes()
