"""Dataverse's option codes for the e-mail activity, in one place (reference dataverse.md §1.2, §1.5).

``statecode`` and ``statuscode`` come in fixed pairs: every status reason belongs to exactly one
state, and the Web API refuses a pair that does not match.  The engine compares and writes
these members only; no bare 0/1/4 stands for a state anywhere else.
"""

from __future__ import annotations

from enum import IntEnum


class EmailState(IntEnum):
    """``email.statecode`` (global choice ``email_statecode``)."""

    OPEN = 0
    COMPLETED = 1
    CANCELED = 2

    @property
    def default_status(self) -> EmailStatus:
        return _DEFAULT_STATUS[self]


class EmailStatus(IntEnum):
    """``email.statuscode`` (global choice ``email_statuscode``)."""

    DRAFT = 1
    COMPLETED = 2
    SENT = 3
    RECEIVED = 4
    CANCELED = 5
    PENDING_SEND = 6
    SENDING = 7
    FAILED = 8

    @property
    def state(self) -> EmailState:
        """The state this status reason belongs to: Pending Send and Sending are Completed,
        Failed is Open."""
        return _STATE_OF[self]

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def of(cls, value: object) -> EmailStatus | None:
        """The member for a value read from the CRM, or None (a custom or missing status)."""
        try:
            return cls(int(value))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return None


class PartyRole(IntEnum):
    """``activityparty.participationtypemask`` for the parties of an e-mail."""

    SENDER = 1
    TO = 2
    CC = 3
    BCC = 4


_STATE_OF = {
    EmailStatus.DRAFT: EmailState.OPEN,
    EmailStatus.COMPLETED: EmailState.COMPLETED,
    EmailStatus.SENT: EmailState.COMPLETED,
    EmailStatus.RECEIVED: EmailState.COMPLETED,
    EmailStatus.CANCELED: EmailState.CANCELED,
    EmailStatus.PENDING_SEND: EmailState.COMPLETED,
    EmailStatus.SENDING: EmailState.COMPLETED,
    EmailStatus.FAILED: EmailState.OPEN,
}
_DEFAULT_STATUS = {
    EmailState.OPEN: EmailStatus.DRAFT,
    EmailState.COMPLETED: EmailStatus.COMPLETED,
    EmailState.CANCELED: EmailStatus.CANCELED,
}
_LABELS = {
    EmailStatus.DRAFT: "Draft",
    EmailStatus.COMPLETED: "Completed",
    EmailStatus.SENT: "Sent",
    EmailStatus.RECEIVED: "Received",
    EmailStatus.CANCELED: "Canceled",
    EmailStatus.PENDING_SEND: "Pending Send",
    EmailStatus.SENDING: "Sending",
    EmailStatus.FAILED: "Failed",
}
