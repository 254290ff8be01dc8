"""OData literals, filter builders and the CRM table names the bridge uses.

Quoting follows the Web API's filter rules (reference dataverse.md §4.9): strings are in single
quotes with ``'`` doubled; GUIDs are bare; the URL encoding itself is done when the query string
is built (``DataverseClient`` percent-encodes every value).
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from addin.crm.codes import EmailStatus, PartyRole

# -- literals ------------------------------------------------------------------------------------


def odata_string(value: str) -> str:
    """``O'Brien`` -> ``'O''Brien'``."""
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return "'" + value.replace("'", "''") + "'"


def guid(value: str | uuid.UUID) -> str:
    """A GUID in the canonical lower-case 8-4-4-4-12 form; braces are accepted on input."""
    try:
        parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip().strip("{}"))
    except ValueError:
        raise ValueError(f"not a GUID: {value!r}") from None
    return str(parsed)


def odata_literal(value: object) -> str:
    """Format a Python value as an OData URL literal (strings quoted, GUIDs bare, null, bools)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int):
        return str(int(value))  # an IntEnum member too (its repr names the member)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueError("datetime literals must be timezone-aware")
        return value.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str):
        return odata_string(value)
    raise TypeError(f"no OData literal for {type(value).__name__}")


def entity_path(entity_set: str, id: str | uuid.UUID) -> str:
    """``emails(5b1c…)``: the relative URL of one record."""
    return f"{entity_set}({guid(id)})"


def bind(entity_set: str, id: str | uuid.UUID) -> str:
    """The value of a ``…@odata.bind`` property: ``/contacts(<id>)``."""
    return "/" + entity_path(entity_set, id)


# -- filters -------------------------------------------------------------------------------------

# Keeps the encoded URL well under the 32 KB URL limit of IIS even with long addresses.
IN_CHUNK = 100


def in_filter(prop: str, values: Sequence[object]) -> str:
    """``Microsoft.Dynamics.CRM.In(PropertyName='p',PropertyValues=[…])`` for one chunk."""
    if not values:
        raise ValueError("In filter needs at least one value")
    # PropertyValues is a JSON-style array of strings; GUIDs and numbers go in as strings too.
    # The values are a JSON array: double-quoted, so an apostrophe needs no doubling here.
    rendered = ",".join(json.dumps(v if isinstance(v, str) else str(v), ensure_ascii=False) for v in values)
    return f"Microsoft.Dynamics.CRM.In(PropertyName={odata_string(prop)},PropertyValues=[{rendered}])"


def in_filters(prop: str, values: Iterable[object], chunk: int = IN_CHUNK) -> Iterator[str]:
    """One ``In`` filter per chunk of at most ``chunk`` distinct values (order kept)."""
    seen: dict[object, None] = {}
    for v in values:
        seen.setdefault(v, None)
    distinct = list(seen)
    for start in range(0, len(distinct), chunk):
        yield in_filter(prop, distinct[start : start + chunk])


def eq(prop: str, value: object) -> str:
    return f"{prop} eq {odata_literal(value)}"


def any_of(*clauses: str) -> str:
    """``(a) or (b)``; a single clause is returned as is."""
    parts = [c for c in clauses if c]
    if len(parts) == 1:
        return parts[0]
    return " or ".join(f"({c})" for c in parts)


def all_of(*clauses: str) -> str:
    parts = [c for c in clauses if c]
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({c})" for c in parts)


# -- the e-mail activity ------------------------------------------------------------------------

EMAIL_SET = "emails"
EMAIL_PARTIES = "email_activity_parties"
EMAIL_ATTACHMENTS = "activitymimeattachments"
ATTACHMENT_TO_EMAIL_BIND = "objectid_email@odata.bind"

# email.statuscode values and party roles (their one definition: addin.crm.codes).
STATUS_DRAFT = EmailStatus.DRAFT
STATUS_COMPLETED = EmailStatus.COMPLETED
STATUS_SENT = EmailStatus.SENT
STATUS_RECEIVED = EmailStatus.RECEIVED
STATUS_PENDING_SEND = EmailStatus.PENDING_SEND
STATUS_SENDING = EmailStatus.SENDING
STATUS_FAILED = EmailStatus.FAILED

PARTY_SENDER = PartyRole.SENDER
PARTY_TO = PartyRole.TO
PARTY_CC = PartyRole.CC
PARTY_BCC = PartyRole.BCC


@dataclass(frozen=True)
class Table:
    """A CRM table the bridge reads or binds to."""

    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    email_columns: tuple[str, ...] = ()

    def bind(self, id: str | uuid.UUID) -> str:
        return bind(self.entity_set, id)

    @property
    def regarding_nav(self) -> str:
        """Single-valued navigation property from an e-mail to this table (reference §0.1)."""
        return f"regardingobjectid_{self.logical_name}_email"

    @property
    def regarding_bind_key(self) -> str:
        return f"{self.regarding_nav}@odata.bind"

    @property
    def party_bind_key(self) -> str:
        """``partyid_<table>@odata.bind`` for an activity party pointing at this table."""
        return f"partyid_{self.logical_name}@odata.bind"


ACCOUNT = Table(
    "account", "accounts", "accountid", "name", ("emailaddress1", "emailaddress2", "emailaddress3")
)
CONTACT = Table(
    "contact", "contacts", "contactid", "fullname", ("emailaddress1", "emailaddress2", "emailaddress3")
)
LEAD = Table("lead", "leads", "leadid", "fullname", ("emailaddress1", "emailaddress2", "emailaddress3"))
OPPORTUNITY = Table("opportunity", "opportunities", "opportunityid", "name")
INCIDENT = Table("incident", "incidents", "incidentid", "title")
SYSTEMUSER = Table("systemuser", "systemusers", "systemuserid", "fullname", ("internalemailaddress",))
QUEUE = Table("queue", "queues", "queueid", "name", ("emailaddress",))
EMAIL = Table("email", "emails", "activityid", "subject")

# Tables an e-mail can be "regarding", by logical name.
REGARDING_TABLES: dict[str, Table] = {
    t.logical_name: t for t in (ACCOUNT, CONTACT, OPPORTUNITY, INCIDENT, LEAD)
}
# Tables an activity party can point at (sender or recipient resolution).
PARTY_TABLES: dict[str, Table] = {t.logical_name: t for t in (CONTACT, ACCOUNT, LEAD, SYSTEMUSER, QUEUE)}
TABLES_BY_SET: dict[str, Table] = {
    t.entity_set: t for t in (ACCOUNT, CONTACT, LEAD, OPPORTUNITY, INCIDENT, SYSTEMUSER, QUEUE, EMAIL)
}


def regarding_table(logical_name: str) -> Table:
    try:
        return REGARDING_TABLES[logical_name]
    except KeyError:
        raise ValueError(f"an e-mail cannot be regarding a {logical_name!r} record") from None


def party(
    mask: int,
    *,
    table: str | None = None,
    id: str | uuid.UUID | None = None,
    address: str | None = None,
) -> dict[str, object]:
    """An ``email_activity_parties`` entry: resolved (``table`` + ``id``) or only an address."""
    if mask not in (PARTY_SENDER, PARTY_TO, PARTY_CC, PARTY_BCC):
        raise ValueError(f"unsupported participation type {mask}")
    entry: dict[str, object] = {"participationtypemask": mask}
    if table is not None or id is not None:
        if table is None or id is None:
            raise ValueError("a resolved party needs both table and id")
        try:
            target = PARTY_TABLES[table]
        except KeyError:
            raise ValueError(f"an activity party cannot point at a {table!r} record") from None
        entry[target.party_bind_key] = target.bind(id)
    elif not address:
        raise ValueError("an unresolved party needs an address")
    if address:
        entry["addressused"] = address
    return entry


# -- queries the engine runs ---------------------------------------------------------------------


def email_filter_pending_send(sender_mailbox_id: str | uuid.UUID) -> str:
    """Outgoing e-mails waiting in Pending Send for one CRM mailbox (reference §3.4 B)."""
    return all_of(
        eq("statuscode", STATUS_PENDING_SEND),
        "directioncode eq true",
        f"_sendermailboxid_value eq {guid(sender_mailbox_id)}",
    )


def email_filter_message_ids(message_ids: Sequence[str]) -> list[str]:
    """Filters finding e-mails by Internet Message-ID, bracketed and bare forms both (reference §2.1)."""
    forms: list[str] = []
    for mid in message_ids:
        bare = mid.strip().strip("<>")
        if bare:
            forms.extend((f"<{bare}>", bare))
    return list(in_filters("messageid", forms))


def address_filter(table: Table, addresses: Sequence[str]) -> list[str]:
    """Filters matching any of ``addresses`` on any e-mail column of ``table`` (chunked)."""
    if not table.email_columns:
        raise ValueError(f"{table.logical_name} has no e-mail columns")
    result: list[str] = []
    for chunk_start in range(0, len(addresses), IN_CHUNK):
        chunk = list(addresses[chunk_start : chunk_start + IN_CHUNK])
        result.append(any_of(*(in_filter(col, chunk) for col in table.email_columns)))
    return result


# Columns and expansion for the outbox poll (reference §3.4 B): one cheap query per poll.
OUTBOX_SELECT = (
    "activityid",
    "subject",
    "description",
    "trackingtoken",
    "messageid",
    "delayedemailsendtime",
    "deliveryprioritycode",
    "statuscode",
    "_regardingobjectid_value",
)
PARTIES_EXPAND = f"{EMAIL_PARTIES}($select=participationtypemask,addressused,_partyid_value)"

_LOGICAL = "@Microsoft.Dynamics.CRM.lookuplogicalname"
_FORMATTED = "@OData.Community.Display.V1.FormattedValue"


@dataclass(frozen=True)
class Lookup:
    """A lookup column read back with ``odata.include-annotations="*"``."""

    logical_name: str | None
    id: str
    name: str | None


def lookup(record: dict[str, object], column: str) -> Lookup | None:
    """``lookup(row, "regardingobjectid")`` from ``_regardingobjectid_value`` and its annotations."""
    key = f"_{column}_value"
    value = record.get(key)
    if not value:
        return None
    logical = record.get(key + _LOGICAL)
    name = record.get(key + _FORMATTED)
    return Lookup(
        str(logical) if logical else None,
        guid(str(value)),
        str(name) if name is not None else None,
    )
