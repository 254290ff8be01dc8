"""``$batch``: multipart/mixed requests with atomic change sets (execute-batch-operations-using-web-api.md).

Requests are parsed and responses built with the stdlib ``email`` package. Rules followed:
- at most 1000 requests; no GET inside a change set;
- a change set is one transaction: the first failure rolls back every part of it;
- ``Content-ID: n`` lets later parts of the same change set use ``$n`` in the URL or in ``@odata.bind``;
- without ``Prefer: odata.continue-on-error`` the batch stops at the first failure and answers with
  that failure's status; with it, the batch answers 200 and carries every part's result.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import re
import uuid
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from urllib.parse import urlsplit

from addin.sandbox.crm import errors as E
from addin.sandbox.crm.errors import ODataError, bad_request
from addin.sandbox.crm.handler import (
    Handler,
    Headers,
    Req,
    Res,
    entity_ref_resolver,
    parse_prefer,
    parse_query,
)
from addin.sandbox.crm.service import parse_entity_ref

MAX_REQUESTS = 1000
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _Rollback(Exception):
    def __init__(self, res: Res) -> None:
        super().__init__(res.status)
        self.res = res


@dataclass
class _Part:
    content_id: str | None
    req: Req


def _parse_http(raw: bytes, base_url: str) -> Req:
    """Parse one ``application/http`` part: request line, headers, blank line, body."""
    text = raw.replace(b"\r\n", b"\n")
    head, _, body = text.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").strip("\n").split("\n")
    method, _, target = lines[0].strip().partition(" ")
    if re.search(r" HTTP/\d(\.\d)?$", target):
        target = target.rsplit(" ", 1)[0]
    if not method or not target:
        raise bad_request(f"Invalid request line in batch part: '{lines[0]}'.")
    method, target = method.upper(), target.strip().replace(" ", "%20")
    headers = Headers()
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip():
            headers[name.strip().lower()] = value.strip()
    url = urlsplit(target)
    path = url.path
    service = re.match(r"^/api/data/v9\.[0-2]/", path)
    if service:
        path = path[service.end() :]
    elif target.startswith(base_url):
        path = urlsplit(target[len(base_url) :]).path
    return Req(method, path.lstrip("/"), parse_query(url.query), headers, body.rstrip(b"\n"), base_url)


def _parts(message: Message) -> list[Message]:
    payload = message.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    text = part.get_payload()
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else b""


# compat32 with CRLF and no header folding: the HTTP wire format of multipart/mixed.
_WIRE = email.policy.compat32.clone(linesep="\r\n", max_line_length=0)


def _format(res: Res, content_id: str | None) -> Message:
    """One ``application/http`` response part."""
    part = Message(policy=_WIRE)
    part["Content-Type"] = "application/http"
    part["Content-Transfer-Encoding"] = "binary"
    if content_id:
        part["Content-ID"] = content_id
    lines = [f"HTTP/1.1 {res.status} {REASONS.get(res.status, 'Unknown')}"]
    headers = list(res.headers)
    entity = next((v for k, v in headers if k == "OData-EntityId"), None)
    if entity and not any(k == "Location" for k, _ in headers):
        headers.insert(len(headers) - 1, ("Location", entity))
    lines += [f"{k}: {v}" for k, v in headers]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + res.body
    # Bytes travel through the email package as surrogate-escaped text (binary transfer encoding).
    part.set_payload(raw.decode("ascii", "surrogateescape"))
    return part


def _multipart(boundary: str, parts: list[Message]) -> Message:
    message = Message(policy=_WIRE)
    message["Content-Type"] = f"multipart/mixed; boundary={boundary}"
    for part in parts:
        message.attach(part)
    return message


def _serialize_body(message: Message) -> bytes:
    """The multipart body without its own header block (that goes into the HTTP headers)."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=_WIRE).flatten(message)
    return buffer.getvalue().split(b"\r\n\r\n", 1)[1]


