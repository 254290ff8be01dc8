"""The CRM port (``addin.crm.port``) over the Dataverse Web API client.

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
from datetime import datetime
from typing import Any

from addin.bridge_types import REGARDING_TABLES, RecordRef
from addin.crm import records as r
from addin.crm.client import DataverseClient
from addin.crm.codes import EmailState, EmailStatus
from addin.crm.dataverse_rows import (
    annotated_get,
    bracket,
    changeset_outcomes,
    chunks,
    email_body,
    parts_groups,
    pending_email,
    status_pair,
    tracked_email,
)
from addin.crm.port import EmailDraft, PendingEmail, Resolved, Tracked, UserContext
from addin.errors import ConflictError, CrmError, NotFoundError
from addin.mailbox.types import Attachment

# Party tables tried when resolving an address, most specific first (a contact wins
# over the account sharing its address).
RESOLVE_ORDER = ("systemuser", "contact", "lead", "account")
CONTEXT_TTL = 15 * 60.0
MAILBOX_METHODS = "incomingemaildeliverymethod,outgoingemaildeliverymethod"
# The outbox needs what the CRM's own pickup reads (records.OUTBOX_SELECT) plus its bookkeeping.
OUTBOX_COLUMNS = [*r.OUTBOX_SELECT, "modifiedon", "deliveryattempts"]


class DataverseCrm:
    """The Dataverse adapter behind :class:`addin.crm.port.CrmPort`."""

    def __init__(self, client: DataverseClient, *, clock: Any = time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self._context: UserContext | None = None
        self._context_at = 0.0
        # The engine thread and the UI's workers share this adapter: one reads the context
        # while another refreshes it, and only one of them asks the CRM.
        self._context_lock = threading.Lock()

    # -- who am I, and what does the CRM allow ----------------------------------------

    def context(self, *, refresh: bool = False) -> UserContext:
        with self._context_lock:
            return self._context_locked(refresh)

    def ping(self) -> None:
        self.client.whoami()

    def close(self) -> None:
        self.client.close()

    def _context_locked(self, refresh: bool) -> UserContext:
        if self._context is not None and not refresh and self._clock() - self._context_at < CONTEXT_TTL:
            return self._context
        self._context = self._read_context()
        self._context_at = self._clock()
        return self._context

    def _read_context(self) -> UserContext:
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
        return UserContext(
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

    # -- look-ups, batched ------------------------------------------------------------

    def lookup(
        self,
        message_ids: Sequence[str],
        addresses: Sequence[str],
        activity_ids: Sequence[str] = (),
        tokens: Sequence[str] = (),
    ) -> tuple[Tracked, Resolved]:
        """Already-tracked e-mails (by Message-ID or activity id) and address resolution, in one $batch."""
        batch = self.client.batch()
        plan: list[tuple[str, str]] = []
        select_email = "activityid,messageid,statuscode,_regardingobjectid_value"
        for flt in r.email_filter_message_ids(list(message_ids)) if message_ids else []:
            annotated_get(batch, "emails", {"$select": select_email, "$filter": flt})
            plan.append(("email", ""))
        for chunk in chunks(list(activity_ids), r.IN_CHUNK):
            annotated_get(
                batch, "emails", {"$select": select_email, "$filter": r.in_filter("activityid", chunk)}
            )
            plan.append(("email", ""))
        for chunk in chunks(sorted(set(tokens)), r.IN_CHUNK):
            annotated_get(
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
        tracked: Tracked = {}
        resolved: Resolved = {}
        if not plan:
            return tracked, resolved
        results = batch.execute()
        for (kind, name), result in zip(plan, results, strict=True):
            if result.error is not None:
                raise result.error
            rows = (result.json or {}).get("value", [])
            if kind == "email":
                for row in rows:
                    te = tracked_email(row)
                    tracked[te.activity_id] = te
                    if te.message_id:
                        tracked[bracket(te.message_id)] = te
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
        for group in parts_groups(drafts, 900):
            batch = self.client.batch()
            for draft in group:
                cs = batch.changeset()
                cs.create("emails", email_body(draft), content_id="1")
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
                state = EmailStatus.SENT if draft.outgoing else EmailStatus.RECEIVED
                cs.update("$1", data={"statecode": state.state, "statuscode": state})
            results = batch.execute(continue_on_error=True)
            outcomes.extend(changeset_outcomes(results, len(group)))
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
        closed = current.get("statecode") == EmailState.COMPLETED
        if closed:
            cs.update("emails", activity_id, data=status_pair(EmailStatus.DRAFT))
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
                data={
                    "statecode": EmailState.COMPLETED,
                    "statuscode": int(current.get("statuscode") or EmailStatus.RECEIVED),
                },
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

    def current_names(self, refs: Sequence[RecordRef]) -> dict[str, str]:
        """Current primary names (spec -> name) in one ``$batch``; deleted records are absent."""
        by_table: dict[str, list[str]] = {}
        for ref in refs:
            if ref.table in r.REGARDING_TABLES:
                by_table.setdefault(ref.table, []).append(ref.id)
        if not by_table:
            return {}
        batch = self.client.batch()
        asked: list[str] = []
        for table_name, ids in by_table.items():
            table = r.REGARDING_TABLES[table_name]
            for clause in r.in_filters(table.primary_id, ids):
                batch.get(
                    table.entity_set,
                    params={"$select": f"{table.primary_id},{table.primary_name}", "$filter": clause},
                )
                asked.append(table_name)
        found: dict[str, str] = {}
        for table_name, result in zip(asked, batch.execute(), strict=True):
            if result.error is not None:
                raise result.error
            table = r.REGARDING_TABLES[table_name]
            for row in (result.json or {}).get("value", []):
                found[f"{table_name}:{row[table.primary_id]}"] = str(row.get(table.primary_name) or "")
        return found

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
            if code == EmailStatus.PENDING_SEND and due_by is not None:
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
        return [pending_email(row) for row in page.records]

    def _update_if(self, activity_id: str, data: dict[str, Any], etag: str) -> bool:
        """PATCH under If-Match; False when the record changed since ``etag`` (412)."""
        try:
            self.client.update("emails", activity_id, data, etag=etag)
        except ConflictError:
            return False
        return True

    def claim(self, pending: PendingEmail, message_id: str) -> bool:
        """Pending Send -> Sending, naming the Message-ID; False if another copy claimed it first."""
        data = {**status_pair(EmailStatus.SENDING), "messageid": message_id}
        return self._update_if(pending.activity_id, data, pending.etag)

    def current(self, activity_id: str) -> PendingEmail | None:
        try:
            row = self.client.retrieve(
                "emails", activity_id, select=OUTBOX_COLUMNS, expand=r.PARTIES_EXPAND, annotations=True
            )
        except NotFoundError:
            return None
        return pending_email(row)

    def mark_sent(self, activity_id: str, message_id: str) -> None:
        """Sending -> Sent; a no-op when another copy of the bridge already marked it."""
        try:
            self.client.update(
                "emails", activity_id, {**status_pair(EmailStatus.SENT), "messageid": message_id}
            )
        except CrmError as exc:
            if exc.status != 400:
                raise
            current = self.client.retrieve("emails", activity_id, select=["statuscode"])
            if current.get("statuscode") != EmailStatus.SENT:
                raise

    def mark_failed(self, activity_id: str, attempts: int, etag: str = "*") -> bool:
        """-> Failed; with an ETag, False if the e-mail changed (another machine took it)."""
        data = {**status_pair(EmailStatus.FAILED), "deliveryattempts": attempts}
        return self._update_if(activity_id, data, etag)

    def release(self, pending: PendingEmail) -> bool:
        """Sending -> Pending Send (a stale claim with no copy in Sent Items); False if it moved on."""
        data = {**status_pair(EmailStatus.PENDING_SEND), "messageid": None}
        return self._update_if(pending.activity_id, data, pending.etag)

    def requeue(self, activity_id: str) -> None:
        """Failed -> Pending Send (the user pressed Retry)."""
        self.client.update("emails", activity_id, status_pair(EmailStatus.PENDING_SEND))

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
