"""The tables the sandbox CRM serves: columns, lookups and navigation properties.

Names follow the Dataverse table references (reference/dataverse.md §1–3). Only the
columns the bridge and the demo use are modelled; an unknown property is rejected the
way Dataverse rejects it, so a client typo fails here as it would against a real org.
"""

from __future__ import annotations

from addin.sandbox.crm.schema_types import (
    BOOL,
    DEC,
    DELIVERY,
    DELIVERY_IN,
    DT,
    EMAIL_STATUS,
    FILTERING,
    GENERIC_STATE,
    GENERIC_STATUS,
    GUID,
    INT,
    MEMO,
    MONEY,
    PARTICIPATION,
    PICK,
    PRIORITY,
    STATE,
    STATUS,
    STR,
    Collection,
    Lookup,
    Table,
    regarding_lookup,
    table,
)

_PARTY_TARGETS = ("account", "contact", "systemuser", "lead", "queue")
_REGARDING_TARGETS = ("account", "contact", "lead", "opportunity", "incident")
_STATE_LABELS = {"statecode": GENERIC_STATE, "statuscode": GENERIC_STATUS}

TABLES: list[Table] = [
    table(
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
    table(
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
    table(
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
    table(
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
    table(
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
    table(
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
    table(
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
    table(
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
    table(
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
    table(
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
            regarding_lookup("_email", _REGARDING_TARGETS),
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
    table(
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
    table(
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
    table("queue", "queues", "queueid", "name", {"name": STR, "emailaddress": STR}),
    # BulkDelete's system job (bulkdelete action reference: the JobId is an asyncoperation).
    table(
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
    table("sdkmessage", "sdkmessages", "sdkmessageid", "name", {"name": STR}, owned=False),
    table(
        "sdkmessagefilter",
        "sdkmessagefilters",
        "sdkmessagefilterid",
        "primaryobjecttypecode",
        {"primaryobjecttypecode": STR, "secondaryobjecttypecode": STR, "isvisible": BOOL},
        lookups=[Lookup("sdkmessageid", ("sdkmessage",), {"sdkmessageid": "sdkmessage"})],
        owned=False,
    ),
    # Tasks exist so Microsoft's published $batch examples (which create tasks) run unchanged.
    table(
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
