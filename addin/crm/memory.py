"""An in-memory CRM behind the CRM port, keeping Dataverse's rules for the e-mail activity.

For unit tests of the engine (no HTTP) and anything else that needs a CRM without a server.
The rules are the ones the Web API enforces and the sandbox CRM reproduces (reference
dataverse.md §0.4, §1.2), and tests/contract/test_crm_contract.py runs the same assertions
against this class and against the Dataverse adapter on the sandbox, so the two cannot drift:

* every change gives the e-mail a new ETag; a write under ``If-Match`` naming an older one is
  refused with 412 (``ConflictError``), so two claimers cannot both win;
* ``statecode`` and ``statuscode`` always form a pair the metadata allows (Pending Send and
  Sending are Completed, Failed is Open); a mismatched pair or an unknown status is a 400;
* a closed (Completed or Canceled) e-mail is read-only: changing a column without changing
  the status is a 400, and a repeated Sent is answered that way too;
* creating an e-mail whose activity id exists is refused as a duplicate key (0x80040237);
* parties bind to existing records only; Regarding must be a record of a table an e-mail can
  be regarding.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from addin.bridge_types import REGARDING_TABLES, RecordRef
from addin.crm import records as r
from addin.crm.codes import EmailState, EmailStatus, PartyRole
from addin.crm.memory_rows import MemoryEmail, MemoryRecord
from addin.crm.port import EmailDraft, Party, PendingEmail, Resolved, Tracked, TrackedEmail, UserContext
from addin.errors import BridgeError, ConflictError, CrmError, NotFoundError
from addin.mailbox.types import Attachment
from addin.store import utcnow

DUPLICATE_KEY = "0x80040237"
USER_ID = "7d0b6ec4-27b4-4e2f-9a3c-0a1d5e6f7a81"
MAILBOX_ID = "0f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
# Dataverse's default list of blocked attachment extensions (a few of them).
BLOCKED = frozenset({"ade", "bat", "cmd", "com", "exe", "js", "msi", "vbs"})


class MemoryCrm:
    """The CRM port in memory; safe to share between threads (one lock)."""

    def __init__(
        self,
        *,
        email: str = "alex@contoso.example",
        full_name: str = "Alex Wilber",
        incoming_method: int = 1,
        outgoing_method: int = 1,
        filtering_method: int = 2,
        max_upload_bytes: int = 5 * 1024 * 1024,
        tracking_prefixes: tuple[str, ...] = ("CRM",),
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._lock = threading.RLock()
        self._now = now
        self.user = UserContext(
            user_id=USER_ID,
            full_name=full_name,
            email=email,
            mailbox_id=MAILBOX_ID,
            incoming_method=incoming_method,
            outgoing_method=outgoing_method,
            filtering_method=filtering_method,
            max_upload_bytes=max_upload_bytes,
            blocked_extensions=BLOCKED,
            colleague_domains=frozenset({email.rpartition("@")[2].lower()}),
            tracking_prefixes=tracking_prefixes,
        )
        self.emails: dict[str, MemoryEmail] = {}
        self.records: dict[tuple[str, str], MemoryRecord] = {}
        self._versions = itertools.count(1)
        self._tokens = itertools.count(1)
        #: When set, every call raises it (the CRM is unreachable or refusing us).
        self.outage: BridgeError | None = None
        self.add_record("systemuser", full_name, email, id=USER_ID)

    # -- the server side (what users and other clients do in the CRM) --------------------------

    def add_record(self, table: str, name: str, *emails: str, id: str | None = None) -> RecordRef:
        record = MemoryRecord(table, (id or str(uuid.uuid4())).lower(), name, tuple(emails))
        with self._lock:
            self.records[(table, record.id)] = record
        return record.ref

    def queue_email(
        self,
        to: str,
        subject: str,
        body: str = "",
        *,
        cc: Sequence[str] = (),
        bcc: Sequence[str] = (),
        regarding: RecordRef | None = None,
        send_after: datetime | None = None,
    ) -> str:
        """An e-mail from the user queued in Pending Send, as pressing Send in the CRM does
        (the tracking token appended to the subject)."""
        with self._lock:
            token = f"{self.user.tracking_prefixes[0]}:{next(self._tokens):07d}"
            parties = [Party(PartyRole.SENDER, self.user.email, RecordRef("systemuser", USER_ID))]
            for role, addresses in ((PartyRole.TO, [to]), (PartyRole.CC, cc), (PartyRole.BCC, bcc)):
                parties += [Party(role, a, self._resolve_one(a)) for a in addresses]
            email = MemoryEmail(
                str(uuid.uuid4()),
                f"{subject} {token}",
                body,
                parties=parties,
                regarding=self._existing_ref(regarding) if regarding else None,
                tracking_token=token,
                send_after=send_after,
                sender_mailbox=self.user.mailbox_id,
            )
            self._insert(email)
            self._write(email.activity_id, {"status": EmailStatus.PENDING_SEND}, None)
            return email.activity_id

    def schedule(self, activity_id: str, when: datetime | None) -> None:
        """Set the e-mail's Send later time (as the CRM's form does)."""
        with self._lock:
            self._email(activity_id).send_after = when

    def patch_email(self, activity_id: str, if_match: str | None = None, **changes: Any) -> None:
        """Another client's PATCH of an e-mail (``state``, ``status``, ``subject``, ...), under
        the same rules as the port's own writes."""
        with self._lock:
            self._write(activity_id, changes, if_match)

    def status(self, activity_id: str) -> tuple[EmailState, int]:
        with self._lock:
            email = self._email(activity_id)
            return email.state, email.status

    # -- the port -------------------------------------------------------------------------------

    def context(self, *, refresh: bool = False) -> UserContext:
        self._gate()
        return self.user

    def ping(self) -> None:
        self._gate()

    def close(self) -> None:
        pass

    def lookup(
        self,
        message_ids: Sequence[str],
        addresses: Sequence[str],
        activity_ids: Sequence[str] = (),
        tokens: Sequence[str] = (),
    ) -> tuple[Tracked, Resolved]:
        self._gate()
        mids = {m.strip().strip("<>").lower() for m in message_ids if m.strip().strip("<>")}
        ids = {a.lower() for a in activity_ids}
        wanted_tokens = {t.lower() for t in tokens}
        tracked: Tracked = {}
        resolved: Resolved = {}
        with self._lock:
            for email in self.emails.values():
                bare = (email.message_id or "").strip().strip("<>").lower()
                token = (email.tracking_token or "").lower()
                if not ((bare and bare in mids) or email.activity_id in ids or token in wanted_tokens):
                    continue
                te = TrackedEmail(email.activity_id, email.message_id, email.regarding, int(email.status))
                tracked[te.activity_id] = te
                if te.message_id:
                    tracked[f"<{te.message_id.strip().strip('<>')}>"] = te
                if token and token in wanted_tokens:
                    tracked.setdefault("token:" + token, te)
            lowered = {a.lower() for a in addresses if a}
            for table in ("systemuser", "contact", "lead", "account"):
                for record in self.records.values():
                    if record.table != table:
                        continue
                    for address in record.emails:
                        if address.lower() in lowered:
                            hits = resolved.setdefault(address.lower(), [])
                            if record.ref not in hits:
                                hits.append(record.ref)
        return tracked, resolved

    def create_emails(self, drafts: Sequence[EmailDraft]) -> list[CrmError | None]:
        self._gate()
        return [self._create(draft) for draft in drafts]

    def set_regarding(self, activity_id: str, regarding: RecordRef | None) -> None:
        self._gate()
        with self._lock:
            email = self._email(activity_id)
            if regarding is None and email.regarding is None:
                return
            # Reopen, change, close with the same status: one atomic change set in Dataverse.
            target = self._existing_ref(regarding) if regarding else None
            email.regarding = target
            self._bump(email)

    def delete_email(self, activity_id: str) -> None:
        self._gate()
        with self._lock:
            self.emails.pop(activity_id.lower(), None)

    def named(self, refs: Sequence[RecordRef]) -> list[RecordRef]:
        self._gate()
        with self._lock:
            out = []
            for ref in refs:
                record = self.records.get((ref.table, ref.id)) if ref.table in r.REGARDING_TABLES else None
                out.append(replace(ref, name=record.name or ref.name) if record else ref)
            return out

    def current_names(self, refs: Sequence[RecordRef]) -> dict[str, str]:
        self._gate()
        with self._lock:
            out: dict[str, str] = {}
            for ref in refs:
                record = self.records.get((ref.table, ref.id)) if ref.table in r.REGARDING_TABLES else None
                if record is not None:
                    out[ref.to_spec()] = record.name
            return out

    def search_records(self, text: str, tables: Sequence[str], limit: int) -> list[RecordRef]:
        self._gate()
        text = text.strip()
        if not text:
            return []
        needle = text.lower()
        found: list[RecordRef] = []
        with self._lock:
            for name in [t for t in tables if t in r.REGARDING_TABLES]:
                first_email = bool(r.REGARDING_TABLES[name].email_columns)
                hits = [
                    rec
                    for rec in self.records.values()
                    if rec.table == name
                    and (
                        needle in rec.name.lower()
                        or (first_email and rec.emails and rec.emails[0].lower().startswith(needle))
                    )
                ]
                hits.sort(key=lambda rec: rec.name.lower())
                for rec in hits[:limit]:
                    detail = rec.emails[0] if first_email and rec.emails else ""
                    found.append(RecordRef(name, rec.id, rec.name, detail))
        found.sort(
            key=lambda ref: (not ref.name.lower().startswith(needle), REGARDING_TABLES.index(ref.table))
        )
        return found[:limit]

    def outbox(
        self,
        context: UserContext,
        statuscodes: Iterable[int],
        top: int = 50,
        due_by: datetime | None = None,
    ) -> list[PendingEmail]:
        self._gate()
        if not context.mailbox_id:
            return []
        codes = set(statuscodes)
        with self._lock:
            rows = [
                e
                for e in self.emails.values()
                if e.status in codes
                and e.outgoing
                and e.sender_mailbox == context.mailbox_id
                and not (
                    e.status == EmailStatus.PENDING_SEND
                    and due_by is not None
                    and e.send_after is not None
                    and e.send_after > due_by
                )
            ]
            rows.sort(key=lambda e: e.version)  # modifiedon asc: the order of the last change
            return [self._pending(e) for e in rows[:top]]

    def current(self, activity_id: str) -> PendingEmail | None:
        self._gate()
        with self._lock:
            email = self.emails.get(activity_id.lower())
            return self._pending(email) if email else None

    def claim(self, pending: PendingEmail, message_id: str) -> bool:
        changes = {"status": EmailStatus.SENDING, "message_id": message_id}
        return self._update_if(pending.activity_id, changes, pending.etag)

    def mark_sent(self, activity_id: str, message_id: str) -> None:
        self._gate()
        with self._lock:
            try:
                self._write(activity_id, {"status": EmailStatus.SENT, "message_id": message_id}, None)
            except CrmError as exc:
                if exc.status != 400 or self._email(activity_id).status != EmailStatus.SENT:
                    raise

    def mark_failed(self, activity_id: str, attempts: int, etag: str = "*") -> bool:
        return self._update_if(activity_id, {"status": EmailStatus.FAILED, "attempts": attempts}, etag)

    def release(self, pending: PendingEmail) -> bool:
        changes = {"status": EmailStatus.PENDING_SEND, "message_id": None}
        return self._update_if(pending.activity_id, changes, pending.etag)

    def requeue(self, activity_id: str) -> None:
        self._gate()
        with self._lock:
            self._write(activity_id, {"status": EmailStatus.PENDING_SEND}, None)

    def attachments(self, activity_id: str) -> list[Attachment]:
        self._gate()
        with self._lock:
            email = self.emails.get(activity_id.lower())
            return list(email.attachments) if email else []

    # -- the rules --------------------------------------------------------------------------------

    def _gate(self) -> None:
        if self.outage is not None:
            raise self.outage

    def _update_if(self, activity_id: str, changes: dict[str, Any], etag: str) -> bool:
        self._gate()
        with self._lock:
            try:
                self._write(activity_id, changes, etag)
            except ConflictError:
                return False
            return True

    def _write(self, activity_id: str, changes: dict[str, Any], if_match: str | None) -> None:
        """One PATCH of an e-mail, refused as Dataverse refuses it; all or nothing."""
        email = self._email(activity_id)
        if if_match and if_match != "*" and if_match != email.etag:
            raise ConflictError(
                "The version of the existing record doesn't match the RowVersion property provided.",
                status=412,
            )
        state, status = self._pair(email, changes)
        others = [k for k in changes if k not in ("state", "status")]
        status_change = ("state" in changes or "status" in changes) and status != email.status
        if email.state is not EmailState.OPEN and others and not status_change:
            raise CrmError(
                f"This email is read-only and can't be edited: it is {EmailStatus(email.status).label}. "
                "Reopen it first.",
                status=400,
            )
        email.state, email.status = state, status
        for key in others:
            setattr(email, key, changes[key])
        self._bump(email)

    @staticmethod
    def _pair(email: MemoryEmail, changes: dict[str, Any]) -> tuple[EmailState, EmailStatus]:
        """The statecode/statuscode pair a change asks for: a status alone brings its state, a
        state alone its default status; a pair the metadata does not allow is a 400."""
        if "state" not in changes and "status" not in changes:
            return email.state, EmailStatus(email.status)
        status = EmailStatus.of(changes["status"]) if changes.get("status") is not None else None
        if changes.get("status") is not None and status is None:
            raise CrmError(
                f"A validation error occurred.  {changes['status']} is not a valid statuscode.", status=400
            )
        if changes.get("state") is None:
            assert status is not None
            return status.state, status
        try:
            state = EmailState(int(changes["state"]))
        except ValueError:
            raise CrmError(
                f"A validation error occurred.  {changes['state']} is not a valid statecode.", status=400
            ) from None
        status = status or state.default_status
        if status.state is not state:
            raise CrmError(
                f"{int(status)} is not a valid status code for state code EmailState.{state.name.title()} "
                f"on email with Id {email.activity_id}.",
                status=400,
            )
        return state, status

    def _create(self, draft: EmailDraft) -> CrmError | None:
        with self._lock:
            if draft.activity_id.lower() in self.emails:
                return ConflictError(
                    "Cannot insert duplicate key.", status=412, code=DUPLICATE_KEY, title="Already exists"
                )
            try:
                parties = [
                    replace(p, record=self._existing_ref(p.record)) if p.record else p for p in draft.parties
                ]
                regarding = self._existing_ref(draft.regarding) if draft.regarding else None
                for att in draft.attachments:
                    ext = att.name.rpartition(".")[2].lower() if "." in att.name else ""
                    if ext in self.user.blocked_extensions or len(att.content) > self.user.max_upload_bytes:
                        raise CrmError(
                            "The attachment is either not a valid type or is too large.", status=400
                        )
            except CrmError as exc:
                return exc
            email = MemoryEmail(
                draft.activity_id.lower(),
                draft.subject[:800],
                draft.description,
                outgoing=draft.outgoing,
                message_id=draft.message_id[:320],
                parties=parties,
                regarding=regarding,
                attachments=list(draft.attachments),
                owner_id=draft.owner_id,
            )
            self._insert(email)
            # Created open, then closed in the same change set (statecode is not valid on Create).
            self._write(
                email.activity_id,
                {"status": EmailStatus.SENT if draft.outgoing else EmailStatus.RECEIVED},
                None,
            )
            return None

    def _insert(self, email: MemoryEmail) -> None:
        self._bump(email)
        self.emails[email.activity_id] = email

    def _bump(self, email: MemoryEmail) -> None:
        email.version = next(self._versions)
        email.modified = self._now()

    def _email(self, activity_id: str) -> MemoryEmail:
        email = self.emails.get(activity_id.lower())
        if email is None:
            raise NotFoundError(f"email With Id = {activity_id} Does Not Exist", status=404)
        return email

    def _existing_ref(self, ref: RecordRef) -> RecordRef:
        if ref.table not in r.REGARDING_TABLES and ref.table not in r.PARTY_TABLES:
            raise CrmError(f"An e-mail cannot point at a {ref.table!r} record.", status=400)
        record = self.records.get((ref.table, ref.id.lower()))
        if record is None:
            raise NotFoundError(f"{ref.table} With Id = {ref.id} Does Not Exist", status=404)
        return RecordRef(ref.table, record.id, record.name)

    def _resolve_one(self, address: str) -> RecordRef | None:
        for table in ("contact", "lead", "account", "systemuser"):
            for record in self.records.values():
                if record.table == table and address.lower() in (e.lower() for e in record.emails):
                    return record.ref
        return None

    def _pending(self, email: MemoryEmail) -> PendingEmail:
        def addresses(role: PartyRole) -> tuple[str, ...]:
            return tuple(p.address for p in email.parties if p.mask == role)

        return PendingEmail(
            activity_id=email.activity_id,
            etag=email.etag,
            subject=email.subject,
            description=email.description,
            to=addresses(PartyRole.TO),
            cc=addresses(PartyRole.CC),
            bcc=addresses(PartyRole.BCC),
            statuscode=int(email.status),
            message_id=email.message_id,
            send_after=email.send_after,
            modified=email.modified,
            attempts=email.attempts,
            regarding=email.regarding,
        )
