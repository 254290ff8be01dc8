"""The ``$batch`` wire format: one multipart body out, one multipart answer back.

Format per "Execute batch operations using the Web API" (MicrosoftDocs/powerapps-docs,
powerapps-docs/developer/data-platform/webapi/execute-batch-operations-using-web-api.md) and
OData 4.0 §11.7: ``multipart/mixed`` parts of ``Content-Type: application/http`` with
``Content-Transfer-Encoding: binary``; change sets are nested ``multipart/mixed`` parts.
The parser accepts CRLF or LF line ends, quoted or bare boundaries and headers with or
without a space after the colon, as all appear in Microsoft's published examples.
Building a batch and matching its answers to its requests is :mod:`addin.crm.batch`.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict

from addin.errors import CrmError

CRLF = b"\r\n"


@dataclass
class BatchRequest:
    """One operation inside a batch, as sent.

    ``url`` is relative to the service root or a ``$n`` reference; ``content_id`` is the
    Content-ID on the wire (unique in the batch); ``changeset`` is the position of the change
    set among the batch's items, None outside change sets.
    """

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None
    changeset: int | None = None

    @property
    def what(self) -> str:
        return f"{self.method} {self.url.split('?', 1)[0]}"


@dataclass
class PartResponse:
    """One ``application/http`` answer inside a batch response."""

    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    content_id: str | None = None


def _json_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _request_bytes(req: BatchRequest, service_root: str) -> bytes:
    url = req.url if req.url.startswith("$") else service_root + req.url
    lines = [f"{req.method} {url} HTTP/1.1".encode()]
    body = _json_body(req.body)
    headers = dict(req.headers)
    if req.body is not None:
        headers.setdefault("Content-Type", "application/json; type=entry")
    for name, value in headers.items():
        _check_header(name, value)
        lines.append(f"{name}: {value}".encode())
    return CRLF.join(lines) + CRLF + CRLF + body


def _check_header(name: str, value: str) -> None:
    if any(c in name + value for c in "\r\n\0"):
        raise ValueError(f"control characters in batch header {name!r}")


def _part(req: BatchRequest, service_root: str) -> bytes:
    head = [b"Content-Type: application/http", b"Content-Transfer-Encoding: binary"]
    if req.content_id is not None:
        head.append(f"Content-ID: {req.content_id}".encode())
    return CRLF.join(head) + CRLF + CRLF + _request_bytes(req, service_root)


def build_batch_body(
    items: Sequence[BatchRequest | Sequence[BatchRequest]],
    service_root: str,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """``(body, content_type)`` for a batch of single requests and change sets (lists)."""
    boundary = boundary or f"batch_{uuid.uuid4()}"
    out: list[bytes] = []
    for item in items:
        out.append(b"--" + boundary.encode() + CRLF)
        if isinstance(item, BatchRequest):
            out.append(_part(item, service_root) + CRLF)
            continue
        cs_boundary = f"changeset_{uuid.uuid4()}"
        out.append(f'Content-Type: multipart/mixed; boundary="{cs_boundary}"'.encode() + CRLF + CRLF)
        for req in item:
            out.append(b"--" + cs_boundary.encode() + CRLF)
            out.append(_part(req, service_root) + CRLF)
        out.append(b"--" + cs_boundary.encode() + b"--" + CRLF)
    out.append(b"--" + boundary.encode() + b"--" + CRLF)
    return b"".join(out), f'multipart/mixed; boundary="{boundary}"'


# -- parsing -------------------------------------------------------------------------------------

_STATUS_LINE = re.compile(rb"^HTTP(?:/\d(?:\.\d)?)?\s+(\d{3})[ \t]*([^\r\n]*)")
_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


def boundary_of(content_type: str | None) -> str | None:
    if not content_type or "multipart/" not in content_type.lower():
        return None
    match = _BOUNDARY.search(content_type)
    if not match:
        return None
    return match.group(1) or match.group(2)


# Any line that starts with "--", with the line break before it; the line break after it is left
# for the next match. One pattern for every boundary: compiling one per change set (each has
# its own boundary) cost several percent of a bulk Track.
_DASH_LINE = re.compile(rb"(?:\A|\r?\n)--([^\r\n]*)")


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts between delimiter lines; the line break before a delimiter belongs to it."""
    plain = boundary.encode()
    closing = plain + b"--"
    found: list[tuple[int, int, bool]] = []  # (start, end after its line break, closing?)
    for match in _DASH_LINE.finditer(body):
        name = match.group(1).rstrip(b" \t")
        if name not in (plain, closing):
            continue
        end = match.end()
        if body.startswith(b"\r\n", end):
            end += 2
        elif body.startswith(b"\n", end):
            end += 1
        found.append((match.start(), end, name == closing))
    if not found:
        raise CrmError("The CRM's batch answer has no parts (boundary not found).")
    parts = []
    for current, following in itertools.pairwise(found):
        if current[2]:
            break
        parts.append(body[current[1] : following[0]])
    return parts


def split_head(part: bytes) -> tuple[CaseInsensitiveDict[str], bytes]:
    """Headers (up to the first empty line) and what follows."""
    match = re.search(rb"\r?\n\r?\n", part)
    if part.startswith((b"\r\n", b"\n")):
        head, rest = b"", part.split(b"\n", 1)[1]
    elif match:
        head, rest = part[: match.start()], part[match.end() :]
    else:
        head, rest = part, b""
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for raw in re.split(rb"\r?\n", head):
        if not raw.strip():
            continue
        name, sep, value = raw.decode("latin-1").partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    return headers, rest


def parse_http_response(payload: bytes, content_id: str | None = None) -> PartResponse:
    payload = payload.lstrip(b"\r\n")
    match = _STATUS_LINE.match(payload)
    if not match:
        raise CrmError("The CRM's batch answer contains a part that is not an HTTP response.")
    after = payload[match.end() :]
    after = after[2:] if after.startswith(CRLF) else after[1:] if after.startswith(b"\n") else after
    headers, body = split_head(after)
    # The final line break belongs to the next delimiter already; trailing blank lines are padding.
    return PartResponse(
        status=int(match.group(1)),
        reason=match.group(2).decode("latin-1").strip(),
        headers=headers,
        body=body.rstrip(b"\r\n"),
        content_id=content_id,
    )


def parse_batch_response(body: bytes, content_type: str) -> list[PartResponse | list[PartResponse]]:
    """Top-level answers in order; a change set's answers come as a nested list."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise CrmError("The CRM's batch answer is not multipart.")
    items: list[PartResponse | list[PartResponse]] = []
    for part in split_multipart(body, boundary):
        headers, rest = split_head(part)
        inner = boundary_of(headers.get("Content-Type"))
        if inner is not None:
            answers = []
            for sub in split_multipart(rest, inner):
                sub_headers, sub_rest = split_head(sub)
                answers.append(parse_http_response(sub_rest, sub_headers.get("Content-ID")))
            items.append(answers)
        else:
            items.append(parse_http_response(rest, headers.get("Content-ID")))
    return items


# -- matching answers to requests ----------------------------------------------------------------
