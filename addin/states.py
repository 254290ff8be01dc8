"""The states and codes the core and the tray share, each defined once.

They are ``StrEnum`` where they are stored or compared as text: a member *is* its string, so
the journal's values on disk stay what they were (no migration) and plain strings read back
from SQLite compare equal to the members.
"""

from __future__ import annotations

from enum import StrEnum


class JournalState(StrEnum):
    """The outbox journal's ``state`` column (``addin.store``): where one e-mail's send stands.

    The protocol (``addin.engine.outbox``) moves an e-mail SENDING -> [SUBMITTING ->] SENT ->
    DONE, or to FAILED, or back to RELEASED when the claim went back to the CRM's queue.
    """

    SENDING = "sending"  # claimed in the CRM; the intent is durable, nothing has left yet
    SUBMITTING = "submitting"  # a saved draft's send was requested (backends that send drafts)
    SENT = "sent"  # the mailbox took it; the CRM is not yet marked Sent
    DONE = "done"  # marked Sent in the CRM, with its audit row
    FAILED = "failed"  # marked Failed in the CRM; the user may Retry
    RELEASED = "released"  # no longer ours: back to Pending Send, or claimed by another machine

    @classmethod
    def in_flight(cls) -> tuple[JournalState, ...]:
        """The states recovery settles after an interruption (a send may be under way)."""
        return (cls.SENDING, cls.SUBMITTING, cls.SENT)


class SendOutcome(StrEnum):
    """What :meth:`addin.engine.outbox.Outbox.send_one` did with one Pending Send e-mail."""

    SENT = "sent"
    FAILED = "failed"  # marked Failed in the CRM (bad address, refused message, ...)
    PENDING = "pending"  # not sent now (the line broke); a later poll sends or settles it
    SKIPPED = "skipped"  # another copy of the bridge claimed it first


class IssueAction(StrEnum):
    """The fix an :class:`addin.bridge_types.Issue` (or a notification) offers the user."""

    RETRY_OUTBOX = "retry_outbox"
    SIGN_IN_CRM = "sign_in_crm"
    SIGN_IN_MAILBOX = "sign_in_mailbox"
    SIGN_IN_MICROSOFT = "sign_in_microsoft"
    OPEN_SETTINGS = "open_settings"
    # Notifications only: a failed track opens Recent activity; several problems, the list.
    OPEN_ACTIVITY = "open_activity"
    OPEN_ISSUES = "open_issues"
