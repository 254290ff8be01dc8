"""A small HTML view of the sandbox CRM: e-mail activities, a form that queues a new e-mail in
Pending Send for the demo user, and Dynamics-style record pages (``/main.aspx?etn=…&id=…``).
Everything shown is HTML-escaped."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from addin.sandbox.crm.errors import ODataError
from addin.sandbox.crm.page_auth import CSRF_FIELD, PageAuth, refused
from addin.sandbox.crm.schema import BY_LOGICAL, BY_SET
from addin.sandbox.crm.schema_types import EMAIL_STATUS, PARTICIPATION
from addin.sandbox.crm.store import TYPE_SUFFIX, Record

if TYPE_CHECKING:
    from addin.sandbox.crm.handler import Handler

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f4f4f4}.s6,.s7{color:#a60}.s3,.s4{color:#070}.s8{color:#b00}
form{background:#f8f8f8;padding:1em;margin:1em 0;border-radius:6px}label{display:block;margin:.4em 0}
input[type=text],textarea,select{width:40em;max-width:100%}
"""


def _page(title: str, body: str, status: int = 200) -> Response:
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(doc, status=status, mimetype="text/html")


def record_link(logical: str, rid: str, text: str) -> str:
    href = f"/main.aspx?etn={escape(logical)}&amp;id={escape(rid)}&amp;pagetype=entityrecord"
    return f"<a href='{href}'>{escape(text)}</a>"


def _name(h: Handler, logical: str | None, rid: str | None) -> str:
    if not logical or not rid or logical not in BY_LOGICAL:
        return ""
    table = BY_LOGICAL[logical]
    rec = h.store.peek(table.entity_set, rid) or {}
    return str(rec.get(table.primary_name) or rid)


