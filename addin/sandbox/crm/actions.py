"""Functions and actions: WhoAmI, SendEmail, BackgroundSendEmail, CheckPromoteEmail,
GetTrackingTokenEmail (reference/dataverse.md §2 and §3.3)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from addin.crm.mail_methods import FilteringMethod
from addin.sandbox.crm import bulk
from addin.sandbox.crm import errors as E
from addin.sandbox.crm.deliver import deliver
from addin.sandbox.crm.errors import ODataError, bad_request, record_not_found
from addin.sandbox.crm.fetchxml import filter_predicate
from addin.sandbox.crm.handler import Handler, Headers, Req, Res
from addin.sandbox.crm.query import Annotations, Options
from addin.sandbox.crm.schema import BY_SET
from addin.sandbox.crm.schema_types import Table
from addin.sandbox.crm.store import Record, now_iso

NS = "Microsoft.Dynamics.CRM"
# CheckIncomingEmailResponse.ReasonCode values (reference §2): CheckPromoteEmail's own codes are
# undocumented [U], so the sandbox answers with the same meanings.
REASON_UNKNOWN, REASON_DUPLICATE, REASON_NO_CORRELATION, REASON_CORRELATION = -1, 0, 1, 2
REASON_ACCEPT_ALL = 6


def _context(req: Req, name: str) -> str:
    return f"{req.base_url}$metadata#{NS}.{name}"


def _only(req: Req, method: str, name: str) -> None:
    if req.method != method:
        raise ODataError(405, "0x80060890", f"'{name}' must be called with {method}.")


def _params(req: Req, key: str | None) -> dict[str, Any]:
    """Function parameters ``Name=value`` with ``@alias`` values taken from the query string."""
    out: dict[str, Any] = {}
    for m in re.finditer(r"(\w+)=('(?:[^']|'')*'|[^,]*)", key or ""):
        name, raw = m.group(1), m.group(2).strip()
        if raw.startswith("@"):
            raw = req.query.get(raw, "null")
        out[name] = _literal(raw)
    return out


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1].replace("''", "'")
    if raw == "null":
        return None
    if raw in ("true", "false"):
        return raw == "true"
    try:
        return int(raw)
    except ValueError:
        return raw


def who_am_i(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    _only(req, "GET", "WhoAmI")
    return Res.json(
        {
            "@odata.context": _context(req, "WhoAmIResponse"),
            "BusinessUnitId": h.business_unit_id,
            "UserId": h.user_id,
            "OrganizationId": h.org_id,
        }
    )


def next_tracking_token(h: Handler) -> str:
    """Prefix, the online digit 0, the user number and the wrapping message counter (§2.1)."""
    org = next(iter(h.store.all("organizations")), {})
    settings = h.store.peek("usersettingscollection", h.user_id) or {}
    user_digits = 3
    counter_digits = int(org.get("trackingtokeniddigits") or 3)
    user_no = int(settings.get("trackingtokenid") or 1) + int(org.get("trackingtokenidbase") or 0)
    counter = int(settings.get("nexttrackingnumber") or 1)
    if settings:
        nxt = counter + 1 if counter + 1 < 10**counter_digits else 1
        h.store.update("usersettingscollection", h.user_id, {"nexttrackingnumber": nxt})
    prefix = str(org.get("trackingprefix") or "CRM")
    user_part = f"{user_no % 10**user_digits:0{user_digits}d}"
    return f"{prefix}:0{user_part}{counter % 10**counter_digits:0{counter_digits}d}"


def get_tracking_token(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    _only(req, "POST", "GetTrackingTokenEmail")
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    with h.store.transaction():
        token = next_tracking_token(h)
    return Res.json(
        {"@odata.context": _context(req, "GetTrackingTokenEmailResponse"), "TrackingToken": token}
    )


def send_email(h: Handler, req: Req, table: Table | None, rid: str | None) -> Res:
    _only(req, "POST", "SendEmail")
    if table is None or table.entity_set != "emails" or rid is None:
        raise E.not_found_segment("SendEmail")
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("IssueSend"), bool):
        raise bad_request("SendEmail needs the parameter 'IssueSend' (Edm.Boolean).")
    issue = body["IssueSend"]
    token = body.get("TrackingToken")
    with h.store.transaction():
        email = h.store.peek("emails", rid)
        if email is None:
            raise record_not_found("email", rid)
        if email.get("statecode") != 0:
            # Only an open (Draft/Failed) e-mail can be sent [U: exact error not documented].
            raise ODataError(
                400, E.VALIDATION, "A validation error occurred.  The email must be open to be sent."
            )
        parties = h.store.children("activityparties", "_activityid_value", rid)
        if issue and not any(p.get("participationtypemask") in (2, 3, 4) for p in parties):
            raise ODataError(
                400, E.VALIDATION, "A validation error occurred.  The email must have at least one recipient."
            )
        changes: Record = {"senton": now_iso(), "directioncode": True}
        subject = str(email.get("subject") or "")
        if issue:
            token = token or email.get("trackingtoken") or next_tracking_token(h)
            if token and token not in subject:
                subject = f"{subject} {token}".strip()
            # With IssueSend true the platform queues the mail; the mailbox's outgoing delivery
            # method decides who sends it. Method 1 (Outlook) waits for the user's client in
            # Pending Send (§3.4); the sandbox never sends mail itself.
            changes |= {"subject": subject, "trackingtoken": token, "statecode": 1, "statuscode": 6}
        else:
            # IssueSend false "just records it as sent" (SendEmailRequest.IssueSend). Whether a
            # token is appended in this case is [U]; the sandbox leaves the subject alone.
            if token:
                changes["trackingtoken"] = token
            changes |= {"statecode": 1, "statuscode": 3}
        h.store.update("emails", rid, changes)
    return Res.json({"@odata.context": _context(req, "SendEmailResponse"), "Subject": subject})


def background_send_email(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    """Return the queued e-mails matching the query, with HasAttachments.

    Its side effects (a move to Sending 7, a lock against other callers) are not documented
    [U]; the sandbox changes nothing, so callers must still claim each e-mail (§3.4 B).
    """
    _only(req, "POST", "BackgroundSendEmail")
    body = req.json()
    query = body.get("Query") if isinstance(body, dict) else None
    emails = BY_SET["emails"]
    if query is None:
        mailbox = (h.store.peek("systemusers", h.user_id) or {}).get("_defaultmailbox_value")

        def pred(r: Record) -> bool:
            return r.get("statuscode") == 6 and r.get("_sendermailboxid_value") == mailbox

        top = None
    else:
        if not isinstance(query, dict) or "FetchExpression" not in str(query.get("@odata.type", "")):
            raise bad_request("BackgroundSendEmail: the sandbox accepts Query as a FetchExpression.")
        try:
            fetch = ET.fromstring(str(query.get("Query") or ""))
        except ET.ParseError as exc:
            raise bad_request(f"The FetchXML is not well formed: {exc}") from None
        entity = fetch.find("entity")
        if entity is None or entity.get("name") != "email":
            raise bad_request("The query must specify an entity name of 'email' and a ColumnSet.")
        filt = entity.find("filter")
        joined = filter_predicate(emails, filt, h.user_id) if filt is not None else (lambda row: True)

        def pred(r: Record) -> bool:
            return bool(joined({"": r}))

        top = int(fetch.get("top") or fetch.get("count") or 0) or None
    reader = h.reader(req.base_url)
    with h.store.lock:
        rows = [r for r in h.store.all("emails") if pred(r)][:top]
        has = [bool(reader.children(emails, r, "email_activity_mime_attachment")[1]) for r in rows]
        items = []
        for r in rows:
            rendered = reader.render(emails, r, Options(), Annotations(None))
            items.append({"@odata.type": f"#{NS}.email", **rendered})
    return Res.json(
        {
            "@odata.context": _context(req, "BackgroundSendEmailResponse"),
            "EntityCollection": items,
            "HasAttachments": has,
        }
    )


def _strip_brackets(value: str) -> str:
    return value.strip().strip("<>").lower()


def check_promote_email(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    _only(req, "GET", "CheckPromoteEmail")
    params = _params(req, key)
    message_id = params.get("MessageId")
    if not isinstance(message_id, str) or not message_id.strip():
        raise bad_request("CheckPromoteEmail needs the parameter 'MessageId'.")
    subject = str(params.get("Subject") or "")
    direction = params.get("DirectionCode")
    wanted = _strip_brackets(message_id)
    with h.store.lock:
        duplicate = any(
            _strip_brackets(str(r.get("messageid") or "")) == wanted
            and (direction is None or bool(r.get("directioncode")) == bool(direction))
            for r in h.store.all("emails")
            if r.get("messageid")
        )
        settings = h.store.peek("usersettingscollection", h.user_id) or {}
        tokens = {str(r["trackingtoken"]).lower() for r in h.store.all("emails") if r.get("trackingtoken")}
    method = int(settings.get("incomingemailfilteringmethod", FilteringMethod.FROM_CONTACTS))
    if duplicate:
        promote, reason = False, REASON_DUPLICATE
    elif direction not in (None, 0, False):
        promote, reason = True, REASON_ACCEPT_ALL  # outgoing mail is not subject to the incoming filter
    elif method == FilteringMethod.ALL_MAIL:
        promote, reason = True, REASON_ACCEPT_ALL
    elif method == FilteringMethod.RESPONSES:
        matched = any(t in subject.lower() for t in tokens)
        promote, reason = (True, REASON_CORRELATION) if matched else (False, REASON_NO_CORRELATION)
    elif method == FilteringMethod.NO_MAIL:
        promote, reason = False, REASON_UNKNOWN
    else:
        # Methods 2 and 3 depend on the sender, which CheckPromoteEmail does not receive; the
        # server cannot judge it from MessageId/Subject [U], so the client applies that rule.
        promote, reason = True, REASON_UNKNOWN
    return Res.json(
        {
            "@odata.context": _context(req, "CheckPromoteEmailResponse"),
            "ShouldPromote": promote,
            "ReasonCode": reason,
        }
    )


def register(h: Handler) -> None:
    bulk.register(h)
    h.actions.update(
        {
            "WhoAmI": who_am_i,
            "SendEmail": send_email,
            "BackgroundSendEmail": background_send_email,
            "CheckPromoteEmail": check_promote_email,
            "GetTrackingTokenEmail": get_tracking_token,
            "DeliverPromoteEmail": deliver,
            "DeliverIncomingEmail": deliver,
        }
    )


def queue_pending_email(
    h: Handler, to_address: str, subject: str, body: str, regarding: str | tuple[str, str] | None = None
) -> str:
    """Create an e-mail from the current user to ``to_address`` and queue it in Pending Send (6),
    as a user pressing Send in the CRM does (SendEmail with IssueSend true)."""
    address = to_address.strip()
    if not address or "@" not in address:
        raise bad_request(f"'{to_address}' is not an e-mail address.")
    to_party: dict[str, Any] = {"participationtypemask": 2, "addressused": address}
    for entity_set, column in (
        ("contacts", "emailaddress1"),
        ("leads", "emailaddress1"),
        ("accounts", "emailaddress1"),
        ("systemusers", "internalemailaddress"),
    ):
        match = next(
            (r for r in h.store.all(entity_set) if str(r.get(column, "")).lower() == address.lower()), None
        )
        if match is not None:
            tbl = BY_SET[entity_set]
            to_party[f"partyid_{tbl.logical}@odata.bind"] = f"/{entity_set}({match[tbl.key]})"
            break
    user = h.store.peek("systemusers", h.user_id) or {}
    payload: dict[str, Any] = {
        "subject": subject,
        "description": body,
        "directioncode": True,
        "email_activity_parties": [
            {
                "participationtypemask": 1,
                "partyid_systemuser@odata.bind": f"/systemusers({h.user_id})",
                "addressused": user.get("internalemailaddress"),
            },
            to_party,
        ],
    }
    if regarding:
        entity_set, rid = regarding if isinstance(regarding, tuple) else _split_ref(regarding)
        target = BY_SET.get(entity_set)
        if target is None:
            raise E.not_found_segment(entity_set)
        payload[f"regardingobjectid_{target.logical}_email@odata.bind"] = f"/{entity_set}({rid})"
    with h.store.transaction():
        rid = h.writer.create(BY_SET["emails"], payload)
        req = Req("POST", "", {}, Headers(), b'{"IssueSend": true}', "")
        res = send_email(h, req, BY_SET["emails"], rid)
        if res.status >= 400:
            raise bad_request(res.body.decode())
    return rid


def _split_ref(value: str) -> tuple[str, str]:
    m = re.match(r"/?(\w+)\(([0-9a-fA-F-]{36})\)$", value.strip())
    if not m:
        raise bad_request(f"'{value}' is not a record reference like 'opportunities(<id>)'.")
    return m.group(1), m.group(2).lower()
