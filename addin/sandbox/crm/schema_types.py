"""The vocabulary of the sandbox CRM's schema: column kinds, lookups, navigation
collections, tables, the option-set labels Dataverse shows, and the builders the table
list (:mod:`addin.sandbox.crm.schema`) is written with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Column kinds
MONEY = "money"
GUID, STR, MEMO, INT, BOOL, DT, DEC, PICK, STATE, STATUS = (
    "guid",
    "string",
    "memo",
    "int",
    "bool",
    "datetime",
    "decimal",
    "picklist",
    "state",
    "status",
)


@dataclass(frozen=True)
class Lookup:
    """A lookup column (``_<attr>_value``) and the navigation properties that bind it."""

    attr: str
    targets: tuple[str, ...]  # logical names
    # navigation property -> target logical name
    navs: dict[str, str] = field(default_factory=dict)
    create: bool = True
    update: bool = True


@dataclass(frozen=True)
class Collection:
    """A collection-valued navigation property: the children whose lookup points here."""

    name: str
    child: str  # logical name of the child table
    child_attr: str  # the child's lookup column that references this record


@dataclass
class Table:
    logical: str
    entity_set: str
    key: str
    primary_name: str
    columns: dict[str, str]
    lookups: dict[str, Lookup] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)
    not_for_create: frozenset[str] = frozenset()
    not_for_update: frozenset[str] = frozenset()
    labels: dict[str, dict[int, str]] = field(default_factory=dict)

    def nav_target(self, nav: str) -> tuple[Lookup, str] | None:
        for lk in self.lookups.values():
            if nav in lk.navs:
                return lk, lk.navs[nav]
        return None


EMAIL_STATUS = {1: "Draft", 2: "Completed", 3: "Sent", 4: "Received", 5: "Canceled", 6: "Pending Send"}
EMAIL_STATUS |= {7: "Sending", 8: "Failed"}
# statuscode -> the statecode it belongs to (reference §1.2)
EMAIL_STATE_OF_STATUS = {1: 0, 2: 1, 3: 1, 4: 1, 5: 2, 6: 1, 7: 1, 8: 0}
EMAIL_DEFAULT_STATUS = {0: 1, 1: 2, 2: 5}
GENERIC_STATE = {0: "Active", 1: "Inactive"}
GENERIC_STATUS = {1: "Active", 2: "Inactive"}
GENERIC_STATE_OF_STATUS = {1: 0, 2: 1}

DELIVERY = {0: "None", 1: "Microsoft Dynamics 365 for Outlook", 2: "Server-Side Synchronization"}
DELIVERY_IN = DELIVERY | {3: "Forward Mailbox"}
FILTERING = {
    0: "All email messages",
    1: "Email messages in response to Dynamics 365 email",
    2: "Email messages from Dynamics 365 Leads, Contacts and Accounts",
    3: "Email messages from Dynamics 365 records that are email enabled",
    4: "No email messages",
}
PARTICIPATION = {
    1: "Sender",
    2: "To Recipient",
    3: "CC Recipient",
    4: "BCC Recipient",
    5: "Required attendee",
    6: "Optional attendee",
    7: "Organizer",
    8: "Regarding",
    9: "Owner",
    10: "Resource",
    11: "Customer",
    12: "Chat Participant",
    13: "Related",
}
PRIORITY = {0: "Low", 1: "Normal", 2: "High"}

COMMON = {"createdon": DT, "modifiedon": DT, "versionnumber": INT}
COMMON_LOOKUPS = {
    "ownerid": Lookup("ownerid", ("systemuser",), {"ownerid": "systemuser"}),
    "createdby": Lookup("createdby", ("systemuser",), {}, create=False, update=False),
    "modifiedby": Lookup("modifiedby", ("systemuser",), {}, create=False, update=False),
}
READ_ONLY_COMMON = frozenset({"createdon", "modifiedon", "versionnumber"})


def table(
    logical: str,
    entity_set: str,
    key: str,
    primary_name: str,
    columns: dict[str, str],
    lookups: list[Lookup] | None = None,
    collections: list[Collection] | None = None,
    not_for_create: set[str] | None = None,
    not_for_update: set[str] | None = None,
    labels: dict[str, dict[int, str]] | None = None,
    owned: bool = True,
) -> Table:
    cols = {key: GUID, **columns, **COMMON}
    lks = {lk.attr: lk for lk in lookups or []}
    lks.update({k: v for k, v in COMMON_LOOKUPS.items() if owned or k != "ownerid"})
    return Table(
        logical=logical,
        entity_set=entity_set,
        key=key,
        primary_name=primary_name,
        columns=cols,
        lookups=lks,
        collections={c.name: c for c in collections or []},
        not_for_create=frozenset((not_for_create or set()) | READ_ONLY_COMMON),
        not_for_update=frozenset((not_for_update or set()) | READ_ONLY_COMMON | {key}),
        labels=labels or {},
    )


def regarding_lookup(suffix: str, targets: tuple[str, ...]) -> Lookup:
    navs: dict[str, str] = {}
    for t in targets:
        navs[f"regardingobjectid_{t}{suffix}"] = t
        # activitypointer's inherited names are also present on the email EntityType (§1.4) [P]
        navs[f"regardingobjectid_{t}"] = t
    return Lookup("regardingobjectid", targets, navs)
