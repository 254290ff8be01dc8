"""SOAP envelope and XML helpers for the sandbox Exchange (EWS namespaces, faults, values)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

from lxml import etree  # type: ignore[import-untyped]

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP, "m": M, "t": T}

# Exchange Server 2019 CU-level build: exchangelib maps 15.2 to the "Exchange2016" API version.
SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "2",
    "MajorBuildNumber": "1544",
    "MinorBuildNumber": "4",
    "Version": "V2017_07_11",
}

# lxml ships no type information: elements are typed loosely.
Element: TypeAlias = Any


class SoapFault(Exception):
    """A request the server refuses as a whole (answered with a SOAP fault, HTTP 500)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EwsError(Exception):
    """A per-item error, answered as an Error response message with this ResponseCode."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


def m(tag: str) -> str:
    return f"{{{M}}}{tag}"


def t(tag: str) -> str:
    return f"{{{T}}}{tag}"


def sub(parent: Element, qname: str, text: str | None = None, **attrs: str) -> Element:
    el = etree.SubElement(parent, qname, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = _xml_safe(text)
    return el


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (malformed mail can contain them)."""
    return _NOT_XML.sub("", text)


def envelope() -> tuple[Element, Element]:
    """A response envelope with ServerVersionInfo in the header; returns (root, body)."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    header = sub(root, f"{{{SOAP}}}Header")
    etree.SubElement(header, f"{{{T}}}ServerVersionInfo", SERVER_VERSION, nsmap={"h": T})
    body = sub(root, f"{{{SOAP}}}Body")
    return root, body


def serialize(root: Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def response_root(body: Element, op: str) -> Element:
    """``<m:{op}Response><m:ResponseMessages>`` under the body; returns ResponseMessages."""
    resp = etree.SubElement(body, m(f"{op}Response"), nsmap={"m": M, "t": T})
    return sub(resp, m("ResponseMessages"))


def ok_message(messages: Element, op: str) -> Element:
    msg = sub(messages, m(f"{op}ResponseMessage"), ResponseClass="Success")
    sub(msg, m("ResponseCode"), "NoError")
    return msg


def error_message(messages: Element, op: str, code: str, text: str) -> Element:
    msg = sub(messages, m(f"{op}ResponseMessage"), ResponseClass="Error")
    sub(msg, m("MessageText"), text)
    sub(msg, m("ResponseCode"), code)
    sub(msg, m("DescriptiveLinkKey"), "0")
    return msg


_Key = TypeVar("_Key")
_Found = TypeVar("_Found")


def answer_each(
    messages: Element, op: str, keys: Iterable[_Key], look_up: Callable[[_Key], _Found]
) -> Iterator[tuple[_Found, Element]]:
    """One response message per key: a failed look-up answers that key with its error, the rest go on."""
    for key in keys:
        try:
            found = look_up(key)
        except EwsError as exc:
            error_message(messages, op, exc.code, exc.message)
            continue
        yield found, ok_message(messages, op)


def fault_envelope(code: str, message: str, back_off_ms: int | None = None) -> bytes:
    """A SOAP fault as Exchange sends it; exchangelib reads ResponseCode and BackOffMilliseconds."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    body = sub(root, f"{{{SOAP}}}Body")
    fault = sub(body, f"{{{SOAP}}}Fault")
    fc = etree.SubElement(fault, "faultcode", nsmap={"a": T})
    fc.text = f"a:{code}"
    etree.SubElement(fault, "faultstring").text = message
    detail = etree.SubElement(fault, "detail")
    etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E}).text = code
    etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E}).text = message
    if back_off_ms is not None:
        mx = etree.SubElement(detail, f"{{{T}}}MessageXml", nsmap={"t": T})
        etree.SubElement(mx, f"{{{T}}}Value", {"Name": "BackOffMilliseconds"}).text = str(back_off_ms)
    return serialize(root)


def parse_request(data: bytes) -> Element:
    """Parse a request safely: no entity expansion, no network, no DTDs."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    return etree.fromstring(data, parser)


def body_operation(root: Element) -> Element:
    body = root.find(f"{{{SOAP}}}Body")
    if body is None or len(body) == 0:
        raise SoapFault("ErrorSchemaValidation", "The request has no SOAP body.")
    op = body[0]
    if not isinstance(op.tag, str):
        raise SoapFault("ErrorSchemaValidation", "The SOAP body has no operation element.")
    return op


def local(el: Element) -> str:
    tag = el.tag
    return str(etree.QName(tag).localname) if isinstance(tag, str) else ""


def text_of(el: Element | None, default: str = "") -> str:
    if el is None or el.text is None:
        return default
    return str(el.text)


def child_text(parent: Element, qname: str, default: str = "") -> str:
    return text_of(parent.find(qname), default)


def to_bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def bool_text(value: bool) -> str:
    return "true" if value else "false"


def now_iso() -> str:
    return iso(datetime.now(UTC))


def iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode("".join((text or "").split()), validate=False)


def attrs_of(el: Element) -> dict[str, Any]:
    return {str(k): str(v) for k, v in el.attrib.items()}
