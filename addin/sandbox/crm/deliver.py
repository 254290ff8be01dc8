"""DeliverPromoteEmail and DeliverIncomingEmail: the server creates the e-mail from message fields
(reference §2). The documented primary path is explicit create + parties + state; these two are
modelled for clients that try the server-side route. Behaviour beyond the parameter lists is [U]:
the sandbox dedupes on MessageId, resolves addresses to records, correlates by tracking token and
closes the e-mail as Received (Sent when From is the calling user, as the SDK sample expects)."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from addin.sandbox.crm.errors import bad_request
from addin.sandbox.crm.schema import BY_SET
from addin.sandbox.crm.schema_types import Table
from addin.sandbox.crm.store import TYPE_SUFFIX, Record

if TYPE_CHECKING:
    from addin.sandbox.crm.handler import Handler, Req, Res

NS = "Microsoft.Dynamics.CRM"
_ADDRESS_COLUMNS = (
    ("systemusers", "internalemailaddress"),
    ("contacts", "emailaddress1"),
    ("leads", "emailaddress1"),
    ("accounts", "emailaddress1"),
)
_IMPORTANCE = {"low": 0, "0": 0, "normal": 1, "1": 1, "high": 2, "2": 2}


def _addresses(text: Any) -> list[str]:
    found = re.findall(r"[^\s<>;,\"]+@[^\s<>;,\"]+", str(text or ""))
    return list(dict.fromkeys(a.strip().lower() for a in found))


def resolve_party(h: Handler, address: str, mask: int) -> dict[str, Any]:
    """An activity party for ``address``: bound to the first record using it, else unresolved."""
    party: dict[str, Any] = {"participationtypemask": mask, "addressused": address}
    for entity_set, column in _ADDRESS_COLUMNS:
        for rec in h.store.all(entity_set):
            if str(rec.get(column) or "").lower() == address:
                table = BY_SET[entity_set]
                party[f"partyid_{table.logical}@odata.bind"] = f"/{entity_set}({rec[table.key]})"
                return party
    return party


def _correlate(h: Handler, subject: str) -> Record:
    """Tracking-token correlation: the earlier e-mail's regarding and a pointer to it."""
    for rec in h.store.all("emails"):
        token = rec.get("trackingtoken")
        if token and token.lower() in subject.lower():
            out: Record = {
                "_correlatedactivityid_value": rec["activityid"],
                "_correlatedactivityid_value" + TYPE_SUFFIX: "email",
                "correlationmethod": 4,  # TrackingToken
            }
            if rec.get("_regardingobjectid_value"):
                out["_regardingobjectid_value"] = rec["_regardingobjectid_value"]
                out["_regardingobjectid_value" + TYPE_SUFFIX] = rec.get(
                    "_regardingobjectid_value" + TYPE_SUFFIX
                )
            return out
    return {}


def deliver(h: Handler, req: Req, table: Table | None, key: str | None) -> Res:
    from addin.sandbox.crm.handler import Res

    name = req.path.rsplit(".", 1)[-1]
    if req.method != "POST" or table is None or table.entity_set != "emails":
        raise bad_request(f"{name} is an action bound to emails and must be called with POST.")
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    message_id = body.get("MessageId")
    if not isinstance(message_id, str) or not message_id.strip():
        raise bad_request(f"{name} needs the parameter 'MessageId'.")
    for required in ("From", "To", "Cc", "Bcc"):
        if required not in body:
            raise bad_request(f"{name} needs the parameter '{required}' (an empty string is allowed).")
    wanted = message_id.strip().strip("<>").lower()
    with h.store.transaction():
        for rec in h.store.all("emails"):
            if str(rec.get("messageid") or "").strip("<>").lower() == wanted:
                return Res.json(
                    {
                        "@odata.context": f"{req.base_url}$metadata#{NS}.{name}Response",
                        "EmailId": rec["activityid"],
                    }
                )
        user = (h.store.peek("systemusers", h.user_id) or {}).get("internalemailaddress", "")
        senders = _addresses(body.get("From"))
        outgoing = bool(senders) and senders[0] == str(user).lower()
        parties = [resolve_party(h, a, 1) for a in senders[:1]]
        for field, mask in (("To", 2), ("Cc", 3), ("Bcc", 4)):
            parties += [resolve_party(h, a, mask) for a in _addresses(body.get(field))]
        subject = str(body.get("Subject") or "")
        payload: dict[str, Any] = {
            "subject": subject,
            "description": body.get("Body"),
            "messageid": message_id,
            "directioncode": outgoing,
            "submittedby": body.get("SubmittedBy") or None,
            "prioritycode": _IMPORTANCE.get(str(body.get("Importance") or "normal").lower(), 1),
            "email_activity_parties": parties,
        }
        if body.get("ReceivedOn"):
            payload["actualend"] = body["ReceivedOn"]
        extra = body.get("ExtraProperties")
        if isinstance(extra, dict):
            payload.update({k: v for k, v in extra.items() if k != "@odata.type"})
        rid = h.writer.create(BY_SET["emails"], payload)
        changes: Record = (
            {}
            if isinstance(extra, dict) and any("regardingobjectid" in k for k in extra)
            else _correlate(h, subject)
        )
        changes |= {"statecode": 1, "statuscode": 3 if outgoing else 4}
        h.store.update("emails", rid, changes)
        for att in body.get("Attachments") or []:
            if isinstance(att, dict):
                data = att.get("body") or ""
                if isinstance(data, bytes):
                    data = base64.b64encode(data).decode()
                h.writer.create(
                    BY_SET["activitymimeattachments"],
                    {
                        "objectid_email@odata.bind": f"/emails({rid})",
                        "objecttypecode": "email",
                        "filename": att.get("filename"),
                        "mimetype": att.get("mimetype"),
                        "body": data,
                    },
                )
    return Res.json({"@odata.context": f"{req.base_url}$metadata#{NS}.{name}Response", "EmailId": rid})
