"""Where a stamped outgoing message is on EWS: Sent Items (sent) or Outbox (submitted).

``CreateItem`` with SendAndSaveCopy leaves the message in Outbox until the transport
submits it; during a transport outage it can wait there for minutes.  A stamped item in
Outbox is evidence to wait, never to send again.  EWS sends in one call, so the bridge
never leaves a draft of its own behind: Drafts is not searched.
"""

from __future__ import annotations

from typing import Any

from addin.mailbox import ews_items
from addin.mailbox.types import SendEvidence, SendState


def evidence(sent: Any, outbox: Any, stamp: str) -> SendEvidence:
    for folder, state in ((sent, SendState.SENT), (outbox, SendState.SUBMITTED)):
        hits = [
            item
            for item in folder.filter(**{ews_items.STAMP_FIELD: stamp}).only("message_id")
            if not isinstance(item, Exception)
        ]
        if hits:
            return SendEvidence(state, str(hits[0].id), hits[0].message_id or None, len(hits))
    return SendEvidence(SendState.NONE)
