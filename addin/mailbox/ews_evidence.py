"""Where a stamped outgoing message is on EWS: Outbox (submitted) or Sent Items (sent).

``CreateItem`` with SendAndSaveCopy leaves the message in Outbox until the transport
submits it; during a transport outage it can wait there for minutes.  A stamped item in
Outbox is evidence to wait, never to send again.  EWS sends in one call, so the bridge
never leaves a draft of its own behind: Drafts is not searched.  Nothing in either folder is
positive evidence that the message never reached the server (``absence_is_evidence``).
"""

from __future__ import annotations

from typing import Any

from addin.mailbox import ews_items
from addin.mailbox.types import SendEvidence, SendState


def evidence(sent: Any, outbox: Any, stamp: str) -> SendEvidence:
    # Read in the order a message travels (Outbox, then Sent Items): a message the transport
    # moves between the two reads is then found in Sent Items.  Read the other way round it
    # could be missed in both -- and "nowhere" is what allows a resend.  Both are always read:
    # a copy in Sent Items is the most conclusive answer.
    waiting = _hits(outbox, stamp)
    copies = _hits(sent, stamp)
    for hits, state in ((copies, SendState.SENT), (waiting, SendState.SUBMITTED)):
        if hits:
            return SendEvidence(state, str(hits[0].id), hits[0].message_id or None, len(hits))
    return SendEvidence(SendState.NONE)


def _hits(folder: Any, stamp: str) -> list[Any]:
    return [
        item
        for item in folder.filter(**{ews_items.STAMP_FIELD: stamp}).only("message_id")
        if not isinstance(item, Exception)
    ]