def _parties(h: Handler, email_id: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for p in h.store.children("activityparties", "_activityid_value", email_id):
        logical = p.get("_partyid_value" + TYPE_SUFFIX)
        label = escape(str(p.get("addressused") or ""))
        if logical and p.get("_partyid_value"):
            label = record_link(logical, p["_partyid_value"], _name(h, logical, p["_partyid_value"]))
            label += f" &lt;{escape(str(p.get('addressused') or ''))}&gt;"
        out.setdefault(int(p.get("participationtypemask") or 0), []).append(label)
    return out


def _regarding(h: Handler, rec: Record) -> str:
    logical, rid = rec.get("_regardingobjectid_value" + TYPE_SUFFIX), rec.get("_regardingobjectid_value")
    if not logical or not rid:
        return ""
    return record_link(logical, rid, f"{_name(h, logical, rid)} ({logical})")


def index(h: Handler, message: str = "", form_token: str = "") -> Response:
    rows = []
    with h.store.lock:
        emails = sorted(h.store.all("emails"), key=lambda r: str(r.get("modifiedon")), reverse=True)
        for rec in emails:
            parties = _parties(h, rec["activityid"])
            status = int(rec.get("statuscode") or 0)
            subject = str(rec.get("subject") or "(no subject)")
            rows.append(
                "<tr>"
                f"<td>{record_link('email', rec['activityid'], subject)}</td>"
                f"<td>{', '.join(parties.get(1, []))}</td>"
                f"<td>{', '.join(parties.get(2, []) + parties.get(3, []))}</td>"
                f"<td>{_regarding(h, rec)}</td>"
                f"<td class='s{status}'>{escape(EMAIL_STATUS.get(status, str(status)))}</td>"
                f"<td>{escape(str(rec.get('modifiedon') or ''))}</td>"
                "</tr>"
            )
        contacts = sorted(h.store.all("contacts"), key=lambda r: str(r.get("fullname")))
        options = "".join(
            f"<option value='{escape(str(c.get('emailaddress1') or ''))}'>"
            f"{escape(str(c.get('fullname')))} &lt;{escape(str(c.get('emailaddress1') or ''))}&gt;</option>"
            for c in contacts
            if c.get("emailaddress1")
        )
        regarding = ["<option value=''>(none)</option>"]
        for entity_set in ("opportunities", "incidents", "accounts", "contacts", "leads"):
            table = BY_SET[entity_set]
            for r in h.store.all(entity_set):
                regarding.append(
                    f"<option value='{escape(entity_set)}({escape(r[table.key])})'>"
                    f"{escape(table.logical)}: {escape(str(r.get(table.primary_name) or ''))}</option>"
                )
        user = h.store.peek("systemusers", h.user_id) or {}
    note = f"<p><b>{escape(message)}</b></p>" if message else ""
    form = (
        "<form method='post' action='/'>"
        f"<input type='hidden' name='{CSRF_FIELD}' value='{escape(form_token)}'>"
        f"<h2>New e-mail from {escape(str(user.get('fullname') or ''))}</h2>"
        f"<label>To <select name='to'>{options}</select></label>"
        "<label>Subject <input type='text' name='subject' required maxlength='800'></label>"
        "<label>Body <textarea name='body' rows='5'></textarea></label>"
        f"<label>Regarding <select name='regarding'>{''.join(regarding)}</select></label>"
        "<button type='submit'>Send (queue as Pending Send)</button></form>"
    )
    listing = (
        "<table><tr><th>Subject</th><th>From</th><th>To / Cc</th><th>Regarding</th><th>Status</th>"
        f"<th>Modified</th></tr>{''.join(rows)}</table>"
    )
    return _page("Sandbox CRM", f"<h1>Sandbox CRM: e-mail activities</h1>{note}{form}{listing}")


def record_page(h: Handler, logical: str, rid: str) -> Response:
    with h.store.lock:
        return _record_page(h, logical, rid)


def _record_page(h: Handler, logical: str, rid: str) -> Response:
    table = BY_LOGICAL.get(logical)
    rec = h.store.get(table.entity_set, rid) if table else None
    if table is None or rec is None:
        return _page(
            "Not found", f"<h1>No {escape(logical)} with id {escape(rid)}</h1><a href='/'>Back</a>", 404
        )
    rows = []
    for name in table.columns:
        value = rec.get(name)
        if value is None:
            continue
        label = table.labels.get(name, {}).get(value) if isinstance(value, int) else None
        shown = f"{value} ({label})" if label else str(value)
        rows.append(f"<tr><th>{escape(name)}</th><td>{escape(shown)}</td></tr>")
    for attr in table.lookups:
        key = f"_{attr}_value"
        if rec.get(key):
            target = rec.get(key + TYPE_SUFFIX) or ""
            link = record_link(target, rec[key], _name(h, target, rec[key]))
            rows.append(f"<tr><th>{escape(attr)}</th><td>{link}</td></tr>")
    extra = ""
    if logical == "email":
        parties = _parties(h, rid)
        items = [
            f"<li>{escape(PARTICIPATION.get(mask, str(mask)))}: {', '.join(labels)}</li>"
            for mask, labels in sorted(parties.items())
        ]
        attachments = [
            f"<li>{escape(str(a.get('filename')))} ({escape(str(a.get('filesize') or 0))} bytes)</li>"
            for a in h.store.all("activitymimeattachments")
            if a.get("_objectid_value") == rid
        ]
        extra = (
            f"<h2>Parties</h2><ul>{''.join(items)}</ul><h2>Attachments</h2><ul>{''.join(attachments)}</ul>"
        )
    title = str(rec.get(table.primary_name) or rid)
    body = (
        f"<p><a href='/'>All e-mails</a></p><h1>{escape(logical)}: {escape(title)}</h1>"
        f"<table>{''.join(rows)}</table>"
    )
    return _page(title, body + extra)


def respond(h: Handler, request: Request, auth: PageAuth) -> Response:
    """Answer the HTML pages (signed-in browsers and bearer-token clients only); else a 404 page."""
    from addin.sandbox.crm.actions import queue_pending_email

    login = auth.exchange(request)
    if login is not None:
        return login
    if request.path == "/" and request.method == "POST":
        if not auth.post_allowed(request):
            return refused(403, "This form only accepts posts from its own page")
        form = request.form
        try:
            queue_pending_email(
                h,
                form.get("to", ""),
                form.get("subject", ""),
                form.get("body", ""),
                form.get("regarding") or None,
            )
        except ODataError as exc:
            return index(h, f"Not queued: {exc.message}", auth.form_token(request))
        return Response("", status=303, headers={"Location": "/"})
    if request.method == "GET" and request.path.lower() in ("/", "/main.aspx") and not auth.allowed(request):
        return refused(401, "Sign-in needed")
    if request.path == "/" and request.method == "GET":
        return index(h, form_token=auth.form_token(request))
    if request.path.lower() == "/main.aspx" and request.method == "GET":
        etn = request.args.get("etn", "")
        rid = request.args.get("id", "").strip("{}").lower()
        return record_page(h, etn, rid)
    return _page("Not found", "<h1>Not found</h1><a href='/'>Sandbox CRM</a>", 404)
