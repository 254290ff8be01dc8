"""Deterministic demo organisation (``--seed demo``): Contoso's salesperson Alex and customers.

The customer addresses are exported (``DEMO_CONTACTS``, ``DEMO_ACCOUNTS``, ``DEMO_LEADS``) so
the sandbox Exchange seeds mail between the same people. Every id is a UUIDv5, so the same
seed always yields the same records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from addin.crm.mail_methods import DeliveryMethod, FilteringMethod
from addin.sandbox.crm.schema import BY_SET
from addin.sandbox.crm.store import TYPE_SUFFIX, Record, Store

NAMESPACE = uuid.UUID("6f1c2d4e-8a3b-5c7d-9e0f-a1b2c3d4e5f6")
ORG_DOMAIN = "contoso.example"
ALEX_EMAIL = "alex@contoso.example"
ALEX_NAME = "Alex Wilber"


def demo_id(kind: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key.lower()}"))


ORGANIZATION_ID = demo_id("organization", "contoso")
BUSINESS_UNIT_ID = demo_id("businessunit", "contoso")
ALEX_ID = demo_id("systemuser", ALEX_EMAIL)
ALEX_MAILBOX_ID = demo_id("mailbox", ALEX_EMAIL)

# Dataverse's default blocked extension list (System Settings → General).
BLOCKED_ATTACHMENTS = (
    "ade;adp;app;asa;ashx;asmx;asp;bas;bat;cdx;cer;chm;class;cmd;com;config;cpl;crt;csh;dll;exe;fxp;hlp;"
    "hta;htr;htw;ida;idc;idq;inf;ins;isp;its;jar;js;jse;ksh;lnk;mad;maf;mag;mam;maq;mar;mas;mat;mau;mav;"
    "maw;mda;mdb;mde;mdt;mdw;mdz;msc;msh;msh1;msh1xml;msh2;msh2xml;mshxml;msi;msp;mst;ops;pcd;pif;prf;"
    "prg;printer;pst;reg;rem;scf;scr;sct;shb;shs;shtm;shtml;soap;stm;tmp;url;vb;vbe;vbs;vsmacros;vss;"
    "vst;vsw;ws;wsc;wsf;wsh"
)


@dataclass(frozen=True)
class DemoPerson:
    id: str
    fullname: str
    email: str
    company: str = ""


# (first, last, title) of Alex's colleagues
_COLLEAGUES = [
    ("Megan", "Bowen", "Marketing Manager"),
    ("Adele", "Vance", "Retail Manager"),
    ("Lee", "Gu", "Director"),
    ("Nestor", "Wilke", "Director of Operations"),
    ("Patti", "Fernandez", "President"),
]

# (company, domain, city)
_ACCOUNTS = [
    ("Fabrikam, Inc.", "fabrikam.example", "Seattle"),
    ("Adventure Works Cycles", "adventure-works.example", "Bothell"),
    ("A. Datum Corporation", "adatum.example", "Redmond"),
    ("Northwind Traders", "northwindtraders.example", "Portland"),
    ("Tailspin Toys", "tailspintoys.example", "Denver"),
    ("Wingtip Toys", "wingtiptoys.example", "Austin"),
    ("Litware, Inc.", "litwareinc.example", "Boston"),
    ("Proseware, Inc.", "proseware.example", "Chicago"),
    ("Woodgrove Bank", "woodgrovebank.example", "New York"),
    ("Alpine Ski House", "alpineskihouse.example", "Salt Lake City"),
    ("Coho Winery", "cohowinery.example", "Napa"),
    ("Fourth Coffee", "fourthcoffee.example", "Vancouver"),
    ("Lucerne Publishing", "lucernepublishing.example", "Lucerne"),
    ("Margie's Travel", "margiestravel.example", "Miami"),
    ("Relecloud", "relecloud.example", "San Francisco"),
    ("Trey Research", "treyresearch.example", "San Diego"),
    ("Wide World Importers", "wideworldimporters.example", "Houston"),
    ("Blue Yonder Airlines", "blueyonderairlines.example", "Atlanta"),
    ("Graphic Design Institute", "graphicdesigninstitute.example", "Toronto"),
    ("Humongous Insurance", "humongousinsurance.example", "Hartford"),
]

_FIRST = [
    "Jane", "Omar", "Lena", "Kenji", "Sofia", "Marcus", "Priya", "Tomas", "Aisha", "Daniel",
    "Hannah", "Luis", "Mei", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Ahmed", "Bianca", "Carlos", "Dana",
]  # fmt: skip
_LAST = [
    "Buyer", "Haddad", "Fischer", "Sato", "Rossi", "Green", "Nair", "Novak", "Bello", "Kim",
    "Meyer", "Ortega", "Chen", "Walker", "Ivanova", "Silva", "Hughes", "Marquez", "Lund", "Singh",
    "Farouk", "Petrova", "Zhang", "Lopez", "Demir", "Martin", "Khan", "Conti", "Ruiz", "Levy",
]  # fmt: skip
_TITLES = ["Purchasing Manager", "CFO", "IT Director", "Operations Lead", "Office Manager", "CEO"]

# (first, last, company, domain, topic)
_LEADS = [
    ("Chris", "Baker", "Baker & Co", "bakerco.example", "Fleet tablets"),
    ("Ines", "Moreau", "Moreau Design", "moreaudesign.example", "Design studio licences"),
    ("Raj", "Patel", "Patel Logistics", "patellogistics.example", "Warehouse scanners"),
    ("Greta", "Olsen", "Nordlys Energy", "nordlys.example", "Field service pilot"),
    ("Ben", "Adeyemi", "Lagos Freight", "lagosfreight.example", "Tracking devices"),
    ("Yuki", "Tanaka", "Sakura Foods", "sakurafoods.example", "POS upgrade"),
    ("Paolo", "Bianchi", "Bianchi Motors", "bianchimotors.example", "Dealer portal"),
    ("Eva", "Horvath", "Duna Consulting", "dunaconsulting.example", "Training package"),
]


def _contacts() -> list[DemoPerson]:
    people: list[DemoPerson] = []
    n = 0
    for company, domain, _city in _ACCOUNTS:
        for _ in range(3):
            first, last = _FIRST[n % len(_FIRST)], _LAST[(n * 7 + n // len(_FIRST)) % len(_LAST)]
            email = f"{first.lower()}.{last.lower()}@{domain}"
            people.append(DemoPerson(demo_id("contact", email), f"{first} {last}", email, company))
            n += 1
    return people


DEMO_CONTACTS: list[DemoPerson] = _contacts()
DEMO_ACCOUNTS: list[DemoPerson] = [
    DemoPerson(demo_id("account", domain), company, f"info@{domain}", company)
    for company, domain, _ in _ACCOUNTS
]
DEMO_LEADS: list[DemoPerson] = [
    DemoPerson(demo_id("lead", f"{f}.{la}@{d}"), f"{f} {la}", f"{f.lower()}.{la.lower()}@{d}", c)
    for f, la, c, d, _ in _LEADS
]
DEMO_COLLEAGUES: list[DemoPerson] = [
    DemoPerson(
        demo_id("systemuser", f"{f.lower()}@{ORG_DOMAIN}"),
        f"{f} {la}",
        f"{f.lower()}@{ORG_DOMAIN}",
        "Contoso",
    )
    for f, la, _ in _COLLEAGUES
]
DEMO_USER = DemoPerson(ALEX_ID, ALEX_NAME, ALEX_EMAIL, "Contoso")


def _put(store: Store, entity_set: str, record: Record) -> None:
    """Insert with the columns the platform fills on create (state, creator)."""
    table = BY_SET[entity_set]
    if "statecode" in table.columns:
        record = {"statecode": 0, "statuscode": 1, **record}
    record = {**_lk("createdby", "systemuser", ALEX_ID), **_lk("modifiedby", "systemuser", ALEX_ID), **record}
    store.insert(entity_set, record)


def _lk(attr: str, target: str, rid: str) -> Record:
    return {f"_{attr}_value": rid, f"_{attr}_value{TYPE_SUFFIX}": target}


def _owner(rid: str = ALEX_ID) -> Record:
    return _lk("ownerid", "systemuser", rid)


def seed_core(store: Store) -> None:
    """The organisation and Alex (present even with ``--seed empty``: WhoAmI needs a user)."""
    with store.transaction():
        _put(
            store,
            "organizations",
            {
                "organizationid": ORGANIZATION_ID,
                "name": "Contoso",
                "maxuploadfilesize": 5_242_880,
                "blockedattachments": BLOCKED_ATTACHMENTS,
                "trackingprefix": "CRM",
                "trackingtokenidbase": 0,
                "trackingtokeniddigits": 3,
                "ignoreinternalemail": False,
                "unresolveemailaddressifmultiplematch": False,
            },
        )
        _user(
            store, ALEX_ID, "Alex", "Wilber", ALEX_EMAIL, "Account Executive", method=DeliveryMethod.THIS_APP
        )
        seed_messages(store)


def seed_messages(store: Store) -> None:
    """The system's sdkmessage and sdkmessagefilter rows for the messages the sandbox answers
    (rows already there are kept, so this also completes an older data folder)."""
    from addin.sandbox.crm.bulk import message_filters

    def put_new(entity_set: str, key: str, record: Record) -> None:
        if store.peek(entity_set, record[key]) is None:
            _put(store, entity_set, record)

    for name, tables in message_filters():
        message = demo_id("sdkmessage", name)
        put_new("sdkmessages", "sdkmessageid", {"sdkmessageid": message, "name": name})
        for table in tables:
            put_new(
                "sdkmessagefilters",
                "sdkmessagefilterid",
                {
                    "sdkmessagefilterid": demo_id("sdkmessagefilter", f"{name}.{table}"),
                    "primaryobjecttypecode": table,
                    "secondaryobjecttypecode": "none",
                    "isvisible": True,
                    "_sdkmessageid_value": message,
                },
            )


def _user(
    store: Store, rid: str, first: str, last: str, email: str, title: str, method: DeliveryMethod
) -> None:
    mailbox = demo_id("mailbox", email)
    _put(
        store,
        "systemusers",
        {
            "systemuserid": rid,
            "firstname": first,
            "lastname": last,
            "fullname": f"{first} {last}",
            "internalemailaddress": email,
            "domainname": email,
            "title": title,
            "isdisabled": False,
            "incomingemaildeliverymethod": int(method),
            "outgoingemaildeliverymethod": int(method),
            **_lk("defaultmailbox", "mailbox", mailbox),
        },
    )
    _put(
        store,
        "mailboxes",
        {
            "mailboxid": mailbox,
            "name": f"{first} {last}",
            "emailaddress": email,
            "incomingemaildeliverymethod": int(method),
            "outgoingemaildeliverymethod": int(method),
            "incomingemailstatus": 1,
            "outgoingemailstatus": 1,
            "isforwardmailbox": False,
            **_lk("regardingobjectid", "systemuser", rid),
            **_owner(rid),
        },
    )
    _put(
        store,
        "usersettingscollection",
        {
            "systemuserid": rid,
            "incomingemailfilteringmethod": int(FilteringMethod.FROM_CONTACTS),
            "autocreatecontactonpromote": False,
            "trackingtokenid": 1 + len(store.all("usersettingscollection")),
            "nexttrackingnumber": 1,
            "issendasallowed": False,
        },
    )


def seed_demo(store: Store) -> None:
    """The realistic organisation for demos and tests."""
    seed_core(store)
    with store.transaction():
        for first, last, title in _COLLEAGUES:
            email = f"{first.lower()}@{ORG_DOMAIN}"
            # Colleagues use server-side synchronization; only Alex runs the bridge.
            _user(
                store,
                demo_id("systemuser", email),
                first,
                last,
                email,
                title,
                method=DeliveryMethod.SERVER_SIDE_SYNC,
            )
        for (company, domain, city), acc in zip(_ACCOUNTS, DEMO_ACCOUNTS, strict=True):
            _put(
                store,
                "accounts",
                {
                    "accountid": acc.id,
                    "name": company,
                    "accountnumber": f"ACC-{1000 + DEMO_ACCOUNTS.index(acc)}",
                    "emailaddress1": acc.email,
                    "websiteurl": f"https://www.{domain}",
                    "telephone1": f"+1 555 01{DEMO_ACCOUNTS.index(acc):02d}",
                    "address1_city": city,
                    **_owner(),
                },
            )
        for i, person in enumerate(DEMO_CONTACTS):
            first, last = person.fullname.split(" ", 1)
            account = DEMO_ACCOUNTS[i // 3]
            _put(
                store,
                "contacts",
                {
                    "contactid": person.id,
                    "firstname": first,
                    "lastname": last,
                    "fullname": person.fullname,
                    "jobtitle": _TITLES[i % len(_TITLES)],
                    "emailaddress1": person.email,
                    "telephone1": f"+1 555 02{i:02d}",
                    "donotemail": False,
                    **_lk("parentcustomerid", "account", account.id),
                    **_owner(),
                },
            )
            if i % 3 == 0:
                store.update("accounts", account.id, _lk("primarycontactid", "contact", person.id))
        for (first, last, company, _domain, topic), lead in zip(_LEADS, DEMO_LEADS, strict=True):
            _put(
                store,
                "leads",
                {
                    "leadid": lead.id,
                    "firstname": first,
                    "lastname": last,
                    "fullname": lead.fullname,
                    "companyname": company,
                    "subject": topic,
                    "emailaddress1": lead.email,
                    **_owner(),
                },
            )
        products = ["200 tablets", "Support renewal", "Onboarding", "Cloud migration", "Spare parts"]
        for i in range(12):
            account = DEMO_ACCOUNTS[(i * 3) % len(DEMO_ACCOUNTS)]
            contact = DEMO_CONTACTS[((i * 3) % len(DEMO_ACCOUNTS)) * 3]
            _put(
                store,
                "opportunities",
                {
                    "opportunityid": demo_id("opportunity", f"{i}"),
                    "name": f"{account.fullname}: {products[i % len(products)]}",
                    "estimatedvalue": float(5000 * (i + 2)),
                    "estimatedclosedate": f"2027-0{1 + i % 9}-15T00:00:00Z",
                    "closeprobability": 20 + 5 * i,
                    **_lk("customerid", "account", account.id),
                    **_lk("parentaccountid", "account", account.id),
                    **_lk("parentcontactid", "contact", contact.id),
                    **_owner(),
                },
            )
        issues = ["Login fails after update", "Invoice shows wrong VAT", "Device will not charge"]
        issues += ["Delivery missing items", "Request for training", "Slow report export"]
        for i in range(8):
            contact = DEMO_CONTACTS[(i * 5) % len(DEMO_CONTACTS)]
            _put(
                store,
                "incidents",
                {
                    "incidentid": demo_id("incident", f"{i}"),
                    "title": issues[i % len(issues)],
                    "ticketnumber": f"CAS-{1001 + i:05d}-D2K{i}",
                    "prioritycode": 1 + i % 3,
                    **_lk("customerid", "contact", contact.id),
                    **_owner(),
                },
            )
