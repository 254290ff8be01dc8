"""The journal's rows as plain values, and the conversions between them and SQLite."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from addin.states import JournalState

AUDIT_RETENTION = timedelta(days=90)


def utcnow() -> datetime:
    return datetime.now(UTC)


def ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class Link:
    message_key: str
    activity_id: str
    item_id: str | None
    folder_id: str | None
    subject: str
    regarding: str | None
    regarding_name: str | None
    tracked_at: datetime


@dataclass(frozen=True)
class OutboxRecord:
    activity_id: str
    message_id: str
    subject: str
    recipients: str
    state: JournalState
    reason: str
    attempts: int
    updated_at: datetime


@dataclass(frozen=True)
class QueuedTrack:
    id: int
    item_id: str
    regarding: str | None
    reason: str
    attempts: int
    last_error: str
    not_before: datetime


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    action: str
    ok: bool
    subject: str
    detail: str
    activity_id: str | None
    item_id: str | None
    message_id: str | None


@dataclass(frozen=True)
class AuditNote:
    """An audit row to write together with a state change (see :meth:`Store.outbox_put`)."""

    action: str
    ok: bool = True
    subject: str = ""
    detail: str = ""
    activity_id: str | None = None
    item_id: str | None = None
    message_id: str | None = None


def link_row(row: sqlite3.Row) -> Link:
    return Link(
        row["message_key"],
        row["activity_id"],
        row["item_id"],
        row["folder_id"],
        row["subject"],
        row["regarding"],
        row["regarding_name"],
        parse_ts(row["tracked_at"]),
    )


def outbox_row(row: sqlite3.Row) -> OutboxRecord:
    return OutboxRecord(
        row["activity_id"],
        row["message_id"],
        row["subject"],
        row["recipients"],
        JournalState(row["state"]),
        row["reason"],
        int(row["attempts"]),
        parse_ts(row["updated_at"]),
    )


def queued_row(row: sqlite3.Row) -> QueuedTrack:
    return QueuedTrack(
        int(row["id"]),
        row["item_id"],
        row["regarding"],
        row["reason"],
        int(row["attempts"]),
        row["last_error"],
        parse_ts(row["not_before"]),
    )


def audit_row(row: sqlite3.Row) -> AuditRow:
    return AuditRow(
        int(row["id"]),
        parse_ts(row["at"]),
        row["action"],
        bool(row["ok"]),
        row["subject"],
        row["detail"],
        row["activity_id"],
        row["item_id"],
        row["message_id"],
    )