class BatchRunner:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def run(self, req: Req, content_type: str) -> Res:
        if req.method != "POST":
            raise ODataError(405, "0x80060890", "$batch must be called with POST.")
        if not content_type.lower().startswith("multipart/mixed") or "boundary" not in content_type:
            raise bad_request("The $batch request needs Content-Type multipart/mixed with a boundary.")
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + req.body
        )
        if not message.is_multipart():
            raise bad_request("The $batch body is not a multipart/mixed message.")
        top = _parts(message)
        count = sum(len(_parts(p)) if p.is_multipart() else 1 for p in top)
        if count > MAX_REQUESTS:
            raise bad_request(
                f"The number of requests in a batch ({count}) exceeds the limit of {MAX_REQUESTS}.",
                E.BATCH_LIMIT,
            )
        continue_on_error = "odata.continue-on-error" in parse_prefer(req.headers.get_h("prefer"))
        out: list[Message] = []
        first_error: int | None = None
        for part in top:
            if part.is_multipart():
                ok, chunk, status = self._changeset(part, req)
            else:
                res = self._one(part, req, {})
                ok, status = res.status < 400, res.status
                chunk = _format(res, part.get("Content-ID"))
            out.append(chunk)
            if not ok:
                first_error = first_error or status
                if not continue_on_error:
                    break
        boundary = f"batchresponse_{uuid.uuid4()}"
        status = 200 if continue_on_error or first_error is None else first_error
        headers = [("Content-Type", f"multipart/mixed; boundary={boundary}"), ("OData-Version", "4.0")]
        if continue_on_error:
            headers.append(("Preference-Applied", "odata.continue-on-error"))
        return Res(status, headers, _serialize_body(_multipart(boundary, out)))

    def _inner(self, part: Message, outer: Req) -> Req:
        if part.get_content_type() != "application/http":
            raise bad_request("Each batch part must have Content-Type application/http.")
        return _parse_http(_payload(part), outer.base_url)

    def _one(self, part: Message, outer: Req, content_ids: dict[str, tuple[str, str]]) -> Res:
        try:
            inner = self._inner(part, outer)
            if inner.path.startswith("$"):
                ref_id, _, rest = inner.path[1:].partition("/")
                ref = content_ids.get(ref_id)
                if ref is None:
                    raise bad_request(
                        f"Content-ID Reference: '${ref_id}' does not exist in the batch context."
                    )
                inner.path = f"{ref[0]}({ref[1]})" + (f"/{rest}" if rest else "")
            if inner.path.startswith("$batch"):
                raise bad_request("A batch cannot contain another batch.")
        except ODataError as exc:
            return Res.error(exc)
        return self.handler.execute(inner, entity_ref_resolver(content_ids))

    def _changeset(self, part: Message, outer: Req) -> tuple[bool, Message, int]:
        items = _parts(part)
        content_ids: dict[str, tuple[str, str]] = {}
        results: list[Message] = []
        store = self.handler.store
        try:
            with store.transaction():
                for item in items:
                    cid = item.get("Content-ID")
                    if item.get_content_type() == "application/http":
                        line = _payload(item).lstrip().split(b" ", 1)[0].upper()
                        if line == b"GET":
                            raise _Rollback(
                                Res.error(bad_request("GET requests are not allowed in a change set."))
                            )
                    res = self._one(item, outer, content_ids)
                    if res.status >= 400:
                        raise _Rollback(Res(res.status, res.headers, res.body))
                    entity = next((v for k, v in res.headers if k == "OData-EntityId"), None)
                    if cid and entity:
                        ref = parse_entity_ref(entity)
                        if ref:
                            content_ids[str(cid).strip()] = ref
                    results.append(_format(res, cid))
        except _Rollback as failed:
            # The whole change set is rolled back; its response is the failing request only.
            return False, _format(failed.res, None), failed.res.status
        return True, _multipart(f"changesetresponse_{uuid.uuid4()}", results), 200
