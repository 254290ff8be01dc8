"""Helpers for the end-to-end flow tests: read the sandbox CRM over HTTP like any client would."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import requests

from addin.demo import DemoEnvironment
from addin.store import utcnow

USER = "alex@contoso.example"
STAMP = "CrmBridgeActivityId"


def crm_get(env: DemoEnvironment, path: str) -> Any:
    answer = requests.get(
        env.crm.base_url + path,
        headers={"Authorization": "Bearer sandbox", "Prefer": 'odata.include-annotations="*"'},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()


def crm_patch(env: DemoEnvironment, path: str, body: dict[str, Any]) -> None:
    answer = requests.patch(
        env.crm.base_url + path, json=body, headers={"Authorization": "Bearer sandbox"}, timeout=30
    )
    assert answer.status_code in (200, 204), answer.text


def emails(env: DemoEnvironment, flt: str = "") -> list[dict[str, Any]]:
    query = "emails?$select=activityid,subject,messageid,statuscode,directioncode,_regardingobjectid_value"
    if flt:
        query += "&$filter=" + flt
    rows: list[dict[str, Any]] = crm_get(env, query)["value"]
    return rows


def contact_addresses(env: DemoEnvironment) -> list[str]:
    rows = crm_get(env, "contacts?$select=emailaddress1&$orderby=emailaddress1")["value"]
    return [r["emailaddress1"].lower() for r in rows if r.get("emailaddress1")]


def first_record(env: DemoEnvironment, entity_set: str, key: str, name: str) -> tuple[str, str]:
    row = crm_get(env, f"{entity_set}?$select={key},{name}&$top=1&$orderby={name}")["value"][0]
    return row[key], row[name]


def mime(sender: str, subject: str, body: str = "Hello", *, to: str = USER, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def stamps(env: DemoEnvironment, folder: str = "sentitems") -> list[str]:
    return [
        str(item["extended_properties"][STAMP])
        for item in env.mail.items(USER, folder)
        if item["extended_properties"].get(STAMP)
    ]
