"""From a mailbox message to the CRM e-mail activity that records it.

The pure part of tracking, with no network and no journal: which CRM record each party
stands for, which attachments the CRM accepts, which Regarding a reply inherits from its
thread (In-Reply-To, References, the tracking token in the subject), and how the audit log
describes the result.  :mod:`addin.engine.tracker` does the look-ups and the writes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from addin.bridge_types import RecordRef
from addin.crm.codes import PartyRole
from addin.crm.port import EmailDraft, Party, TrackedEmail, UserContext
from addin.engine.keys import normalize_message_id
from addin.mailbox.types import Address, Attachment, Message
from addin.mime import EMPTY_REASON, NO_HEADERS_REASON


def draft_email(
    m: Message,
    key: str,
    activity_id: str,
    regarding: RecordRef | None,
    ctx: UserContext,
    resolved: dict[str, list[RecordRef]],
    user_email: str = "",
) -> tuple[EmailDraft, list[str]]:
    """The CRM e-mail activity for a message, with the warnings for what could not go in.

    Each party becomes the one CRM record its address stands for, or stays an unresolved
    address; attachments the CRM would refuse (blocked type, over its size limit) are
    left out with a warning rather than failing the whole track.  ``user_email`` overrides
    the CRM user's address when deciding whether the message is outgoing.
    """
    warnings: list[str] = list(m.warnings)
    me = (user_email or ctx.email).lower()
    outgoing = bool(m.sender and m.sender.email.lower() == me)
    parties: list[Party] = []
    for mask, addrs in (
        (PartyRole.SENDER, (m.sender,) if m.sender else ()),
        (PartyRole.TO, m.to),
        (PartyRole.CC, m.cc),
        (PartyRole.BCC, m.bcc),
    ):
        for a in addrs:
            record, note = pick_record(a.email.lower(), resolved.get(a.email.lower(), []))
            if note:
                warnings.append(note)
            parties.append(Party(mask, a.email, record))
    attachments: list[Attachment] = []
    for att in m.attachments:
        ext = att.name.rpartition(".")[2].lower() if "." in att.name else ""
        if ext and ext in ctx.blocked_extensions:
            warnings.append(f"Attachment {att.name} skipped: .{ext} files are blocked by the CRM.")
        elif att.size > ctx.max_upload_bytes:
            warnings.append(
                f"Attachment {att.name} skipped: {att.size // 1024} KB is over the CRM's limit of "
                f"{ctx.max_upload_bytes // 1024} KB."
            )
        else:
            attachments.append(att)
    description = m.html_body or f"<pre>{html.escape(m.text_body)}</pre>"
    draft = EmailDraft(
        activity_id=activity_id,
        subject=m.subject,
        description=description,
        outgoing=outgoing,
        message_id=key,
        parties=parties,
        when=m.sent if outgoing else (m.received or m.sent),
        regarding=regarding,
        attachments=attachments,
        submitted_by=user_email or ctx.email,
        owner_id=ctx.user_id,
    )
    return draft, warnings


def correlate(m: Message, tracked: dict[str, TrackedEmail], token_re: re.Pattern[str]) -> RecordRef | None:
    """Inherit Regarding: In-Reply-To, then References (newest first), then the tracking token."""
    chain = [normalize_message_id(m.in_reply_to), *map(normalize_message_id, reversed(m.references))]
    for mid in chain:
        hit = tracked.get(mid) if mid else None
        if hit is not None and hit.regarding is not None:
            return hit.regarding
    for token in token_re.findall(m.subject):
        hit = tracked.get("token:" + token.lower())
        if hit is not None and hit.regarding is not None:
            return hit.regarding
    return None


def pick_record(address: str, candidates: list[RecordRef]) -> tuple[RecordRef | None, str]:
    """The record an address stands for: the first table (by RESOLVE_ORDER) with exactly one match."""
    if not candidates:
        return None, f"{address} matches no CRM record; kept as an unresolved address."
    by_table: dict[str, list[RecordRef]] = {}
    for ref in candidates:
        by_table.setdefault(ref.table, []).append(ref)
    for table in ("systemuser", "contact", "lead", "account"):
        refs = by_table.get(table, [])
        if len(refs) == 1:
            return refs[0], ""
        if len(refs) > 1:
            return None, f"{address} matches {len(refs)} {table} records; kept as an unresolved address."
    return None, ""


def not_a_message(m: Message) -> str | None:
    """Why a message cannot become an activity (no header at all), or None.

    The same reasons a dropped file is refused with, so every path says the same thing.
    """
    if m.sender or m.to or m.cc or m.bcc or m.subject.strip() or m.message_id or m.headers:
        return None
    if not m.text_body.strip() and not (m.html_body or "").strip() and not m.attachments:
        return EMPTY_REASON
    return NO_HEADERS_REASON


def parties_of(m: Message) -> list[Address]:
    """Every address on the message, sender first: a group's look-up resolves them in one round."""
    out: list[Address] = [m.sender] if m.sender is not None else []
    return out + list(m.to) + list(m.cc) + list(m.bcc)


HOW_TRACKED = {
    "manual": "by you",
    "category": "by its category",
    "folder": "from a tracked folder",
    "auto": "automatically",
    "file": "from a dropped file",
}


def describe(regarding: RecordRef | None, warnings: list[str], reason: str) -> str:
    """``Tracked by you, regarding Fabrikam (Account)`` plus any warnings, for the audit log."""
    what = f"Tracked {HOW_TRACKED.get(reason, reason)}, " + (
        f"regarding {regarding.label}" if regarding else "no Regarding"
    )
    return "; ".join([what, *warnings])


def token_pattern(prefixes: Sequence[str]) -> re.Pattern[str]:
    """Tracking tokens: a configured prefix, a colon, then digits (e.g. ``CRM:0001042``)."""
    alternatives = "|".join(re.escape(p) for p in prefixes if p) or "CRM"
    return re.compile(rf"(?<![\w:])((?:{alternatives}):\d{{3,}})(?!\w)", re.IGNORECASE)
