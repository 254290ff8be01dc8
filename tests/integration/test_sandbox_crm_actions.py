"""E-mail messages of the sandbox CRM (SendEmail, BackgroundSendEmail, CheckPromoteEmail,
GetTrackingTokenEmail) and its HTML pages."""

from __future__ import annotations

import re

import requests
from test_sandbox_crm_support import Api, api, crm, error_of

from addin.sandbox.crm import ALEX_EMAIL, ALEX_ID, DEMO_CONTACTS

__all__ = ["api", "crm"]  # fixtures

TOKEN = re.compile(r"^CRM:0\d{6}$")


def _draft(api: Api, subject: str = "Proposal", to: int = 0) -> str:
    c = DEMO_CONTACTS[to]
    return api.create(
        "emails",
        {
            "subject": subject,
            "description": "<p>Hi</p>",
            "email_activity_parties": [
                {"participationtypemask": 1, "partyid_systemuser@odata.bind": f"/systemusers({ALEX_ID})"},
                {"participationtypemask": 2, "partyid_contact@odata.bind": f"/contacts({c.id})"},
            ],
        },
    )


def test_send_email_issue_send_false_records_it_as_sent(api: Api) -> None:
    """SendEmail (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/sendemail):
    bound to email, ``IssueSend: false`` records the e-mail as sent; returns SendEmailResponse.Subject."""
    eid = _draft(api, "Tracked from Sent Items")
    r = api.post(f"emails({eid})/Microsoft.Dynamics.CRM.SendEmail", {"IssueSend": False})
    assert r.status_code == 200
    assert r.json() == {
        "@odata.context": f"{api.base}$metadata#Microsoft.Dynamics.CRM.SendEmailResponse",
        "Subject": "Tracked from Sent Items",
    }
    rec = api.crm.db.get("emails", eid)
    assert (rec["statecode"], rec["statuscode"]) == (1, 3) and rec["senton"]
    # Only an open e-mail can be sent.
    r = api.post(f"emails({eid})/Microsoft.Dynamics.CRM.SendEmail", {"IssueSend": False})
    assert r.status_code == 400
    error_of(r)


def test_send_email_issue_send_true_queues_pending_send_with_token(api: Api) -> None:
    eid = _draft(api, "Quote")
    r = api.post(
        f"emails({eid})/Microsoft.Dynamics.CRM.SendEmail", {"IssueSend": True, "TrackingToken": None}
    )
    subject = r.json()["Subject"]
    token = subject.removeprefix("Quote ")
    assert TOKEN.match(token)
    rec = api.crm.db.get("emails", eid)
    assert (rec["statecode"], rec["statuscode"], rec["trackingtoken"], rec["subject"]) == (
        1,
        6,
        token,
        subject,
    )
    nobody = api.create("emails", {"subject": "no recipients"})
    r = api.post(f"emails({nobody})/Microsoft.Dynamics.CRM.SendEmail", {"IssueSend": True})
    assert r.status_code == 400


def test_get_tracking_token_increments(api: Api) -> None:
    """GetTrackingTokenEmail: unbound action taking Subject, returning TrackingToken."""
    first = api.post("GetTrackingTokenEmail", {"Subject": "a"}).json()
    second = api.post("GetTrackingTokenEmail", {"Subject": "b"}).json()
    assert first["@odata.context"].endswith("#Microsoft.Dynamics.CRM.GetTrackingTokenEmailResponse")
    assert TOKEN.match(first["TrackingToken"]) and TOKEN.match(second["TrackingToken"])
    assert int(second["TrackingToken"][-3:]) == int(first["TrackingToken"][-3:]) + 1


