"""$batch building and parsing against Microsoft's documented examples.

The response fixtures below are the request/response pairs published on
"Execute batch operations using the Web API"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api,
source MicrosoftDocs/powerapps-docs: powerapps-docs/developer/data-platform/webapi/
execute-batch-operations-using-web-api.md).  They use LF line ends, bare and quoted boundaries and
``Header:value`` without a space, exactly as printed there; the real service sends CRLF, which is
tested by converting them.
"""

from __future__ import annotations

import pytest

from addin.crm.batch import first_error, match_results
from addin.crm.batch_wire import (
    BatchRequest,
    PartResponse,
    parse_batch_response,
)
from addin.errors import ConflictError, CrmError

ROOT = "https://org.crm.dynamics.com/api/data/v9.2/"

# "Batch responses": three creates and a GET, no change set.
DOC_PLAIN = """--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization Uri]/api/data/v9.2/tasks(d31ba648-c592-ed11-aad1-000d3a993550)
OData-EntityId: [Organization Uri]/api/data/v9.2/tasks(d31ba648-c592-ed11-aad1-000d3a993550)


--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization Uri]/api/data/v9.2/tasks(d41ba648-c592-ed11-aad1-000d3a993550)
OData-EntityId: [Organization Uri]/api/data/v9.2/tasks(d41ba648-c592-ed11-aad1-000d3a993550)


--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization Uri]/api/data/v9.2/tasks(d51ba648-c592-ed11-aad1-000d3a993550)
OData-EntityId: [Organization Uri]/api/data/v9.2/tasks(d51ba648-c592-ed11-aad1-000d3a993550)


--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 200 OK
Content-Type: application/json; odata.metadata=minimal; odata.streaming=true
OData-Version: 4.0

{
  "@odata.context": "[Organization Uri]/api/data/v9.2/$metadata#tasks(subject)",
  "value": [
    {
      "@odata.etag": "W/\\"77180907\\"",
      "subject": "Task 1 in batch",
      "activityid": "d31ba648-c592-ed11-aad1-000d3a993550"
    }
  ]
}
--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916--
"""
DOC_PLAIN_TYPE = "multipart/mixed; boundary=batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916"

# "Reference URIs in request body": a change set of three creates, the third binding $1 and $2.
DOC_CHANGESET = """--batchresponse_3cace264-86ea-40fe-83d3-954b336c0f4a
Content-Type: multipart/mixed; boundary=changesetresponse_1a5db8a1-ec98-42c4-81f6-6bc6adcfa4bc

--changesetresponse_1a5db8a1-ec98-42c4-81f6-6bc6adcfa4bc
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization URI]/api/data/v9.2/leads(425195a4-7a75-e911-a97a-000d3a34a1bd)
OData-EntityId: [Organization URI]/api/data/v9.2/leads(425195a4-7a75-e911-a97a-000d3a34a1bd)

--changesetresponse_1a5db8a1-ec98-42c4-81f6-6bc6adcfa4bc
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization URI]/api/data/v9.2/contacts(495195a4-7a75-e911-a97a-000d3a34a1bd)
OData-EntityId: [Organization URI]/api/data/v9.2/contacts(495195a4-7a75-e911-a97a-000d3a34a1bd)

--changesetresponse_1a5db8a1-ec98-42c4-81f6-6bc6adcfa4bc
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 3

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization URI]/api/data/v9.2/accounts(4f5195a4-7a75-e911-a97a-000d3a34a1bd)
OData-EntityId: [Organization URI]/api/data/v9.2/accounts(4f5195a4-7a75-e911-a97a-000d3a34a1bd)

--changesetresponse_1a5db8a1-ec98-42c4-81f6-6bc6adcfa4bc--
--batchresponse_3cace264-86ea-40fe-83d3-954b336c0f4a--
"""
DOC_CHANGESET_TYPE = 'multipart/mixed; boundary="batchresponse_3cace264-86ea-40fe-83d3-954b336c0f4a"'

