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

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addin.crm.batch import MAX_BATCH_REQUESTS, Batch, first_error, match_results
from addin.crm.batch_wire import (
    BatchRequest,
    PartResponse,
    build_batch_body,
    parse_batch_response,
    split_head,
    split_multipart,
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


def test_builder_output_has_the_documented_shape() -> None:
    body, content_type = build_batch_body(
        [
            [
                BatchRequest("POST", "tasks", {"subject": "Task 1 in batch"}, content_id="1"),
                BatchRequest("PATCH", "$1", {"subject": "renamed"}, {"If-Match": "*"}, content_id="2"),
            ],
            BatchRequest(
                "GET", "accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks?$select=subject"
            ),
        ],
        ROOT,
        boundary="batch_AAA123",
    )
    assert content_type == 'multipart/mixed; boundary="batch_AAA123"'
    assert b"\n" not in body.replace(b"\r\n", b"")  # CRLF only
    top = split_multipart(body, "batch_AAA123")
    assert len(top) == 2
    cs_headers, cs_rest = split_head(top[0])
    assert cs_headers["Content-Type"].startswith('multipart/mixed; boundary="changeset_')
    boundary = cs_headers["Content-Type"].split('"')[1]
    parts = split_multipart(cs_rest, boundary)
    assert len(parts) == 2
    head, inner = split_head(parts[0])
    assert head["Content-Type"] == "application/http"
    assert head["Content-Transfer-Encoding"] == "binary"
    assert head["Content-ID"] == "1"
    assert inner.startswith(f"POST {ROOT}tasks HTTP/1.1\r\n".encode())
    inner_headers, inner_body = split_head(inner.split(b"\r\n", 1)[1])
    assert inner_headers["Content-Type"] == "application/json; type=entry"
    assert json.loads(inner_body) == {"subject": "Task 1 in batch"}
    _, patch = split_head(parts[1])
    assert patch.startswith(b"PATCH $1 HTTP/1.1\r\nIf-Match: *\r\n")
    get_head, get_inner = split_head(top[1])
    assert "Content-ID" not in get_head
    assert get_inner.startswith(f"GET {ROOT}accounts(".encode())
    assert get_inner.endswith(b"HTTP/1.1\r\n\r\n")
    assert body.endswith(b"--batch_AAA123--\r\n")


def test_builder_parses_the_documented_request_the_same_way() -> None:
    """The documented change-set request, split by our parser, has the parts our builder writes."""
    part = "Content-Type: application/http\nContent-Transfer-Encoding: binary\nContent-ID: {}\n\n"
    doc_request = (
        "--batch_AAA123\nContent-Type: multipart/mixed; boundary=changeset_dd81\n\n"
        "--changeset_dd81\n" + part.format(1) + "POST [Organization URI]/api/data/v9.2/leads HTTP/1.1\n"
        'Content-Type: application/json\n\n{"firstname":"f"}\n\n'
        "--changeset_dd81\n" + part.format(3) + "POST [Organization URI]/api/data/v9.2/accounts HTTP/1.1\n"
        'Content-Type: application/json\n\n{"name":"IcM Account","originatingleadid@odata.bind":"$1"}\n\n'
        "--changeset_dd81--\n--batch_AAA123--\n"
    ).encode()
    ours, _ = build_batch_body(
        [
            [
                BatchRequest("POST", "leads", {"firstname": "f"}, content_id="1"),
                BatchRequest(
                    "POST",
                    "accounts",
                    {"name": "IcM Account", "originatingleadid@odata.bind": "$1"},
                    content_id="3",
                ),
            ]
        ],
        "[Organization URI]/api/data/v9.2/",
        boundary="batch_AAA123",
    )

    def shape(body: bytes) -> list[tuple[str, str, object]]:
        cs_head, cs_rest = split_head(split_multipart(body, "batch_AAA123")[0])
        boundary = cs_head["Content-Type"].split("boundary=")[1].strip('"')
        out = []
        for part in split_multipart(cs_rest, boundary):
            head, inner = split_head(part)
            line, rest = inner.replace(b"\r\n", b"\n").split(b"\n", 1)
            _, payload = split_head(rest)
            out.append((head["Content-ID"], line.decode(), json.loads(payload)))
        return out

    assert shape(ours) == shape(doc_request)


def test_change_set_rules_are_enforced_client_side() -> None:
    batch = Batch(lambda *a: (b"", ""), ROOT)
    cs = batch.changeset()
    ref = cs.create("emails", {"subject": "x"})
    assert ref == "$1"
    assert cs.update(ref, None, {"statuscode": 4}) == "$2"
    with pytest.raises(ValueError, match="not declared"):
        cs.update("$9", None, {})
    with pytest.raises(ValueError, match="already used"):
        cs.create("emails", {}, content_id="1")
    with pytest.raises(ValueError, match="change set"):
        batch.request("PATCH", "$1", {})
    with pytest.raises(ValueError, match="reserved"):
        cs.create("emails", {}, content_id="a b")
    other = batch.changeset()
    # References are scoped to their own change set.
    with pytest.raises(ValueError, match="not declared"):
        other.update("$1", None, {})


def test_content_ids_are_per_change_set_for_callers_and_unique_on_the_wire() -> None:
    """Every change set may call its e-mail "1"; the batch renames on the wire and keeps refs right."""
    batch = Batch(lambda *a: (b"", ""), ROOT)
    for n in range(3):
        cs = batch.changeset()
        ref = cs.create("emails", {"subject": f"m{n}"}, content_id="1")
        assert ref == "$1" if n == 0 else ref != "$1"
        cs.create(
            "activitymimeattachments",
            {"objectid_email@odata.bind": "$1", "subject": "$1 stays data", "filename": "a.txt"},
        )
        cs.update("$1", None, {"statuscode": 4})
    items = batch.items()
    for cs in items:
        email_id = cs[0].content_id
        assert cs[1].body["objectid_email@odata.bind"] == f"${email_id}"
        assert cs[1].body["subject"] == "$1 stays data"
        assert cs[2].url == f"${email_id}"
    ids = [r.content_id for cs in items for r in cs]
    assert len(ids) == len(set(ids)) == 9
    body, _ = batch.build()
    assert body.count(b"Content-ID: ") == 9


def test_batch_over_1000_requests_is_rejected_before_sending() -> None:
    sent: list[bytes] = []
    batch = Batch(lambda body, *a: sent.append(body) or (b"", ""), ROOT)  # type: ignore[func-returns-value]
    cs = batch.changeset()
    for i in range(MAX_BATCH_REQUESTS):
        cs.create("emails", {"subject": str(i)})
    assert len(batch) == MAX_BATCH_REQUESTS
    with pytest.raises(ValueError, match="at most 1000"):
        batch.get("WhoAmI")
    assert sent == []


def test_header_injection_in_batch_part_is_refused() -> None:
    with pytest.raises(ValueError, match="control characters"):
        build_batch_body([BatchRequest("PATCH", "emails", {}, {"If-Match": 'W/"1"\r\nX-Evil: 1'})], ROOT)


def test_garbage_answers_raise_crm_error() -> None:
    with pytest.raises(CrmError):
        parse_batch_response(b"<html>proxy error</html>", "text/html")
    with pytest.raises(CrmError):
        parse_batch_response(b"no delimiters here", "multipart/mixed; boundary=b")
    with pytest.raises(CrmError):
        parse_batch_response(b"--b\r\n\r\nnot http\r\n--b--\r\n", "multipart/mixed; boundary=b")


def test_built_body_reads_back_with_the_stdlib_mime_parser() -> None:
    """An independent reader (email.parser, as OData servers in Python use) sees the same parts."""
    import email.parser
    import email.policy

    body, content_type = build_batch_body(
        [
            [
                BatchRequest(
                    "POST", "emails", {"subject": "Ünïcode — ok", "x": "--batch_1 inside"}, content_id="1"
                ),
                BatchRequest("PATCH", "$1", {"statuscode": 4}, {"If-Match": "*"}, content_id="2"),
            ],
            BatchRequest("GET", "WhoAmI"),
        ],
        ROOT,
    )
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    top = message.get_payload()
    assert isinstance(top, list) and len(top) == 2
    changeset = top[0].get_payload()
    assert [p["Content-ID"] for p in changeset] == ["1", "2"]
    first = changeset[0].get_payload(decode=True)
    head, _, payload = first.replace(b"\r\n", b"\n").partition(b"\n\n")
    assert head.startswith(f"POST {ROOT}emails HTTP/1.1".encode())
    assert json.loads(payload) == {"subject": "Ünïcode — ok", "x": "--batch_1 inside"}
    assert top[1].get_payload(decode=True).startswith(f"GET {ROOT}WhoAmI HTTP/1.1".encode())


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    layout=st.lists(
        st.one_of(
            st.tuples(st.integers(200, 599), _json_values),
            st.lists(st.tuples(st.integers(200, 599), _json_values), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=6,
    ),
    crlf=st.booleans(),
)
def test_parser_round_trips_any_answer_layout(layout, crlf: bool) -> None:  # type: ignore[no-untyped-def]
    nl = "\r\n" if crlf else "\n"

    def http(status: int, value: object, cid: str | None) -> str:
        head = f"Content-Type: application/http{nl}Content-Transfer-Encoding: binary{nl}"
        if cid:
            head += f"Content-ID: {cid}{nl}"
        payload = json.dumps(value)
        return f"{head}{nl}HTTP/1.1 {status} Whatever{nl}Content-Type: application/json{nl}{nl}{payload}{nl}"

    out = ""
    for index, item in enumerate(layout):
        out += f"--batchresponse_r{nl}"
        if isinstance(item, tuple):
            out += http(item[0], item[1], None)
        else:
            out += f"Content-Type: multipart/mixed; boundary=changesetresponse_{index}{nl}{nl}"
            for number, (status, value) in enumerate(item, 1):
                out += f"--changesetresponse_{index}{nl}" + http(status, value, str(number))
            out += f"--changesetresponse_{index}--{nl}"
    out += f"--batchresponse_r--{nl}"
    answers = parse_batch_response(out.encode(), "multipart/mixed; boundary=batchresponse_r")
    assert len(answers) == len(layout)
    for item, answer in zip(layout, answers, strict=True):
        pairs = [item] if isinstance(item, tuple) else item
        got = [answer] if isinstance(answer, PartResponse) else answer
        assert [(a.status, json.loads(a.body)) for a in got] == [(s, v) for s, v in pairs]
