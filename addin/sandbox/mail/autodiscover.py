"""Autodiscover for the sandbox Exchange: SOAP (``/autodiscover/autodiscover.svc``,
GetUserSettings, what exchangelib speaks) and POX (``/autodiscover/autodiscover.xml``, what
Outlook and most other clients speak). Both answer with the sandbox's own EWS URL and need
Basic auth (an unauthenticated probe gets 401 + ``WWW-Authenticate: Basic``).

exchangelib's own discovery starts at ``https://<domain>/autodiscover/autodiscover.svc`` after
a DNS lookup, so it cannot find a loopback server by itself. Ways to point it here:

- ask the endpoint directly: ``AutodiscoverProtocol(config=Configuration(service_endpoint=
  sandbox.autodiscover_soap_url, credentials=creds)).get_user_settings(user=email)``, whose
  ``ews_url`` (and ``version``) are what discovery would yield;
- prime exchangelib's cache for the domain, then use ``Account(..., autodiscover=True)``:
  ``autodiscover_cache[(domain, creds)] = AutodiscoverProtocol(config=Configuration(
  service_endpoint=sandbox.autodiscover_soap_url, credentials=creds))`` (``clear_cache()``
  afterwards: the cache persists the endpoint in a file in the temp folder).
"""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]

from addin.sandbox.mail.soap import SERVER_VERSION, Element, local, parse_request
from addin.sandbox.mail.store import MailStore

ANS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA = "http://www.w3.org/2005/08/addressing"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
POX_REQUEST = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
POX_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
POX_OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

SUPPORTED_SCHEMAS = (
    "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, "
    "Exchange2013, Exchange2013_SP1, Exchange2016"
)


def _a(tag: str) -> str:
    return f"{{{ANS}}}{tag}"


def _add(parent: Element, qname: str, text: str | None = None) -> Element:
    el = etree.SubElement(parent, qname)
    if text is not None:
        el.text = text
    return el


def soap_operation(data: bytes) -> str:
    try:
        root = parse_request(data)
    except etree.XMLSyntaxError:
        return "Invalid"
    body = root.find(f"{{{SOAP}}}Body")
    if body is None or len(body) == 0:
        return "Invalid"
    name = local(body[0])
    return name.removesuffix("RequestMessage") or "Invalid"


def soap_get_user_settings(data: bytes, store: MailStore, ews_url: str) -> bytes:
    """Answer a GetUserSettingsRequestMessage for each requested user."""
    root = parse_request(data)
    users = [u.text or "" for u in root.iter(_a("Mailbox"))]
    requested = [s.text or "" for s in root.iter(_a("Setting"))]

    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP, "a": WSA})
    header = _add(env, f"{{{SOAP}}}Header")
    action = _add(header, f"{{{WSA}}}Action", f"{ANS}/Autodiscover/GetUserSettingsResponse")
    action.set(f"{{{SOAP}}}mustUnderstand", "1")
    info = etree.SubElement(header, _a("ServerVersionInfo"), nsmap={"h": ANS})
    for key in ("MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber"):
        _add(info, _a(key), SERVER_VERSION[key])
    _add(info, _a("Version"), "Exchange2015")
    body = _add(env, f"{{{SOAP}}}Body")
    msg = etree.SubElement(body, _a("GetUserSettingsResponseMessage"), nsmap={None: ANS})
    resp = etree.SubElement(msg, _a("Response"), nsmap={"i": XSI})
    _add(resp, _a("ErrorCode"), "NoError")
    _add(resp, _a("ErrorMessage"), "")
    holder = _add(resp, _a("UserResponses"))
    for user in users:
        address = user.strip().lower()
        ur = _add(holder, _a("UserResponse"))
        if not store.has_mailbox(address):
            _add(ur, _a("ErrorCode"), "InvalidUser")
            _add(ur, _a("ErrorMessage"), f"Invalid user: '{user}'")
            _add(ur, _a("RedirectTarget")).set(f"{{{XSI}}}nil", "true")
            continue
        _add(ur, _a("ErrorCode"), "NoError")
        _add(ur, _a("ErrorMessage"), "No error.")
        _add(ur, _a("RedirectTarget")).set(f"{{{XSI}}}nil", "true")
        _add(ur, _a("UserSettingErrors"))
        settings = _add(ur, _a("UserSettings"))
        values = {
            "UserDisplayName": store.display_name(address),
            "AutoDiscoverSMTPAddress": address,
            "ExternalEwsUrl": ews_url,
            "InternalEwsUrl": ews_url,
            "EwsSupportedSchemas": SUPPORTED_SCHEMAS,
            "CasVersion": "15.02.1544.004",
        }
        for name in requested or list(values):
            if name in values:
                us = _add(settings, _a("UserSetting"))
                us.set(f"{{{XSI}}}type", "StringSetting")
                _add(us, _a("Name"), name)
                _add(us, _a("Value"), values[name])
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def pox_response(data: bytes, store: MailStore, ews_url: str, server: str) -> bytes:
    """Answer a POX Autodiscover request (Outlook schema 2006a)."""
    address = ""
    try:
        root = parse_request(data) if data.strip() else None
        if root is not None:
            found = root.find(f".//{{{POX_REQUEST}}}EMailAddress")
            address = (found.text or "").strip().lower() if found is not None else ""
    except etree.XMLSyntaxError:
        root = None
    out = etree.Element(f"{{{POX_RESPONSE}}}Autodiscover", nsmap={None: POX_RESPONSE})
    if not address or not store.has_mailbox(address):
        resp = etree.SubElement(out, f"{{{POX_RESPONSE}}}Response")
        err = etree.SubElement(resp, f"{{{POX_RESPONSE}}}Error", Time="00:00:00.0000000", Id="0")
        code, text = (
            ("600", "Invalid Request") if not address else ("500", "The email address can't be found.")
        )
        _add(err, f"{{{POX_RESPONSE}}}ErrorCode", code)
        _add(err, f"{{{POX_RESPONSE}}}Message", text)
        _add(err, f"{{{POX_RESPONSE}}}DebugData", "")
        return bytes(etree.tostring(out, xml_declaration=True, encoding="utf-8"))
    o = POX_OUTLOOK
    resp = etree.SubElement(out, f"{{{o}}}Response", nsmap={None: o})
    user = _add(resp, f"{{{o}}}User")
    _add(user, f"{{{o}}}DisplayName", store.display_name(address))
    _add(user, f"{{{o}}}AutoDiscoverSMTPAddress", address)
    account = _add(resp, f"{{{o}}}Account")
    _add(account, f"{{{o}}}AccountType", "email")
    _add(account, f"{{{o}}}Action", "settings")
    for kind in ("EXCH", "EXPR"):
        proto = _add(account, f"{{{o}}}Protocol")
        _add(proto, f"{{{o}}}Type", kind)
        _add(proto, f"{{{o}}}Server", server)
        _add(proto, f"{{{o}}}ASUrl", ews_url)
        _add(proto, f"{{{o}}}EwsUrl", ews_url)
        _add(proto, f"{{{o}}}AuthPackage", "Basic")
        _add(proto, f"{{{o}}}SSL", "Off")
    return bytes(etree.tostring(out, xml_declaration=True, encoding="utf-8"))
