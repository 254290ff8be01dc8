"""Building $batch requests: the documented shape, the change-set rules checked before
sending, and a parser that reads back whatever layout a server answers with (hypothesis).
The parsing of Microsoft's published answers is in test_crm_batch.py."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addin.crm.batch import MAX_BATCH_REQUESTS, Batch
from addin.crm.batch_wire import (
    BatchRequest,
    PartResponse,
    build_batch_body,
    parse_batch_response,
    split_head,
    split_multipart,
)
from addin.errors import CrmError

ROOT = "https://org.crm.dynamics.com/api/data/v9.2/"


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
