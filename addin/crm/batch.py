"""``$batch`` requests: collect single requests and change sets, send them, match the answers.

Change-set requests carry a ``Content-ID`` that later requests in the same change set
reference as ``$n`` (in the URL or in an ``@odata.bind`` value).  At most 1000 requests per
batch; no GET in a change set.  The multipart format on the wire is
:mod:`addin.crm.batch_wire`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from requests.structures import CaseInsensitiveDict

from addin.crm import records
from addin.crm.batch_wire import BatchRequest, PartResponse, build_batch_body, parse_batch_response
from addin.crm.mapping import entity_id_from_url, error_for
from addin.crm.query import encode_query, query_params
from addin.errors import BridgeError, CrmError

MAX_BATCH_REQUESTS = 1000


@dataclass
class BatchResult:
    """The outcome of one request of a batch; ``status`` is None if it was never run."""

    request: BatchRequest
    status: int | None
    headers: CaseInsensitiveDict[str]
    body: bytes = b""
    error: BridgeError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def content_id(self) -> str | None:
        return self.request.content_id

    @property
    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def entity_id(self) -> str | None:
        """The id of the record created or changed (``OData-EntityId``), if the server said."""
        found = entity_id_from_url(self.headers.get("OData-EntityId") or self.headers.get("Location"))
        if found:
            return found
        data = self.json
        if isinstance(data, dict):
            table = records.TABLES_BY_SET.get(self.request.url.split("(", 1)[0])
            if table and isinstance(data.get(table.primary_id), str):
                return str(data[table.primary_id])
        return None


def first_error(results: Sequence[BatchResult]) -> BridgeError | None:
    for result in results:
        if result.error is not None:
            return result.error
    return None


# -- building ------------------------------------------------------------------------------------


def _result(req: BatchRequest, answer: PartResponse) -> BatchResult:
    error = None
    if not 200 <= answer.status < 300:
        error = error_for(answer.status, answer.body, what=req.what, headers=answer.headers)
    return BatchResult(req, answer.status, answer.headers, answer.body, error)


def _not_run(req: BatchRequest, reason: str) -> BatchResult:
    return BatchResult(req, None, CaseInsensitiveDict(), b"", CrmError(f"{req.what} was not run: {reason}"))


def _failed_changeset(item: Sequence[BatchRequest], answer: PartResponse) -> list[BatchResult]:
    """A failed change set is answered by the failing request alone; the others rolled back.

    When the answer names its Content-ID, that request gets the error and the others a plain
    "rolled back" error; otherwise every request carries an error of the failure's own type,
    so a caller keying on ``ConflictError`` (already exists, changed elsewhere) still sees it.
    """
    culprit = next((r for r in item if answer.content_id and r.content_id == answer.content_id), None)
    if culprit is None and len(item) == 1:
        culprit = item[0]
    failure = error_for(answer.status, answer.body, what="the change set")
    results = []
    for req in item:
        if req is culprit:
            results.append(_result(req, answer))
            continue
        message = f"{req.what} was rolled back: {failure.message}"
        error: BridgeError
        if culprit is None and isinstance(failure, CrmError):
            error = type(failure)(message, status=failure.status, code=failure.code)
        else:
            error = CrmError(message, status=answer.status, code=getattr(failure, "code", None))
        results.append(BatchResult(req, None, CaseInsensitiveDict(), b"", error))
    return results


def match_results(
    items: Sequence[BatchRequest | Sequence[BatchRequest]],
    answers: Sequence[PartResponse | list[PartResponse]],
) -> list[BatchResult]:
    """One result per request, in request order, whatever subset the server answered."""
    results: list[BatchResult] = []
    # Answers come in request order; a batch that stopped at an error simply has fewer of them.
    for index, item in enumerate(items):
        answer = answers[index] if index < len(answers) else None
        if isinstance(item, BatchRequest):
            if isinstance(answer, PartResponse):
                results.append(_result(item, answer))
            else:
                results.append(_not_run(item, "an earlier request in the batch failed"))
            continue
        if isinstance(answer, list):
            by_id = {a.content_id: a for a in answer if a.content_id is not None}
            for position, req in enumerate(item):
                found = by_id.get(req.content_id) if by_id and req.content_id else None
                if found is None and not by_id and position < len(answer):
                    found = answer[position]
                results.append(_result(req, found) if found else _not_run(req, "no answer for it"))
        elif isinstance(answer, PartResponse):
            results.extend(_failed_changeset(item, answer))
        else:
            results.extend(_not_run(req, "an earlier request in the batch failed") for req in item)
    return results


# -- the builder the client hands out ------------------------------------------------------------

Sender = Callable[[bytes, str, bool, bool], tuple[bytes, str]]


class ChangeSet:
    """Operations that succeed or fail together; every request gets a Content-ID."""

    def __init__(self, batch: Batch, index: int) -> None:
        self._batch = batch
        self._index = index
        self.requests: list[BatchRequest] = []
        # Content-IDs are scoped to the change set for callers (``$1`` in every change set is
        # fine) but sent unique within the whole batch, as OData requires: local -> wire.
        self._local: dict[str, str] = {}
        self._wire: set[str] = set()

    def _add(
        self, method: str, url: str, body: Any, headers: Mapping[str, str], content_id: str | None
    ) -> str:
        url = self._resolve(url, in_url=True)
        body = self._rewrite_binds(body)
        if content_id is not None and (str(content_id) in self._local or str(content_id) in self._wire):
            raise ValueError(f"Content-ID {content_id!r} is already used in this change set")
        wire = self._batch._claim_content_id(content_id)
        self._batch._count_one()
        if content_id is not None:
            self._local[str(content_id)] = wire
        self._wire.add(wire)
        self.requests.append(BatchRequest(method, url, body, dict(headers), wire, self._index))
        return f"${wire}"

    def _resolve(self, ref: str, *, in_url: bool) -> str:
        """Map ``$n`` (a Content-ID given in this change set, or a returned ref) to the id on the wire."""
        if not ref.startswith("$"):
            return ref
        name, sep, rest = ref[1:].partition("/")
        if name in self._local:
            return f"${self._local[name]}{sep}{rest}"
        if name in self._wire:
            return ref
        if in_url:
            raise ValueError(f"Content-ID reference ${name} is not declared earlier in this change set")
        return ref

    def _rewrite_binds(self, value: Any, key: str = "") -> Any:
        """Rewrite ``$n`` in ``@odata.bind``/``@odata.id`` values only; other strings are data."""
        if isinstance(value, dict):
            return {k: self._rewrite_binds(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite_binds(v, key) for v in value]
        if isinstance(value, str) and (key.endswith("@odata.bind") or key == "@odata.id"):
            return self._resolve(value, in_url=False)
        return value

    def create(
        self,
        entity_set: str,
        data: Mapping[str, Any],
        *,
        content_id: str | None = None,
        return_representation: bool = False,
    ) -> str:
        """POST; returns the ``$n`` reference to use in later URLs or ``@odata.bind`` values."""
        headers = {"Prefer": "return=representation"} if return_representation else {}
        return self._add("POST", entity_set, dict(data), headers, content_id)

    def update(
        self,
        target: str,
        id: str | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        etag: str | None = "*",
        content_id: str | None = None,
    ) -> str:
        """PATCH ``entity_set(id)`` or a ``$n`` target; ``etag='*'`` (default) never creates."""
        url = target if id is None else records.entity_path(target, id)
        headers = {"If-Match": etag} if etag else {}
        return self._add("PATCH", url, dict(data or {}), headers, content_id)

    def delete(
        self,
        entity_set: str,
        id: str | None = None,
        *,
        etag: str | None = None,
        content_id: str | None = None,
    ) -> str:
        url = entity_set if id is None else records.entity_path(entity_set, id)
        headers = {"If-Match": etag} if etag else {}
        return self._add("DELETE", url, None, headers, content_id)

    def action(
        self, path: str, payload: Mapping[str, Any] | None = None, *, content_id: str | None = None
    ) -> str:
        """POST an action, e.g. ``"$1/Microsoft.Dynamics.CRM.SendEmail"``."""
        return self._add("POST", path, dict(payload or {}), {}, content_id)


class Batch:
    """A ``$batch`` under construction; ``execute()`` sends it once."""

    def __init__(self, sender: Sender, service_root: str) -> None:
        self._sender = sender
        self._service_root = service_root
        self._items: list[BatchRequest | ChangeSet] = []
        self._count = 0
        self._content_ids: set[str] = set()
        self._next_id = 1

    def __len__(self) -> int:
        return self._count

    def _count_one(self) -> None:
        if self._count >= MAX_BATCH_REQUESTS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_REQUESTS} requests")
        self._count += 1

    def _claim_content_id(self, wanted: str | None) -> str:
        """A batch-unique Content-ID: ``wanted`` if still free, else the next free number."""
        if wanted is not None:
            wanted = str(wanted)
            if not wanted or any(c in wanted for c in "\r\n$/ ():;,"):
                raise ValueError(f"Content-ID {wanted!r} is empty or contains reserved characters")
            if wanted not in self._content_ids:
                self._content_ids.add(wanted)
                return wanted
        while str(self._next_id) in self._content_ids:
            self._next_id += 1
        self._content_ids.add(str(self._next_id))
        return str(self._next_id)

    def changeset(self) -> ChangeSet:
        cs = ChangeSet(self, len(self._items))
        self._items.append(cs)
        return cs

    def request(
        self, method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> int:
        """A request outside any change set (not atomic); returns its index in the results."""
        if url.startswith("$"):
            raise ValueError("$n references are only valid inside a change set")
        self._count_one()
        self._items.append(BatchRequest(method.upper(), url, body, dict(headers or {})))
        return self._count - 1

    def get(self, url: str, params: Mapping[str, str] | None = None) -> int:
        return self.request("GET", url + (("?" + encode_query(params)) if params else ""))

    def retrieve(self, entity_set: str, id: str, *, select: Sequence[str] | None = None) -> int:
        return self.get(records.entity_path(entity_set, id), query_params(select=select))

    def query(
        self,
        entity_set: str,
        *,
        select: Sequence[str] | None = None,
        filter: str | None = None,
        orderby: str | None = None,
        expand: str | None = None,
        top: int | None = None,
    ) -> int:
        params = query_params(select=select, filter=filter, orderby=orderby, expand=expand, top=top)
        return self.get(entity_set, params)

    def items(self) -> list[BatchRequest | list[BatchRequest]]:
        out: list[BatchRequest | list[BatchRequest]] = []
        for item in self._items:
            if isinstance(item, ChangeSet):
                if item.requests:
                    out.append(list(item.requests))
            else:
                out.append(item)
        return out

    def build(self, boundary: str | None = None) -> tuple[bytes, str]:
        return build_batch_body(self.items(), self._service_root, boundary)

    def execute(self, continue_on_error: bool = False) -> list[BatchResult]:
        """Send the batch; one ``BatchResult`` per request, in the order they were added."""
        items = self.items()
        if not items:
            return []
        body, content_type = build_batch_body(items, self._service_root)
        only_reads = all(isinstance(i, BatchRequest) and i.method == "GET" for i in items)
        answer, answer_type = self._sender(body, content_type, continue_on_error, only_reads)
        return match_results(items, parse_batch_response(answer, answer_type))