# "Reference URI in request URL": headers written as "Location:value" with no space.
DOC_NOSPACE = """--batchresponse_2cb48f48-39a8-41ea-aa52-132fa8ab3c2d
Content-Type: multipart/mixed; boundary=changesetresponse_d7528170-3ef3-41bd-be8e-eac971a8d9d4

--changesetresponse_d7528170-3ef3-41bd-be8e-eac971a8d9d4
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

HTTP/1.1 204 No Content
OData-Version: 4.0
Location:[Organization URI]/api/data/v9.2/contacts(f8ea5d2c-8c75-e911-a97a-000d3a34a1bd)
OData-EntityId:[Organization URI]/api/data/v9.2/contacts(f8ea5d2c-8c75-e911-a97a-000d3a34a1bd)


--changesetresponse_d7528170-3ef3-41bd-be8e-eac971a8d9d4
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

HTTP/1.1 204 No Content
OData-Version: 4.0


--changesetresponse_d7528170-3ef3-41bd-be8e-eac971a8d9d4--
--batchresponse_2cb48f48-39a8-41ea-aa52-132fa8ab3c2d--
"""
DOC_NOSPACE_TYPE = "multipart/mixed; boundary=batchresponse_2cb48f48-39a8-41ea-aa52-132fa8ab3c2d"

# "Handling errors", without odata.continue-on-error: only the failing request is answered.
DOC_ERROR = """--batchresponse_156da4b8-cd2c-4862-a911-4aaab97c001a
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 400 Bad Request
REQ_ID: 5ecd1cb3-1730-4ffc-909c-d44c22270026
Content-Type: application/json; odata.metadata=minimal
OData-Version: 4.0

{"error":{"code":"0x80044331","message":"A validation error occurred.  The length of the 'subject' \
attribute of the 'task' entity exceeded the maximum allowed length of '200'."}}
--batchresponse_156da4b8-cd2c-4862-a911-4aaab97c001a--
"""
DOC_ERROR_TYPE = "multipart/mixed; boundary=batchresponse_156da4b8-cd2c-4862-a911-4aaab97c001a"

# The same with odata.continue-on-error: the error, then the two other creates.
DOC_CONTINUE = """--batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 400 Bad Request
REQ_ID: de4c5227-4a28-4ebd-8ced-3392ece1697b
Content-Type: application/json; odata.metadata=minimal
OData-Version: 4.0

{"error":{"code":"0x80044331","message":"A validation error occurred."}}
--batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization Uri]/api/data/v9.2/tasks(aed2ae8b-3c94-ed11-aad1-000d3a9933c9)
OData-EntityId: [Organization Uri]/api/data/v9.2/tasks(aed2ae8b-3c94-ed11-aad1-000d3a9933c9)


--batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization Uri]/api/data/v9.2/tasks(b1d2ae8b-3c94-ed11-aad1-000d3a9933c9)
OData-EntityId: [Organization Uri]/api/data/v9.2/tasks(b1d2ae8b-3c94-ed11-aad1-000d3a9933c9)


--batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139--
"""
DOC_CONTINUE_TYPE = "multipart/mixed; boundary=batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139"


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def _tasks(n: int) -> list[BatchRequest]:
    return [BatchRequest("POST", "tasks", {"subject": f"Task {i + 1} in batch"}) for i in range(n)]


@pytest.mark.parametrize("convert", [str.encode, _crlf], ids=["lf", "crlf"])
def test_plain_batch_response_parses_into_one_result_per_request(convert) -> None:  # type: ignore[no-untyped-def]
    answers = parse_batch_response(convert(DOC_PLAIN), DOC_PLAIN_TYPE)
    assert [a.status for a in answers if isinstance(a, PartResponse)] == [204, 204, 204, 200]
    requests = [
        *_tasks(3),
        BatchRequest("GET", "accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks"),
    ]
    results = match_results(requests, answers)
    assert [r.entity_id for r in results[:3]] == [
        "d31ba648-c592-ed11-aad1-000d3a993550",
        "d41ba648-c592-ed11-aad1-000d3a993550",
        "d51ba648-c592-ed11-aad1-000d3a993550",
    ]
    assert all(r.ok for r in results)
    assert results[3].json["value"][0]["@odata.etag"] == 'W/"77180907"'
    assert results[3].json["value"][0]["subject"] == "Task 1 in batch"
    assert first_error(results) is None


