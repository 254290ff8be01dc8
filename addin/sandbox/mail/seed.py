"""``--seed demo``: Alex's mailbox at Contoso, colleagues, and customer mailboxes whose addresses
are the sandbox CRM's demo contacts, with ~40 deterministic threads (fixed dates relative to
``BASE_DATE``): replies with In-Reply-To/References, attachments of several types, a Private
message, newsletters and internal mail.

Every mailbox's password is ``demo``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from addin.sandbox.mail.sandbox import MailSandbox

PASSWORD = "demo"
ORG_DOMAIN = "contoso.example"
BASE_DATE = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # Monday; thread times are offsets from it


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    company: str = ""


ALEX = Person("Alex Wilber", "alex@contoso.example", "Contoso")

# Kept in step with the sandbox CRM's demo organisation (addin/sandbox/crm/seed.py); used as is
# when that module is not importable.
_FALLBACK_COLLEAGUES = [
    Person("Megan Bowen", "megan@contoso.example", "Contoso"),
    Person("Adele Vance", "adele@contoso.example", "Contoso"),
    Person("Lee Gu", "lee@contoso.example", "Contoso"),
    Person("Nestor Wilke", "nestor@contoso.example", "Contoso"),
    Person("Patti Fernandez", "patti@contoso.example", "Contoso"),
]
_FALLBACK_CUSTOMERS = [
    Person("Jane Buyer", "jane.buyer@fabrikam.example", "Fabrikam, Inc."),
    Person("Omar Novak", "omar.novak@fabrikam.example", "Fabrikam, Inc."),
    Person("Lena Ivanova", "lena.ivanova@fabrikam.example", "Fabrikam, Inc."),
    Person("Kenji Petrova", "kenji.petrova@adventure-works.example", "Adventure Works Cycles"),
    Person("Sofia Silva", "sofia.silva@adventure-works.example", "Adventure Works Cycles"),
    Person("Marcus Hughes", "marcus.hughes@adatum.example", "A. Datum Corporation"),
    Person("Priya Lund", "priya.lund@northwindtraders.example", "Northwind Traders"),
    Person("Tomas Singh", "tomas.singh@tailspintoys.example", "Tailspin Toys"),
]


def _people() -> tuple[list[Person], list[Person]]:
    try:
        from addin.sandbox.crm import seed as crm_seed

        colleagues = [Person(p.fullname, p.email, p.company) for p in crm_seed.DEMO_COLLEAGUES]
        customers = [Person(p.fullname, p.email, p.company) for p in crm_seed.DEMO_CONTACTS]
        if colleagues and customers:
            return colleagues, customers
    except (ImportError, AttributeError):
        pass
    return list(_FALLBACK_COLLEAGUES), list(_FALLBACK_CUSTOMERS)


COLLEAGUES, CUSTOMERS = _people()
NEWSLETTERS = [
    Person("Industry Weekly", "news@industryweekly.example"),
    Person("Cloud Summit", "events@cloudsummit.example"),
    Person("Contoso HR", "hr-news@contoso.example", "Contoso"),
]


def demo_mailboxes() -> list[Person]:
    """Every mailbox the demo seed creates (Alex, colleagues, customers)."""
    return [ALEX, *COLLEAGUES, *CUSTOMERS]


# -- attachment bytes (small but real files) ---------------------------------------------------------


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"".join(bytes((x * 16, y * 16, 160)) for x in range(16)) for y in range(16))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _pdf(title: str) -> bytes:
    text = f"BT /F1 18 Tf 72 720 Td ({title}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def _xlsx(rows: list[tuple[str, str]]) -> bytes:
    import io
    import zipfile

    sheet = "".join(
        f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>{a}</t></is></c>'
        f'<c r="B{i}" t="inlineStr"><is><t>{b}</t></is></c></row>'
        for i, (a, b) in enumerate(rows, start=1)
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    pkg = "http://schemas.openxmlformats.org/package/2006"
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    sml = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    files = {
        "[Content_Types].xml": f'{head}<Types xmlns="{pkg}/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{mime}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{mime}.worksheet+xml"/></Types>',
        "_rels/.rels": f'{head}<Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{office}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'{head}<workbook xmlns="{sml}" xmlns:r="{office}">'
        '<sheets><sheet name="Quote" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'{head}<Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{office}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'{head}<worksheet xmlns="{sml}">'
        f"<sheetData>{sheet}</sheetData></worksheet>",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 1, 9, 0, 0))
            zf.writestr(info, content)
    return buf.getvalue()


def _ics(summary: str, start: datetime) -> bytes:
    end = start + timedelta(hours=1)
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Contoso//Sandbox//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
        f"UID:{start.strftime(fmt)}-{abs(hash(summary)) % 10**6}@contoso.example\r\n"
        f"DTSTAMP:{BASE_DATE.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\nDTEND:{end.strftime(fmt)}\r\n"
        f"SUMMARY:{summary}\r\nORGANIZER;CN=Alex Wilber:mailto:alex@contoso.example\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    ).encode()


ATTACHMENT_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "txt": "text/plain",
    "ics": "text/calendar",
}


def _attachment(kind: str, name: str, when: datetime) -> tuple[str, str, bytes]:
    if kind == "pdf":
        data = _pdf(name.rsplit(".", 1)[0])
    elif kind == "xlsx":
        data = _xlsx([("Item", "Price"), ("Licences x 50", "12,500.00"), ("Onboarding", "2,000.00")])
    elif kind == "png":
        data = _png()
    elif kind == "ics":
        data = _ics(name.rsplit(".", 1)[0], when + timedelta(days=3))
    else:
        data = f"{name}\r\n\r\nNotes kept for the record.\r\nLine two.\r\n".encode()
    return name, ATTACHMENT_TYPES[kind], data


# -- seeding ------------------------------------------------------------------------------------


def _resolve(key: str) -> Person:
    if key == "alex":
        return ALEX
    pool = {"c": CUSTOMERS, "m": COLLEAGUES, "n": NEWSLETTERS}[key[0]]
    return pool[int(key[1:]) % len(pool)]


@dataclass
class _Built:
    mime: bytes
    sender: Person
    recipients: list[Person] = field(default_factory=list)
    when: datetime = BASE_DATE
    read: bool = True


def build_threads() -> list[_Built]:
    """Every demo message as MIME, in time order."""
    from addin.sandbox.mail.seed_threads import THREADS

    out: list[_Built] = []
    for n, thread in enumerate(THREADS):
        previous: list[str] = []
        for k, spec in enumerate(thread.messages):
            sender = _resolve(spec.sender)
            to = [_resolve(x) for x in spec.to]
            cc = [_resolve(x) for x in spec.cc]
            when = BASE_DATE + timedelta(hours=spec.at)
            msg = EmailMessage(policy=SMTP)
            msg["From"] = formataddr((sender.name, sender.email))
            msg["To"] = ", ".join(formataddr((p.name, p.email)) for p in to)
            if cc:
                msg["Cc"] = ", ".join(formataddr((p.name, p.email)) for p in cc)
            msg["Subject"] = thread.subject if k == 0 else f"RE: {thread.subject}"
            msg["Date"] = format_datetime(when)
            mid = f"<demo-{n:02d}-{k}@{sender.email.rpartition('@')[2]}>"
            msg["Message-ID"] = mid
            if previous:
                msg["In-Reply-To"] = previous[-1]
                msg["References"] = " ".join(previous)
            if spec.sensitivity:
                msg["Sensitivity"] = spec.sensitivity
            if spec.sender.startswith("n"):
                msg["List-Unsubscribe"] = f"<mailto:unsubscribe@{sender.email.rpartition('@')[2]}>"
            msg.set_content(spec.body, subtype="html" if spec.html else "plain")
            for kind, name in spec.attachments:
                fname, ctype, data = _attachment(kind, name, when)
                maintype, _, subtype = ctype.partition("/")
                msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=fname)
            previous.append(mid)
            out.append(_Built(msg.as_bytes(), sender, to + cc, when, spec.read))
    out.sort(key=lambda b: b.when)
    return out


def seed_demo(sandbox: MailSandbox) -> None:
    """Create the demo mailboxes and deliver every demo message to its parties' folders."""
    people = demo_mailboxes()
    for person in people:
        sandbox.add_mailbox(person.email, PASSWORD, person.name)
    known = {p.email for p in people}
    with sandbox.store.tx():
        for built in build_threads():
            if built.sender.email in known:
                sandbox.app.deliver(
                    built.sender.email, built.mime, "sentitems", built.when, {"is_read": True}
                )
            for person in {p.email: p for p in built.recipients}.values():
                if person.email in known:
                    read = built.read if person.email == ALEX.email else True
                    sandbox.app.deliver(person.email, built.mime, "inbox", built.when, {"is_read": read})
