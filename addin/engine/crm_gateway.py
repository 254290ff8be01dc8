"""The CRM operations the engine needs, in the engine's terms, over the Dataverse client.

Round trips are the cost (DESIGN §3), so look-ups for a whole batch of messages go in
one ``$batch`` of GETs, and the e-mails themselves go in ``$batch`` change sets: one
change set per message (create with deep-inserted parties, attachments bound to
``$1``, then the state change), so each message is all-or-nothing.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from addin.bridge_types import REGARDING_TABLES, RecordRef
from addin.crm import records as r
from addin.crm.client import DataverseClient
from addin.crm.query import encode_query
from addin.errors import ConflictError, CrmError, NotFoundError
from addin.mailbox.types import Attachment

# Party tables tried when resolving an address, most specific first (a contact wins
# over the account sharing its address).
RESOLVE_ORDER = ("systemuser", "contact", "lead", "account")
CONTEXT_TTL = 15 * 60.0
MAILBOX_METHODS = "incomingemaildeliverymethod,outgoingemaildeliverymethod"
# The outbox needs what the CRM's own pickup reads (records.OUTBOX_SELECT) plus its bookkeeping.
OUTBOX_COLUMNS = [*r.OUTBOX_SELECT, "modifiedon", "deliveryattempts"]
ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}


@dataclass(frozen=True)
class UserContext:
    user_id: str
    full_name: str
    email: str
    mailbox_id: str | None
    incoming_method: int  # mailbox.incomingemaildeliverymethod: 1 = this app, 2 = server-side sync
    outgoing_method: int
    filtering_method: int  # usersettings.incomingemailfilteringmethod
    max_upload_bytes: int
    blocked_extensions: frozenset[str]
    colleague_domains: frozenset[str] = frozenset()
    tracking_prefixes: tuple[str, ...] = ("CRM",)


@dataclass(frozen=True)
class TrackedEmail:
    activity_id: str
    message_id: str | None
    regarding: RecordRef | None
    statuscode: int | None = None


@dataclass(frozen=True)
class Party:
    mask: int
    address: str
    record: RecordRef | None = None


@dataclass
class EmailDraft:
    """One CRM e-mail the engine wants to exist (a tracked message)."""

    activity_id: str
    subject: str
    description: str
    outgoing: bool
    message_id: str
    parties: list[Party]
    when: datetime | None
    regarding: RecordRef | None = None
    attachments: list[Attachment] = field(default_factory=list)
    submitted_by: str = ""
    owner_id: str | None = None


@dataclass(frozen=True)
class PendingEmail:
    activity_id: str
    etag: str
    subject: str
    description: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    statuscode: int
    message_id: str | None
    send_after: datetime | None
    modified: datetime | None
    attempts: int
    regarding: RecordRef | None = None


class CrmGateway:
    def __init__(self, client: DataverseClient, *, clock: Any = time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self._context: UserContext | None = None
        self._context_at = 0.0
        # The engine thread and the UI's workers share this gateway: one reads the context
        # while another refreshes it, and only one of them asks the CRM.
        self._context_lock = threading.Lock()

    # -- who am I, and what does the CRM allow ----------------------------------------

    def context(self, *, refresh: bool = False) -> UserContext:
        with self._context_lock:
            return self._context_locked(refresh)

    def _context_locked(self, refresh: bool) -> UserContext:
        if self._context is not None and not refresh and self._clock() - self._context_at < CONTEXT_TTL:
            return self._context
        who = self.client.whoami()
        # The rest in one round trip: the user with their CRM mailbox, their settings, the org.
        batch = self.client.batch()
        batch.get(
            r.entity_path("systemusers", who.user_id),
            {
                "$select": "fullname,internalemailaddress",
                "$expand": f"defaultmailbox($select=mailboxid,{MAILBOX_METHODS})",
            },
        )
        batch.get(
            r.entity_path("usersettingscollection", who.user_id), {"$select": "incomingemailfilteringmethod"}
        )
        batch.get(
            "organizations", {"$select": "maxuploadfilesize,blockedattachments,trackingprefix", "$top": "1"}
        )
        answers = batch.execute()
        for answer in answers:
            if answer.error is not None:
                raise answer.error
        user, settings = answers[0].json or {}, answers[1].json or {}
        org: dict[str, Any] = next(iter((answers[2].json or {}).get("value", [])), {})
        mailbox = user.get("defaultmailbox") or {}
        mailbox_id = mailbox.get("mailboxid")
        incoming = int(mailbox.get("incomingemaildeliverymethod") or 0)
        outgoing = int(mailbox.get("outgoingemaildeliverymethod") or 0)
        blocked = frozenset(
            ext.strip().lower().lstrip(".")
            for ext in str(org.get("blockedattachments") or "").split(";")
            if ext.strip()
        )
        email = str(user.get("internalemailaddress") or "")
        self._context = UserContext(
            user_id=who.user_id,
            full_name=str(user.get("fullname") or ""),
            email=email,
            mailbox_id=mailbox_id,
            incoming_method=incoming,
            outgoing_method=outgoing,
            filtering_method=int(settings.get("incomingemailfilteringmethod", 2)),
            max_upload_bytes=int(org.get("maxuploadfilesize") or 5 * 1024 * 1024),
            blocked_extensions=blocked,
            colleague_domains=frozenset({email.rpartition("@")[2].lower()} if "@" in email else ()),
            # trackingprefix is a history list ("CRM;SALES"): tokens of every past prefix still correlate.
            tracking_prefixes=tuple(
                p.strip() for p in str(org.get("trackingprefix") or "CRM").split(";") if p.strip()
            ),
        )
        self._context_at = self._clock()
        return self._context

    # -- look-ups, batched ------------------------------------------------------------

    def lookup(
        self,
        message_ids: Sequence[str],
        addresses: Sequence[str],
        activity_ids: Sequence[str] = (),
        tokens: Sequence[str] = (),
    ) -> tuple[dict[str, TrackedEmail], dict[str, list[RecordRef]]]:
        """Already-tracked e-mails (by Message-ID or activity id) and address resolution, in one $batch."""
        batch = self.client.batch()
        plan: list[tuple[str, str]] = []
        select_email = "activityid,messageid,statuscode,_regardingobjectid_value"
        for flt in r.email_filter_message_ids(list(message_ids)) if message_ids else []:
            _annotated_get(batch, "emails", {"$select": select_email, "$filter": flt})
            plan.append(("email", ""))
        for chunk in _chunks(list(activity_ids), r.IN_CHUNK):
            _annotated_get(
                batch, "emails", {"$select": select_email, "$filter": r.in_filter("activityid", chunk)}
            )
            plan.append(("email", ""))
        for chunk in _chunks(sorted(set(tokens)), r.IN_CHUNK):
            _annotated_get(
                batch,
                "emails",
                {"$select": select_email + ",trackingtoken", "$filter": r.in_filter("trackingtoken", chunk)},
            )
            plan.append(("email", ""))
        lowered = sorted({a.lower() for a in addresses if a})
        for name in RESOLVE_ORDER:
            table = r.PARTY_TABLES[name]
            cols = ",".join((table.primary_id, table.primary_name, *table.email_columns))
            for flt in r.address_filter(table, lowered) if lowered else []:
                batch.get(table.entity_set, params={"$select": cols, "$filter": flt})
                plan.append(("party", name))
        tracked: dict[str, TrackedEmail] = {}
        resolved: dict[str, list[RecordRef]] = {}
        if not plan:
            return tracked, resolved
        results = batch.execute()
        for (kind, name), result in zip(plan, results, strict=True):
            if result.error is not None:
                raise result.error
            rows = (result.json or {}).get("value", [])
            if kind == "email":
                for row in rows:
                    te = _tracked(row)
                    tracked[te.activity_id] = te
                    if te.message_id:
                        tracked[_bracket(te.message_id)] = te
                    if row.get("trackingtoken"):
                        # Only a token lookup selects trackingtoken; keep the first (oldest) match.
                        tracked.setdefault("token:" + str(row["trackingtoken"]).lower(), te)
            else:
                table = r.PARTY_TABLES[name]
                for row in rows:
                    ref = RecordRef(
                        table.logical_name, row[table.primary_id], str(row.get(table.primary_name) or "")
                    )
                    for col in table.email_columns:
                        value = str(row.get(col) or "").lower()
                        if value in lowered:
                            resolved.setdefault(value, [])
                            if ref not in resolved[value]:
                                resolved[value].append(ref)
        return tracked, resolved

    # -- tracking -----------------------------------------------------------------------

    def create_emails(self, drafts: Sequence[EmailDraft]) -> list[CrmError | None]:
        """Create each draft atomically; a duplicate key is ConflictError (already tracked)."""
        outcomes: list[CrmError | None] = []
        for group in _parts_groups(drafts, 900):
            batch = self.client.batch()
            for draft in group:
                cs = batch.changeset()
                cs.create("emails", _email_body(draft), content_id="1")
                for att in draft.attachments:
                    cs.create(
                        "activitymimeattachments",
                        {
                            r.ATTACHMENT_TO_EMAIL_BIND: "$1",
                            "objecttypecode": "email",
                            "filename": att.name,
                            "mimetype": att.content_type,
                            "subject": att.name,
                            "body": base64.b64encode(att.content).decode("ascii"),
                            # Set only for inline images: the CRM shows those in the body.
                            **(
                                {"attachmentcontentid": att.content_id}
                                if att.is_inline and att.content_id
                                else {}
                            ),
                        },
                    )
                state = r.STATUS_SENT if draft.outgoing else r.STATUS_RECEIVED
                cs.update("$1", data={"statecode": 1, "statuscode": state})
            results = batch.execute(continue_on_error=True)
            outcomes.extend(_changeset_outcomes(results, len(group)))
        return outcomes

    def set_regarding(self, activity_id: str, regarding: RecordRef | None) -> None:
        """Set, change or remove Regarding, also on a completed (Received/Sent) e-mail.

        Dataverse documents a completed e-mail as read-only, so the change runs as one
        atomic change set: reopen, change the lookup, close again with the same status.
        """
        current = self.client.retrieve(
            "emails",
            activity_id,
            select=["statecode", "statuscode", "_regardingobjectid_value"],
            annotations=True,
        )
        path = r.entity_path("emails", activity_id)
        batch = self.client.batch()
        cs = batch.changeset()
        closed = current.get("statecode") == 1
        if closed:
            cs.update("emails", activity_id, data={"statecode": 0, "statuscode": r.STATUS_DRAFT})
        if regarding is None:
            table = current.get("_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname")
            if not current.get("_regardingobjectid_value") or not table:
                return
            cs.delete(f"{path}/{r.regarding_table(str(table)).regarding_nav}/$ref")
        else:
            target = r.regarding_table(regarding.table)
            cs.update("emails", activity_id, data={target.regarding_bind_key: target.bind(regarding.id)})
        if closed:
            cs.update(
                "emails",
                activity_id,
                data={"statecode": 1, "statuscode": int(current.get("statuscode") or 4)},
            )
        for result in batch.execute():
            if result.error is not None:
                raise result.error

    def delete_email(self, activity_id: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.client.delete("emails", activity_id)

    def named(self, refs: Sequence[RecordRef]) -> list[RecordRef]:
        """The records with their names read from the CRM, in one batch; a record that is gone
        keeps what it had (its id), so a saved choice still shows."""
        wanted = [ref for ref in refs if ref.table in r.REGARDING_TABLES]
        if not wanted:
            return list(refs)
        batch = self.client.batch()
        for ref in wanted:
            table = r.REGARDING_TABLES[ref.table]
            batch.get(f"{table.entity_set}({ref.id})", params={"$select": table.primary_name})
        names: dict[tuple[str, str], str] = {}
        for ref, result in zip(wanted, batch.execute(), strict=True):
            if result.error is None:
                value = (result.json or {}).get(r.REGARDING_TABLES[ref.table].primary_name)
                names[(ref.table, ref.id)] = str(value or "")
        return [
            RecordRef(ref.table, ref.id, names.get((ref.table, ref.id)) or ref.name, ref.detail)
            for ref in refs
        ]

    def search_records(self, text: str, tables: Sequence[str], limit: int) -> list[RecordRef]:
        text = text.strip()
        if not text:
            return []
        batch = self.client.batch()
        wanted = [t for t in tables if t in r.REGARDING_TABLES]
        for name in wanted:
            table = r.REGARDING_TABLES[name]
            cols = [table.primary_id, table.primary_name, *table.email_columns[:1]]
            clauses = [f"contains({table.primary_name},{r.odata_string(text)})"]
            clauses += [f"startswith({c},{r.odata_string(text)})" for c in table.email_columns[:1]]
            batch.get(
                table.entity_set,
                params={
                    "$select": ",".join(cols),
                    "$filter": r.any_of(*clauses),
                    "$top": str(limit),
                    "$orderby": table.primary_name,
                },
            )
        found: list[RecordRef] = []
        for name, result in zip(wanted, batch.execute(), strict=True):
            if result.error is not None:
                raise result.error
            table = r.REGARDING_TABLES[name]
            for row in (result.json or {}).get("value", []):
                detail = str(row.get(table.email_columns[0]) or "") if table.email_columns else ""
                found.append(
                    RecordRef(name, row[table.primary_id], str(row.get(table.primary_name) or ""), detail)
                )
        needle = text.lower()
        found.sort(
            key=lambda ref: (not ref.name.lower().startswith(needle), REGARDING_TABLES.index(ref.table))
        )
        return found[:limit]

    # -- outbox -------------------------------------------------------------------------

    def outbox(
        self,
        context: UserContext,
        statuscodes: Iterable[int],
        top: int = 50,
        due_by: datetime | None = None,
    ) -> list[PendingEmail]:
        """The user's outgoing e-mails in these states; with ``due_by``, Pending Send ones only
        once their Send later time has come (so scheduled mail never fills the page)."""
        if not context.mailbox_id:
            return []
        clauses = []
        for code in statuscodes:
            clause = r.eq("statuscode", code)
            if code == r.STATUS_PENDING_SEND and due_by is not None:
                when = r.odata_literal(due_by)
                clause = r.all_of(clause, f"(delayedemailsendtime eq null or delayedemailsendtime le {when})")
            clauses.append(clause)
        status_clause = r.any_of(*clauses)
        flt = r.all_of(
            status_clause, "directioncode eq true", f"_sendermailboxid_value eq {r.guid(context.mailbox_id)}"
        )
        page = self.client.query_page(
            "emails",
            select=OUTBOX_COLUMNS,
            filter=flt,
            expand=r.PARTIES_EXPAND,
            orderby="modifiedon asc",
            page_size=top,
            annotations=True,
        )
        return [_pending(row) for row in page.records]

    def _update_if(self, activity_id: str, data: dict[str, Any], etag: str) -> bool:
        """PATCH under If-Match; False when the record changed since ``etag`` (412)."""
        try:
            self.client.update("emails", activity_id, data, etag=etag)
        except ConflictError:
            return False
        return True

    def claim(self, pending: PendingEmail, message_id: str) -> bool:
        """Pending Send -> Sending, naming the Message-ID; False if another copy claimed it first."""
        data = {"statecode": 1, "statuscode": r.STATUS_SENDING, "messageid": message_id}
        return self._update_if(pending.activity_id, data, pending.etag)

    def current(self, activity_id: str) -> PendingEmail | None:
        try:
            row = self.client.retrieve(
                "emails", activity_id, select=OUTBOX_COLUMNS, expand=r.PARTIES_EXPAND, annotations=True
            )
        except NotFoundError:
            return None
        return _pending(row)

    def mark_sent(self, activity_id: str, message_id: str) -> None:
        """Sending -> Sent; a no-op when another copy of the bridge already marked it."""
        try:
            self.client.update(
                "emails", activity_id, {"statecode": 1, "statuscode": r.STATUS_SENT, "messageid": message_id}
            )
        except CrmError as exc:
            if exc.status != 400:
                raise
            current = self.client.retrieve("emails", activity_id, select=["statuscode"])
            if current.get("statuscode") != r.STATUS_SENT:
                raise

    def mark_failed(self, activity_id: str, attempts: int, etag: str = "*") -> bool:
        """-> Failed; with an ETag, False if the e-mail changed (another machine took it)."""
        data = {"statecode": 0, "statuscode": r.STATUS_FAILED, "deliveryattempts": attempts}
        return self._update_if(activity_id, data, etag)

    def release(self, pending: PendingEmail) -> bool:
        """Sending -> Pending Send (a stale claim with no copy in Sent Items); False if it moved on."""
        data = {"statecode": 1, "statuscode": r.STATUS_PENDING_SEND, "messageid": None}
        return self._update_if(pending.activity_id, data, pending.etag)

    def requeue(self, activity_id: str) -> None:
        """Failed -> Pending Send (the user pressed Retry)."""
        self.client.update("emails", activity_id, {"statecode": 1, "statuscode": r.STATUS_PENDING_SEND})

    def attachments(self, activity_id: str) -> list[Attachment]:
        rows = self.client.query(
            "activitymimeattachments",
            select=["filename", "mimetype", "body", "attachmentcontentid"],
            filter=f"_objectid_value eq {r.guid(activity_id)}",
        )
        return [
            Attachment(
                str(row.get("filename") or "attachment"),
                str(row.get("mimetype") or "application/octet-stream"),
                base64.b64decode(row.get("body") or ""),
                is_inline=bool(row.get("attachmentcontentid")),
                content_id=row.get("attachmentcontentid") or None,
            )
            for row in rows
        ]


def _annotated_get(batch: Any, path: str, params: dict[str, str]) -> None:
    batch.request("GET", path + "?" + encode_query(params), headers=ANNOTATIONS)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _bracket(mid: str) -> str:
    return f"<{mid.strip().strip('<>')}>"


def _regarding_of(row: dict[str, Any]) -> RecordRef | None:
    value = row.get("_regardingobjectid_value")
    if not value:
        return None
    table = str(row.get("_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname") or "")
    name = str(row.get("_regardingobjectid_value@OData.Community.Display.V1.FormattedValue") or "")
    return RecordRef(table, str(value), name)


def _tracked(row: dict[str, Any]) -> TrackedEmail:
    return TrackedEmail(
        str(row["activityid"]), row.get("messageid"), _regarding_of(row), row.get("statuscode")
    )


def _email_body(draft: EmailDraft) -> dict[str, Any]:
    body: dict[str, Any] = {
        "activityid": draft.activity_id,
        "subject": draft.subject[:800],
        "description": draft.description,
        "directioncode": draft.outgoing,
        "messageid": draft.message_id[:320],
        "email_activity_parties": [
            r.party(p.mask, table=p.record.table, id=p.record.id, address=p.address)
            if p.record is not None
            else r.party(p.mask, address=p.address)
            for p in draft.parties
        ],
    }
    if draft.submitted_by:
        body["submittedby"] = draft.submitted_by[:250]
    if draft.when is not None:
        body["actualend"] = r.odata_literal(draft.when) if draft.when.tzinfo else None
    if draft.regarding is not None:
        table = r.regarding_table(draft.regarding.table)
        body[table.regarding_bind_key] = table.bind(draft.regarding.id)
    if draft.owner_id:
        body["ownerid@odata.bind"] = r.bind("systemusers", draft.owner_id)
    return {k: v for k, v in body.items() if v is not None}


def _parts_groups(drafts: Sequence[EmailDraft], max_parts: int) -> Iterable[list[EmailDraft]]:
    group: list[EmailDraft] = []
    count = 0
    for draft in drafts:
        size = 2 + len(draft.attachments)
        if group and count + size > max_parts:
            yield group
            group, count = [], 0
        group.append(draft)
        count += size
    if group:
        yield group


def _changeset_outcomes(results: Sequence[Any], expected: int) -> list[CrmError | None]:
    outcomes: list[CrmError | None] = []
    by_changeset: dict[int, list[Any]] = {}
    for result in results:
        if result.request.changeset is not None:
            by_changeset.setdefault(int(result.request.changeset), []).append(result)
    for index in range(expected):
        parts = by_changeset.get(index, [])
        error = next((p.error for p in parts if p.error is not None), None)
        if not parts:
            error = CrmError("The CRM did not answer for this message (the batch stopped early).")
        outcomes.append(error)
    return outcomes


def _pending(row: dict[str, Any]) -> PendingEmail:
    parties = row.get("email_activity_parties") or []

    def addresses(mask: int) -> tuple[str, ...]:
        return tuple(
            str(p.get("addressused") or "") for p in parties if p.get("participationtypemask") == mask
        )

    return PendingEmail(
        activity_id=str(row["activityid"]),
        etag=str(row.get("@odata.etag") or ""),
        subject=str(row.get("subject") or ""),
        description=str(row.get("description") or ""),
        to=addresses(r.PARTY_TO),
        cc=addresses(r.PARTY_CC),
        bcc=addresses(r.PARTY_BCC),
        statuscode=int(row.get("statuscode") or 0),
        message_id=row.get("messageid"),
        send_after=_parse_dt(row.get("delayedemailsendtime")),
        modified=_parse_dt(row.get("modifiedon")),
        attempts=int(row.get("deliveryattempts") or 0),
        regarding=_regarding_of(row),
    )


def _parse_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