def test_background_send_email_returns_queued_mail_with_has_attachments(api: Api) -> None:
    """BackgroundSendEmail with the FetchExpression query of reference §3.4 A."""
    c = DEMO_CONTACTS[1]
    queued = api.crm.queue_email(c.email, "With file", "<p>see file</p>")
    api.crm.create(
        "activitymimeattachments",
        {
            "objectid_email@odata.bind": f"/emails({queued})",
            "objecttypecode": "email",
            "filename": "a.txt",
            "body": "aGk=",
        },
    )
    plain = api.crm.queue_email(DEMO_CONTACTS[2].email, "Plain", "text")
    _draft(api, "still a draft")
    mailbox = api.crm.db.get("systemusers", ALEX_ID)["_defaultmailbox_value"]
    fetch = (
        "<fetch><entity name='email'><all-attributes/><filter>"
        "<condition attribute='statuscode' operator='eq' value='6'/>"
        "<condition attribute='directioncode' operator='eq' value='1'/>"
        f"<condition attribute='sendermailboxid' operator='eq' value='{{{mailbox}}}'/>"
        "</filter></entity></fetch>"
    )
    r = api.post(
        "BackgroundSendEmail",
        {"Query": {"@odata.type": "Microsoft.Dynamics.CRM.FetchExpression", "Query": fetch}},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"].endswith("#Microsoft.Dynamics.CRM.BackgroundSendEmailResponse")
    got = {
        e["activityid"]: has for e, has in zip(body["EntityCollection"], body["HasAttachments"], strict=True)
    }
    assert got == {queued: True, plain: False}
    assert all(e["@odata.type"] == "#Microsoft.Dynamics.CRM.email" for e in body["EntityCollection"])
    r = api.post(
        "BackgroundSendEmail",
        {"Query": {"@odata.type": "Microsoft.Dynamics.CRM.FetchExpression", "Query": "<fetch"}},
    )
    assert r.status_code == 400


def test_check_promote_email_dedupes_and_follows_the_filtering_method(api: Api) -> None:
    """CheckPromoteEmail: unbound function (MessageId, Subject, DirectionCode) with parameter aliases;
    answers CheckPromoteEmailResponse {ShouldPromote, ReasonCode}."""

    def check(message_id: str, subject: str = "Hello") -> dict[str, object]:
        r = api.get(
            "CheckPromoteEmail(MessageId=@p1,Subject=@p2,DirectionCode=@p3)"
            f"?@p1={requests.utils.quote(repr(message_id))}&@p2='{subject}'&@p3=0"
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    first = check("<new@fabrikam.example>")
    assert first["@odata.context"].endswith("#Microsoft.Dynamics.CRM.CheckPromoteEmailResponse")
    assert first["ShouldPromote"] is True
    api.create("emails", {"subject": "Hello", "directioncode": False, "messageid": "<new@fabrikam.example>"})
    dup = check("new@fabrikam.example")  # with or without angle brackets
    assert (dup["ShouldPromote"], dup["ReasonCode"]) == (False, 0)

    api.crm.db.update("usersettingscollection", ALEX_ID, {"incomingemailfilteringmethod": 1})
    assert check("<other@x.example>", "Unrelated")["ShouldPromote"] is False
    token = api.crm.db.get("emails", api.crm.queue_email(DEMO_CONTACTS[0].email, "Offer", "x"))[
        "trackingtoken"
    ]
    assert check("<reply@x.example>", f"RE: Offer {token}")["ShouldPromote"] is True
    api.crm.db.update("usersettingscollection", ALEX_ID, {"incomingemailfilteringmethod": 4})
    assert check("<third@x.example>")["ShouldPromote"] is False
    r = api.get("CheckPromoteEmail(MessageId=@p1)?@p1=null")
    assert r.status_code == 400


def test_wrong_method_and_unknown_action(api: Api) -> None:
    assert api.post("WhoAmI", {}).status_code == 405
    r = api.post("NoSuchAction", {})
    assert r.status_code == 404 and error_of(r)["code"] == "0x8006088a"


# -- HTML pages -----------------------------------------------------------------------------


def test_html_lists_emails_escaped_and_links_record_pages(api: Api) -> None:
    c = DEMO_CONTACTS[0]
    eid = api.crm.queue_email(c.email, "<script>alert(1)</script> & more", "x")
    page = requests.get(api.crm.origin + "/", headers=BEARER, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page.text
    assert f"/main.aspx?etn=email&amp;id={eid}&amp;pagetype=entityrecord" in page.text
    assert "Pending Send" in page.text and c.fullname in page.text
    record = requests.get(
        api.crm.origin + "/main.aspx",
        params={"etn": "email", "id": eid, "pagetype": "entityrecord"},
        headers=BEARER,
        timeout=10,
    )
    assert record.status_code == 200 and "&lt;script&gt;" in record.text and ALEX_EMAIL in record.text
    missing = requests.get(
        api.crm.origin + "/main.aspx?etn=email&id=nope&pagetype=entityrecord", headers=BEARER, timeout=10
    )
    assert missing.status_code == 404


def test_html_form_queues_pending_send_for_alex(api: Api) -> None:
    c = DEMO_CONTACTS[7]
    opp = api.crm.db.query("opportunities")[0]["opportunityid"]
    browser = _signed_in_browser(api)
    r = browser.post(
        api.crm.origin + "/",
        data={
            "to": c.email,
            "subject": "From the form",
            "body": "Hello",
            "regarding": f"opportunities({opp})",
            "csrf": _form_token(browser, api),
        },
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 303 and r.headers["Location"] == "/"
    rows = api.crm.db.query("emails", lambda e: str(e.get("subject", "")).startswith("From the form"))
    assert len(rows) == 1
    rec = rows[0]
    assert (rec["statuscode"], rec["_regardingobjectid_value"], rec["_emailsender_value"]) == (
        6,
        opp,
        ALEX_ID,
    )
    bad = requests.post(
        api.crm.origin + "/", data={"to": "not-an-address", "subject": "x"}, headers=BEARER, timeout=10
    )
    assert bad.status_code == 200 and "Not queued" in bad.text


BEARER = {"Authorization": "Bearer sandbox"}


def _signed_in_browser(api: Api) -> requests.Session:
    """A browser that opened the printed page URL once (its one-time token sets the cookie)."""
    browser = requests.Session()
    opened = browser.get(api.crm.page_url(), timeout=10)
    assert opened.status_code == 200 and "Sandbox CRM" in opened.text
    return browser


def _form_token(browser: requests.Session, api: Api) -> str:
    page = browser.get(api.crm.origin + "/", timeout=10).text
    match = re.search(r"name='csrf' value='([^']+)'", page)
    assert match, page[:500]
    return match.group(1)


def test_html_pages_need_the_same_auth_as_the_api(api: Api) -> None:
    for path in ("/", "/main.aspx?etn=email&id=x&pagetype=entityrecord"):
        assert requests.get(api.crm.origin + path, timeout=10).status_code == 401
    url = api.crm.page_url()
    browser = requests.Session()
    first = browser.get(url, allow_redirects=False, timeout=10)
    assert first.status_code == 303 and first.headers["Location"] == "/"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert browser.get(api.crm.origin + "/", timeout=10).status_code == 200
    # The token in the printed URL works once: another browser cannot reuse it.
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(api.crm.origin + "/?login=guessed", timeout=10).status_code == 401


def test_html_form_refuses_cross_site_posts(api: Api) -> None:
    c = DEMO_CONTACTS[3]
    form = {"to": c.email, "subject": "Forged", "body": "x"}
    browser = _signed_in_browser(api)
    token = _form_token(browser, api)
    # Another web page posting the form: the browser sends no SameSite=Strict cookie...
    assert requests.post(api.crm.origin + "/", data=form, timeout=10).status_code == 403
    # ...and even with the cookie, neither a missing form token nor a foreign Origin passes.
    assert browser.post(api.crm.origin + "/", data=form, timeout=10).status_code == 403
    forged = browser.post(
        api.crm.origin + "/",
        data={**form, "csrf": token},
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    assert forged.status_code == 403
    # Control endpoints refuse a foreign Origin too (a web page cannot inject faults).
    assert (
        requests.post(
            api.crm.origin + "/_sandbox/faults",
            data="{}",
            headers={"Origin": "https://evil.example"},
            timeout=10,
        ).status_code
        == 403
    )
    assert api.crm.db.query("emails", lambda e: str(e.get("subject", "")).startswith("Forged")) == []
    # The page's own post, from the page's origin, is accepted.
    own = browser.post(
        api.crm.origin + "/",
        data={**form, "subject": "Own", "csrf": token},
        headers={"Origin": api.crm.origin},
        allow_redirects=False,
        timeout=10,
    )
    assert own.status_code == 303


def test_deliver_incoming_email_creates_correlates_and_dedupes(api: Api) -> None:
    """DeliverIncomingEmail (bound to the emails collection) and DeliverPromoteEmail (bound to an
    email) with the parameter lists of reference §2; returns {EmailId}."""
    c = DEMO_CONTACTS[5]
    opp = api.crm.db.query("opportunities")[2]["opportunityid"]
    queued = api.crm.queue_email(c.email, "Offer", "x", regarding=("opportunities", opp))
    token = api.crm.db.get("emails", queued)["trackingtoken"]
    params = {
        "MessageId": "<reply-1@fabrikam.example>",
        "Subject": f"RE: Offer {token}",
        "From": f"{c.fullname} <{c.email}>",
        "To": ALEX_EMAIL,
        "Cc": "someone@elsewhere.example",
        "Bcc": "",
        "ReceivedOn": "2026-01-05T10:00:00Z",
        "SubmittedBy": "",
        "Importance": "high",
        "Body": "<p>Yes please</p>",
        "Attachments": [{"filename": "po.txt", "mimetype": "text/plain", "body": "aGk="}],
    }
    r = api.post("emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", params)
    assert r.status_code == 200, r.text
    eid = r.json()["EmailId"]
    rec = api.crm.db.get("emails", eid)
    assert (rec["statecode"], rec["statuscode"], rec["directioncode"], rec["prioritycode"]) == (
        1,
        4,
        False,
        2,
    )
    assert (rec["_regardingobjectid_value"], rec["_correlatedactivityid_value"]) == (opp, queued)
    assert rec["_emailsender_value"] == c.id and rec["actualend"] == "2026-01-05T10:00:00Z"
    parties = api.crm.db.query("activityparties", lambda p: p["_activityid_value"] == eid)
    assert {(p["participationtypemask"], p.get("_partyid_value")) for p in parties} == {
        (1, c.id),
        (2, ALEX_ID),
        (3, None),
    }
    assert len(api.crm.db.query("activitymimeattachments", lambda a: a["_objectid_value"] == eid)) == 1
    again = api.post("emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", params)
    assert again.json()["EmailId"] == eid

    outgoing = {**params, "MessageId": "<sent-1@contoso.example>", "From": ALEX_EMAIL, "To": c.email}
    r = api.post(
        "emails(00000000-0000-0000-0000-000000000000)/Microsoft.Dynamics.CRM.DeliverPromoteEmail", outgoing
    )
    sent = api.crm.db.get("emails", r.json()["EmailId"])
    assert (sent["statuscode"], sent["directioncode"]) == (3, True)
    r = api.post("emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", {"MessageId": "<x@y>"})
    assert r.status_code == 400 and "From" in error_of(r)["message"]
