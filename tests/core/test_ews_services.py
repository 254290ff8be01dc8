"""The EWS services the backend calls read an answer whole, and parse it as exchangelib does."""

from __future__ import annotations

import math

import pytest
from exchangelib.errors import ErrorServerBusy
from exchangelib.services import GetItem
from exchangelib.util import DummyResponse

from addin.mailbox.ews_services import READ_CHUNK, BodyGetAttachment, BodyGetItem, _Body

_ANSWER = (
    "<?xml version='1.0' encoding='utf-8'?>"
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    '<s:Header><h:ServerVersionInfo xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" '
    'MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/>'
    "</s:Header><s:Body><m:GetItemResponse "
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">{}</m:GetItemResponse>'
    "</s:Body></s:Envelope>"
)


def _answer(padding: int) -> bytes:
    return _ANSWER.format("<!-- " + "x" * padding + " -->").encode()


def test_a_whole_body_is_handed_over_in_big_pieces() -> None:
    content = _answer(300_000)
    pieces = list(_Body(content).iter_content())
    assert b"".join(pieces) == content
    assert len(pieces) == math.ceil(len(content) / READ_CHUNK)  # exchangelib's own: one per byte


@pytest.mark.parametrize("padding", [0, READ_CHUNK - 300, 3 * READ_CHUNK + 7])
def test_the_parsed_answer_is_the_one_exchangelib_parses(padding: int) -> None:
    content = _answer(padding)
    header, body = _service()._get_soap_parts(response=DummyResponse(content=content))
    their_header, their_body = GetItem._get_soap_parts(response=DummyResponse(content=content))
    assert header is not None and header.get("MajorBuildNumber") == their_header.get("MajorBuildNumber")
    assert [e.tag for e in body.iter()] == [e.tag for e in their_body.iter()]


def test_a_soap_fault_still_raises_exchangelibs_error() -> None:
    fault = (
        b"<?xml version='1.0' encoding='utf-8'?>"
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultcode>a:ErrorServerBusy</faultcode><faultstring>The server cannot service this request "
        b"right now. Try again later.</faultstring><detail><e:ResponseCode "
        b'xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>'
        b'<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">busy</e:Message>'
        b"</detail></s:Fault></s:Body></s:Envelope>"
    )
    service = _service()
    _, body = service._get_soap_parts(response=DummyResponse(content=fault))
    with pytest.raises(ErrorServerBusy):
        service._get_soap_messages(body=body)


def test_an_attachment_service_parses_whole_answers_too() -> None:
    """GetAttachment overrides the parsing step as an instance method of its own."""
    service = BodyGetAttachment.__new__(BodyGetAttachment)
    service.streaming = False
    _, body = service._get_soap_parts(response=DummyResponse(content=_answer(10)))
    assert body is not None and body.tag.endswith("Body")


def _service() -> BodyGetItem:
    # Parsing needs no account or connection; exchangelib's own tests build services the same way.
    service = BodyGetItem.__new__(BodyGetItem)
    service.streaming = False
    return service
