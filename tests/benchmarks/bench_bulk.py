"""Bulk tracking: the bridge's batched Track against a straightforward one-at-a-time add-in.

Both track the same kind of mail (30% with an attachment, 30% replies, 30% from senders the
CRM does not know, drawn independently with a fixed seed) into the same sandbox CRM over real
HTTP with the same injected latency. The baseline really tracks every one of its messages, one
at a time, the way an add-in without batching does: read the message, look the Message-ID up,
resolve each party address, create the e-mail with its parties, upload each attachment, close it
(Received), mark the message in the mailbox. Nothing is extrapolated.
"""

from __future__ import annotations

import base64
import random
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from addin.bridge_types import TrackOutcome
from addin.crm import records as r
from addin.crm.client import DataverseClient
from addin.demo import USER, DemoEnvironment, crm_rows, start_demo
from addin.engine.keys import activity_id_for, message_key
from addin.mailbox.port import Mailbox
from addin.mailbox.types import TRACKED_CATEGORY, FetchFailure, FolderKind, Mark, Message
from addin.store import utcnow

SHARE = 0.3  # of the messages with an attachment, of replies, of unknown senders (each)
ATTACHMENT = bytes(range(256)) * 80  # 20 KB, the size of a small PDF


def compose(count: int, senders: list[str], tag: str, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out: list[bytes] = []
    previous: str | None = None
    for i in range(count):
        msg = EmailMessage()
        unknown = rng.random() < SHARE
        sender = f"prospect{i}@unknown-{tag}.example" if unknown else senders[i % len(senders)]
        msg["From"] = sender
        msg["To"] = USER
        msg["Subject"] = f"Order update {tag} {i}"
        msg["Date"] = format_datetime(utcnow())
        mid = make_msgid(idstring=f"{tag}{i}", domain="customer.example")
        msg["Message-ID"] = mid
        if previous is not None and rng.random() < SHARE:
            msg.replace_header("Subject", f"Re: Order update {tag} {i - 1}")
            msg["In-Reply-To"] = previous
            msg["References"] = previous
        msg.set_content(f"Update number {i} of the order, with the usual details.\n" * 5)
        if rng.random() < SHARE:
            msg.add_attachment(ATTACHMENT, maintype="application", subtype="pdf", filename=f"quote-{i}.pdf")
        out.append(msg.as_bytes())
        previous = mid
    return out


class OneAtATimeAddin:
    """What a straightforward add-in does per message; every step is its own request."""

    def __init__(self, mailbox: Mailbox, client: DataverseClient, user_id: str) -> None:
        self.mailbox, self.client, self.user_id = mailbox, client, user_id

    def track(self, item_id: str) -> bool:
        [m] = self.mailbox.fetch([item_id], with_attachments=True)
        if isinstance(m, FetchFailure):
            return False
        key = message_key(m)
        existing = list(
            self.client.query(
                r.EMAIL_SET, select=["activityid"], filter=f"messageid eq {r.odata_literal(key)}", top=1
            )
        )
        if existing:
            return False
        parties = [self._party(r.PARTY_SENDER, m.sender.email)] if m.sender else []
        parties += [self._party(r.PARTY_TO, a.email) for a in m.to]
        parties += [self._party(r.PARTY_CC, a.email) for a in m.cc]
        activity_id = activity_id_for(key)
        self.client.create(r.EMAIL_SET, self._body(m, key, activity_id, parties))
        for att in m.attachments:
            self.client.create(
                r.EMAIL_ATTACHMENTS,
                {
                    r.ATTACHMENT_TO_EMAIL_BIND: r.bind(r.EMAIL_SET, activity_id),
                    "objecttypecode": "email",
                    "filename": att.name,
                    "mimetype": att.content_type,
                    "subject": att.name,
                    "body": base64.b64encode(att.content).decode("ascii"),
                },
            )
        self.client.update(
            r.EMAIL_SET, activity_id, {"statecode": 1, "statuscode": r.STATUS_RECEIVED}, etag=None
        )
        self.mailbox.mark_many([Mark(m.id, (*m.categories, TRACKED_CATEGORY), activity_id)])
        return True

    def _party(self, mask: int, address: str) -> dict[str, object]:
        found = list(
            self.client.query(
                "contacts",
                select=["contactid"],
                filter=f"emailaddress1 eq {r.odata_literal(address.lower())}",
                top=1,
            )
        )
        if found:
            return r.party(mask, table="contact", id=found[0]["contactid"])
        return r.party(mask, address=address)

    def _body(
        self, m: Message, key: str, activity_id: str, parties: list[dict[str, object]]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "activityid": activity_id,
            "subject": m.subject[:800],
            "description": m.html_body or m.text_body,
            "directioncode": False,
            "messageid": key[:320],
            r.EMAIL_PARTIES: parties,
            "ownerid@odata.bind": r.bind("systemusers", self.user_id),
        }
        return body


def run(root: Path, messages: int, latency_ms: int) -> dict[str, Any]:
    env: DemoEnvironment = start_demo(root)
    try:
        senders = [row["emailaddress1"] for row in crm_rows(env.crm, "contacts?$select=emailaddress1")]
        senders = [s for s in senders if s]
        bridge_ids = env.mail.deliver_many(USER, compose(messages, senders, "b", seed=15))
        baseline_ids = env.mail.deliver_many(USER, compose(messages, senders, "o", seed=16))
        # Warm both sides alike: who am I, mailbox and settings (cached for 15 minutes), and the
        # mailbox connection and folder list (kept for the bridge's life).
        ctx = env.bridge._crm.context()
        env.bridge._mailbox.folder(FolderKind.INBOX)
        env.crm.faults.update({"latency_ms": latency_ms})
        env.mail.faults.update({"latency_ms": latency_ms})

        def counts() -> tuple[int, int]:
            return int(env.crm.stats.snapshot()["requests"]), int(env.mail.stats.snapshot()["requests"])

        crm0, mail0 = counts()
        started = time.perf_counter()
        results = env.bridge.track(bridge_ids)
        bridge_seconds = time.perf_counter() - started
        crm1, mail1 = counts()
        tracked = sum(res.outcome is TrackOutcome.TRACKED for res in results)
        if tracked != messages:
            raise RuntimeError(f"the bridge tracked {tracked} of {messages} messages")

        addin = OneAtATimeAddin(env.bridge._mailbox, env.bridge._crm.client, ctx.user_id)
        started = time.perf_counter()
        done = sum(addin.track(item_id) for item_id in baseline_ids)
        baseline_seconds = time.perf_counter() - started
        crm2, mail2 = counts()
        if done != messages:
            raise RuntimeError(f"the one-at-a-time baseline tracked {done} of {messages} messages")
        bridge = {
            "seconds": round(bridge_seconds, 3),
            "crm_requests": crm1 - crm0,
            "mailbox_requests": mail1 - mail0,
        }
        baseline = {
            "seconds": round(baseline_seconds, 3),
            "crm_requests": crm2 - crm1,
            "mailbox_requests": mail2 - mail1,
        }
        return {
            "messages": messages,
            "bridge": bridge,
            "baseline": baseline,
            "ratio_time": round(baseline_seconds / bridge_seconds, 2),
            "ratio_crm_requests": round(baseline["crm_requests"] / max(1, bridge["crm_requests"]), 1),
        }
    finally:
        env.close()
