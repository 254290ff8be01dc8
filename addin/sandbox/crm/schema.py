"""The tables the sandbox CRM serves: columns, lookups and navigation properties.

Names follow the Dataverse table references (reference/dataverse.md §1–3). Only the
columns the bridge and the demo use are modelled; an unknown property is rejected the
way Dataverse rejects it, so a client typo fails here as it would against a real org.
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


def _t(
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


def _regarding(suffix: str, targets: tuple[str, ...]) -> Lookup:
    navs: dict[str, str] = {}
    for t in targets:
        navs[f"regardingobjectid_{t}{suffix}"] = t
        # activitypointer's inherited names are also present on the email EntityType (§1.4) [P]
        navs[f"regardingobjectid_{t}"] = t
    return Lookup("regardingobjectid", targets, navs)


_PARTY_TARGETS = ("account", "contact", "systemuser", "lead", "queue")
_REGARDING_TARGETS = ("account", "contact", "lead", "opportunity", "incident")
_STATE_LABELS = {"statecode": GENERIC_STATE, "statuscode": GENERIC_STATUS}

TABLES: list[Table] = [
    _t(
        "organization",
        "organizations",
        "organizationid",
        "name",
        {
            "name": STR,
            "maxuploadfilesize": INT,
            "blockedattachments": MEMO,
            "trackingprefix": STR,
            "trackingtokenidbase": INT,
            "trackingtokeniddigits": INT,
            "ignoreinternalemail": BOOL,
            "unresolveemailaddressifmultiplematch": BOOL,
        },
        owned=False,
    ),
    _t(
        "systemuser",
        "systemusers",
        "systemuserid",
        "fullname",
        {
            "fullname": STR,
            "firstname": STR,
            "lastname": STR,
            "internalemailaddress": STR,
            "personalemailaddress": STR,
            "domainname": STR,
            "title": STR,
            "isdisabled": BOOL,
            "incomingemaildeliverymethod": PICK,
            "outgoingemaildeliverymethod": PICK,
        },
        lookups=[Lookup("defaultmailbox", ("mailbox",), {"defaultmailbox": "mailbox"})],
        labels={"incomingemaildeliverymethod": DELIVERY_IN, "outgoingemaildeliverymethod": DELIVERY},
        owned=False,
    ),
    _t(
        "mailbox",
        "mailboxes",
        "mailboxid",
        "name",
        {
            "name": STR,
            "emailaddress": STR,
            "incomingemaildeliverymethod": PICK,
            "outgoingemaildeliverymethod": PICK,
            "incomingemailstatus": PICK,
            "outgoingemailstatus": PICK,
            "isforwardmailbox": BOOL,
        },
        lookups=[
            Lookup(
                "regardingobjectid",
                ("systemuser", "queue"),
                {"regardingobjectid_systemuser": "systemuser", "regardingobjectid_queue": "queue"},
            )
        ],
        labels={
            "incomingemaildeliverymethod": DELIVERY_IN,
            "outgoingemaildeliverymethod": DELIVERY,
            "incomingemailstatus": {0: "Not Run", 1: "Success", 2: "Failure"},
            "outgoingemailstatus": {0: "Not Run", 1: "Success", 2: "Failure"},
        },
    ),
    _t(
        "usersettings",
        "usersettingscollection",
        "systemuserid",
        "systemuserid",
        {
            "incomingemailfilteringmethod": PICK,
            "autocreatecontactonpromote": BOOL,
            "trackingtokenid": INT,
            "nexttrackingnumber": INT,
            "issendasallowed": BOOL,
        },
        labels={"incomingemailfilteringmethod": FILTERING},
        owned=False,
    ),
    _t(
        "account",
        "accounts",
        "accountid",
        "name",
        {
            "name": STR,
            "accountnumber": STR,
            "emailaddress1": STR,
            "emailaddress2": STR,
            "emailaddress3": STR,
            "telephone1": STR,
            "websiteurl": STR,
            "address1_city": STR,
            "address1_latitude": DEC,
            "description": MEMO,
            "creditonhold": BOOL,
            "accountcategorycode": PICK,
            "revenue": MONEY,
            "statecode": STATE,
            "statuscode": STATUS,
        },
        lookups=[
            Lookup("primarycontactid", ("contact",), {"primarycontactid": "contact"}),
            Lookup("originatingleadid", ("lead",), {"originatingleadid": "lead"}),
        ],
        collections=[
            Collection("contact_customer_accounts", "contact", "parentcustomerid"),
            Collection("Account_Tasks", "task", "regardingobjectid"),
            Collection("Account_Emails", "email", "regardingobjectid"),
        ],
        labels={**_STATE_LABELS, "accountcategorycode": {1: "Preferred Customer", 2: "Standard"}},
    ),
    _t(
        "contact",
        "contacts",
        "contactid",
        "fullname",
        {
            "fullname": STR,
            "firstname": STR,
            "lastname": STR,
            "jobtitle": STR,
            "annualincome": MONEY,
            "description": MEMO,
            "emailaddress1": STR,
            "emailaddress2": STR,
            "emailaddress3": STR,
            "telephone1": STR,
            "donotemail": BOOL,
            "statecode": STATE,
            "statuscode": STATUS,
        },
        lookups=[
            Lookup(
                "parentcustomerid",
                ("account", "contact"),
                {"parentcustomerid_account": "account", "parentcustomerid_contact": "contact"},
            )
        ],
        collections=[
            Collection("Contact_Tasks", "task", "regardingobjectid"),
            Collection("Contact_Emails", "email", "regardingobjectid"),
        ],
        labels=_STATE_LABELS,
    ),
    _t(
        "lead",
        "leads",
        "leadid",
        "fullname",
        {
            "fullname": STR,
            "firstname": STR,
            "lastname": STR,
            "subject": STR,
            "companyname": STR,
            "emailaddress1": STR,
            "emailaddress2": STR,
            "emailaddress3": STR,
            "telephone1": STR,
            "statecode": STATE,
            "statuscode": STATUS,
        },
        labels={
            "statecode": {0: "Open", 1: "Qualified", 2: "Disqualified"},
            "statuscode": {1: "New", 2: "Contacted", 3: "Qualified", 4: "Lost"},
        },
    ),
    _t(
        "opportunity",
        "opportunities",
        "opportunityid",
        "name",
        {
            "name": STR,
            "description": MEMO,
            "estimatedvalue": MONEY,
            "estimatedclosedate": DT,
            "closeprobability": INT,
            "statecode": STATE,
            "statuscode": STATUS,
        },
        lookups=[
            Lookup(
                "customerid",
                ("account", "contact"),
                {"customerid_account": "account", "customerid_contact": "contact"},
            ),
            Lookup("parentaccountid", ("account",), {"parentaccountid": "account"}),
            Lookup("parentcontactid", ("contact",), {"parentcontactid": "contact"}),
        ],
        labels={
            "statecode": {0: "Open", 1: "Won", 2: "Lost"},
            "statuscode": {1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"},
        },
    ),
    _t(
        "incident",
        "incidents",
        "incidentid",
        "title",
        {
            "title": STR,
            "ticketnumber": STR,
            "description": MEMO,
            "prioritycode": PICK,
            "caseorigincode": PICK,
            "statecode": STATE,
            "statuscode": STATUS,
        },
        lookups=[
            Lookup(
                "customerid",
                ("account", "contact"),
                {"customerid_account": "account", "customerid_contact": "contact"},
            )
        ],
        labels={
            "statecode": {0: "Active", 1: "Resolved", 2: "Cancelled"},
            "statuscode": {1: "In Progress", 2: "On Hold", 3: "Waiting for Details", 5: "Problem Solved"},
            "prioritycode": {1: "High", 2: "Normal", 3: "Low"},
            "caseorigincode": {1: "Phone", 2: "Email", 3: "Web", 2483: "Facebook", 3986: "Twitter"},
        },
    ),
    _t(
        "email",
        "emails",
        "activityid",
        "subject",
        {
            "subject": STR,
            "description": MEMO,
            "directioncode": BOOL,
            "messageid": STR,
            "inreplyto": STR,
            "conversationindex": STR,
            "baseconversationindexhash": INT,
            "conversationtrackingid": GUID,
            "trackingtoken": STR,
            "correlationmethod": PICK,
            "sender": STR,
            "torecipients": STR,
            "submittedby": STR,
            "senton": DT,
            "actualstart": DT,
            "actualend": DT,
            "overriddencreatedon": DT,
            "deliveryprioritycode": PICK,
            "prioritycode": PICK,
            "delayedemailsendtime": DT,
            "deliveryattempts": INT,
            "notifications": PICK,
            "internetmessageheaders": STR,
            "attachmentcount": INT,
            "safedescription": MEMO,
            "statecode": STATE,
            "statuscode": STATUS,
            "activitytypecode": STR,
        },
        lookups=[
            _regarding("_email", _REGARDING_TARGETS),
            Lookup("parentactivityid", ("email",), {"parentactivityid": "email"}, update=False),
            Lookup("correlatedactivityid", ("email",), {"CorrelatedActivityId_Email": "email"}),
            Lookup("receivingmailboxid", ("mailbox",), {"ReceivingMailboxId_Email": "mailbox"}),
            # Read-only lookups: the server fills them from the sender party (§1.1).
            Lookup(
                "emailsender",
                _PARTY_TARGETS,
                {f"emailsender_{t}": t for t in _PARTY_TARGETS},
                create=False,
                update=False,
            ),
            Lookup("sendermailboxid", ("mailbox",), {}, create=False, update=False),
        ],
        collections=[
            Collection("email_activity_parties", "activityparty", "activityid"),
            Collection("email_activity_mime_attachment", "activitymimeattachment", "objectid"),
            Collection("activity_pointer_activity_mime_attachment", "activitymimeattachment", "objectid"),
        ],
        # Read-only columns per the current email reference (§0.3), statecode per §0.4.
        not_for_create={
            "inreplyto",
            "conversationindex",
            "senton",
            "correlationmethod",
            "statecode",
            "attachmentcount",
            "safedescription",
            "activitytypecode",
        },
        not_for_update={
            "inreplyto",
            "conversationindex",
            "senton",
            "correlationmethod",
            "attachmentcount",
            "safedescription",
            "activitytypecode",
            "overriddencreatedon",
        },
        labels={
            "statecode": {0: "Open", 1: "Completed", 2: "Canceled"},
            "statuscode": EMAIL_STATUS,
            "prioritycode": PRIORITY,
            "deliveryprioritycode": PRIORITY,
            "correlationmethod": {
                0: "None",
                1: "Skipped",
                2: "XHeader",
                3: "InReplyTo",
                4: "TrackingToken",
                5: "ConversationIndex",
                6: "SmartMatching",
                7: "CustomCorrelation",
            },
            "notifications": {0: "None", 1: "Some attachments could not be saved", 2: "Truncated body"},
        },
    ),
    _t(
        "activityparty",
        "activityparties",
        "activitypartyid",
        "partyid",
        {
            "participationtypemask": PICK,
            "addressused": STR,
            "partyobjecttypecode": STR,
            "unresolvedpartyname": STR,
            "exchangeentryid": STR,
            "effort": DEC,
            "donotemail": BOOL,
            "ispartydeleted": BOOL,
        },
        lookups=[
            Lookup("activityid", ("email",), {"activityid_email": "email"}),
            Lookup("partyid", _PARTY_TARGETS, {f"partyid_{t}": t for t in _PARTY_TARGETS}),
        ],
        not_for_create={"donotemail", "ispartydeleted"},
        not_for_update={"donotemail", "ispartydeleted"},
        labels={"participationtypemask": PARTICIPATION},
        owned=False,
    ),
    _t(
        "activitymimeattachment",
        "activitymimeattachments",
        "activitymimeattachmentid",
        "filename",
        {
            "filename": STR,
            "mimetype": STR,
            "subject": STR,
            "body": MEMO,
            "objecttypecode": STR,
            "filesize": INT,
            "attachmentcontentid": STR,
        },
        lookups=[
            Lookup(
                "objectid",
                ("email",),
                {"objectid_email": "email", "objectid_activitypointer": "email"},
            )
        ],
        not_for_create={"filesize"},
        not_for_update={"filesize"},
        owned=False,
    ),
    _t("queue", "queues", "queueid", "name", {"name": STR, "emailaddress": STR}),
    # BulkDelete's system job (bulkdelete action reference: the JobId is an asyncoperation).
    _t(
        "asyncoperation",
        "asyncoperations",
        "asyncoperationid",
        "name",
        {
            "name": STR,
            "operationtype": PICK,
            "message": MEMO,
            "startedon": DT,
            "completedon": DT,
            "statecode": STATE,
            "statuscode": STATUS,
        },
        labels={
            "operationtype": {13: "Bulk Delete"},
            "statecode": {0: "Ready", 1: "Suspended", 2: "Locked", 3: "Completed"},
            "statuscode": {
                0: "Waiting For Resources",
                10: "Waiting",
                20: "In Progress",
                30: "Succeeded",
                31: "Failed",
            },
        },
    ),
    # Which message each table offers (bulk-operations.md: "is CreateMultiple available?").
    _t("sdkmessage", "sdkmessages", "sdkmessageid", "name", {"name": STR}, owned=False),
    _t(
        "sdkmessagefilter",
        "sdkmessagefilters",
        "sdkmessagefilterid",
        "primaryobjecttypecode",
        {"primaryobjecttypecode": STR, "secondaryobjecttypecode": STR, "isvisible": BOOL},
        lookups=[Lookup("sdkmessageid", ("sdkmessage",), {"sdkmessageid": "sdkmessage"})],
        owned=False,
    ),
    # Tasks exist so Microsoft's published $batch examples (which create tasks) run unchanged.
    _t(
        "task",
        "tasks",
        "activityid",
        "subject",
        {
            "subject": STR,
            "description": MEMO,
            "scheduledstart": DT,
            "scheduledend": DT,
            "scheduleddurationminutes": INT,
            "statecode": STATE,
            "statuscode": STATUS,
        },
        lookups=[
            Lookup(
                "regardingobjectid",
                ("account", "contact"),
                {"regardingobjectid_account_task": "account", "regardingobjectid_contact_task": "contact"},
            )
        ],
        labels={"statecode": {0: "Open", 1: "Completed", 2: "Canceled"}},
    ),
]

# Columns whose choices are a global option set (GlobalOptionSetDefinitions), by its name; the
# others have their own local option set.
GLOBAL_OPTION_SETS: dict[tuple[str, str], str] = {("incident", "caseorigincode"): "incident_caseorigincode"}

BY_SET: dict[str, Table] = {t.entity_set: t for t in TABLES}
BY_LOGICAL: dict[str, Table] = {t.logical: t for t in TABLES}


def table_for_set(entity_set: str) -> Table | None:
    return BY_SET.get(entity_set)