@pytest.mark.parametrize("convert", [str.encode, _crlf], ids=["lf", "crlf"])
def test_changeset_response_matches_by_content_id(convert) -> None:  # type: ignore[no-untyped-def]
    answers = parse_batch_response(convert(DOC_CHANGESET), DOC_CHANGESET_TYPE)
    assert len(answers) == 1 and isinstance(answers[0], list)
    # Requests deliberately listed out of order: matching must use Content-ID, not position.
    changeset = [
        BatchRequest("POST", "accounts", {"name": "IcM Account"}, content_id="3", changeset=0),
        BatchRequest("POST", "leads", {"firstname": "first name"}, content_id="1", changeset=0),
        BatchRequest("POST", "contacts", {"firstname": "first name"}, content_id="2", changeset=0),
    ]
    results = match_results([changeset], answers)
    assert [r.entity_id for r in results] == [
        "4f5195a4-7a75-e911-a97a-000d3a34a1bd",
        "425195a4-7a75-e911-a97a-000d3a34a1bd",
        "495195a4-7a75-e911-a97a-000d3a34a1bd",
    ]


def test_headers_without_space_and_bodyless_answers() -> None:
    answers = parse_batch_response(DOC_NOSPACE.encode(), DOC_NOSPACE_TYPE)
    first, second = answers[0]  # type: ignore[misc]
    assert first.headers["odata-entityid"].endswith("(f8ea5d2c-8c75-e911-a97a-000d3a34a1bd)")
    assert second.status == 204 and second.body == b""
    reqs = [
        BatchRequest("POST", "contacts", {"firstname": "First Name"}, content_id="1", changeset=0),
        BatchRequest("PUT", "$1/lastname", {"value": "BBBBB"}, content_id="2", changeset=0),
    ]
    results = match_results([reqs], answers)
    assert results[0].entity_id == "f8ea5d2c-8c75-e911-a97a-000d3a34a1bd"
    assert results[1].ok and results[1].entity_id is None


def test_stop_on_first_error_marks_the_rest_not_run() -> None:
    results = match_results(_tasks(3), parse_batch_response(DOC_ERROR.encode(), DOC_ERROR_TYPE))
    assert results[0].status == 400
    assert isinstance(results[0].error, CrmError)
    assert results[0].error.code == "0x80044331"
    assert "maximum allowed length of '200'" in results[0].error.message
    assert [r.status for r in results[1:]] == [None, None]
    assert all("not run" in r.error.message for r in results[1:] if r.error)
    assert first_error(results) is results[0].error


def test_continue_on_error_keeps_per_request_outcomes() -> None:
    results = match_results(_tasks(3), parse_batch_response(DOC_CONTINUE.encode(), DOC_CONTINUE_TYPE))
    assert [r.status for r in results] == [400, 204, 204]
    assert not results[0].ok and results[1].ok and results[2].ok
    assert results[2].entity_id == "b1d2ae8b-3c94-ed11-aad1-000d3a9933c9"


def test_failed_changeset_reports_culprit_and_rolls_back_the_rest() -> None:
    body = (
        b"--batchresponse_x\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        b"Content-ID: 2\r\n\r\nHTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json\r\n\r\n"
        b'{"error":{"code":"0x80040237","message":"A record with matching key values already exists."}}\r\n'
        b"--batchresponse_x\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"value":[]}\r\n'
        b"--batchresponse_x--\r\n"
    )
    changeset = [
        BatchRequest("POST", "emails", {"subject": "a"}, content_id="1", changeset=0),
        BatchRequest(
            "PATCH", "emails(00000000-0000-0000-0000-0000000000aa)", {}, content_id="2", changeset=0
        ),
    ]
    after = BatchRequest("GET", "emails?$top=1")
    results = match_results(
        [changeset, after], parse_batch_response(body, "multipart/mixed; boundary=batchresponse_x")
    )
    assert isinstance(results[1].error, ConflictError)
    assert results[0].status is None and "rolled back" in results[0].error.message  # type: ignore[union-attr]
    # With continue-on-error the server went on after the failed change set.
    assert results[2].ok and results[2].json == {"value": []}
