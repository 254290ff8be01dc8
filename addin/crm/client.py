"""``DataverseClient``: typed access to the Dataverse Web API (records, queries, actions, ``$batch``).

The HTTP underneath — sessions (one per thread), credentials, retries, error answers — is
:class:`addin.crm.transport.Transport`; one client may be shared by the engine thread, the
watcher and the UI's worker pool.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from addin.crm import records
from addin.crm.batch import Batch
from addin.crm.mapping import entity_id_from_url, error_for
from addin.crm.query import encode_query, query_params
from addin.crm.transport import API_PATH, USER_AGENT, Transport, service_root
from addin.errors import CrmError

__all__ = ["API_PATH", "USER_AGENT", "DataverseClient", "Page", "WhoAmI", "service_root"]


@dataclass(frozen=True)
class WhoAmI:
    user_id: str
    business_unit_id: str
    organization_id: str


@dataclass
class Page:
    """One page of a query: the rows, the link to the next page, and ``$count`` if asked."""

    records: list[dict[str, Any]]
    next_link: str | None
    count: int | None = None


class DataverseClient(Transport):
    """Typed access to one Dataverse organisation's Web API; thread-safe."""

    def __enter__(self) -> DataverseClient:
        return self

    # -- reading ---------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, str] | None = None, *, prefer: str | None = None) -> Any:
        """GET any Web API path (relative to the service root); returns the JSON body."""
        url = path + ("?" + encode_query(params) if params else "")
        response, ambiguous = self._send("GET", url, headers={"Prefer": prefer} if prefer else None)
        self._check(response, ambiguous)
        return self._json(response)

    def whoami(self) -> WhoAmI:
        data = self.get("WhoAmI")
        try:
            return WhoAmI(str(data["UserId"]), str(data["BusinessUnitId"]), str(data["OrganizationId"]))
        except (KeyError, TypeError):
            raise CrmError("The CRM's WhoAmI answer is missing fields.") from None

    def retrieve(
        self,
        entity_set: str,
        id: str,
        *,
        select: Sequence[str] | None = None,
        expand: str | None = None,
        annotations: bool = False,
    ) -> dict[str, Any]:
        """One record (with ``@odata.etag``); ``NotFoundError`` if it does not exist."""
        params = query_params(select=select, expand=expand)
        prefer = 'odata.include-annotations="*"' if annotations else None
        data = self.get(records.entity_path(entity_set, id), params or None, prefer=prefer)
        if not isinstance(data, dict):
            raise CrmError("The CRM's answer for a record is not an object.")
        return data

    def query_page(
        self,
        entity_set: str,
        *,
        select: Sequence[str] | None = None,
        filter: str | None = None,
        orderby: str | None = None,
        expand: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
        count: bool = False,
        annotations: bool = False,
        next_link: str | None = None,
    ) -> Page:
        """One page; pass the previous ``Page.next_link`` (and the same page_size) for the next."""
        if top is not None and page_size is not None:
            raise ValueError("top and page_size cannot be combined (the Web API ignores $top then)")
        prefer = []
        if page_size is not None:
            if not 1 <= page_size <= 5000:
                raise ValueError("page_size must be between 1 and 5000")
            prefer.append(f"odata.maxpagesize={page_size}")
        if annotations:
            prefer.append('odata.include-annotations="*"')
        if next_link:
            path = next_link
        else:
            params = query_params(
                select=select, filter=filter, orderby=orderby, expand=expand, top=top, count=count
            )
            path = entity_set + ("?" + encode_query(params) if params else "")
        data = self.get(path, prefer=", ".join(prefer) or None)
        if not isinstance(data, dict) or not isinstance(data.get("value"), list):
            raise CrmError("The CRM's answer to a query has no 'value' list.")
        total = data.get("@odata.count")
        return Page(
            records=[r for r in data["value"] if isinstance(r, dict)],
            next_link=data.get("@odata.nextLink"),
            count=int(total) if isinstance(total, int) else None,
        )

    def query(
        self,
        entity_set: str,
        *,
        select: Sequence[str] | None = None,
        filter: str | None = None,
        orderby: str | None = None,
        expand: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
        count: bool = False,
        annotations: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every matching row, following ``@odata.nextLink`` page by page (lazily)."""
        page = self.query_page(
            entity_set,
            select=select,
            filter=filter,
            orderby=orderby,
            expand=expand,
            top=top,
            page_size=page_size,
            count=count,
            annotations=annotations,
        )
        while True:
            yield from page.records
            if not page.next_link:
                return
            page = self.query_page(
                entity_set, page_size=page_size, annotations=annotations, next_link=page.next_link
            )

    # -- writing ---------------------------------------------------------------------------------
    def create(
        self,
        entity_set: str,
        data: Mapping[str, Any],
        *,
        return_representation: bool = False,
        select: Sequence[str] | None = None,
    ) -> str | dict[str, Any]:
        """POST a record; its id, or the created record with ``return_representation``."""
        headers = {"Prefer": "return=representation"} if return_representation else {}
        path = entity_set
        if select and return_representation:
            path += "?" + encode_query({"$select": ",".join(select)})
        response, ambiguous = self._request_json("POST", path, dict(data), headers)
        self._check(response, ambiguous)
        if return_representation:
            created = self._json(response)
            if not isinstance(created, dict):
                raise CrmError("The CRM did not return the created record.")
            return created
        new_id = entity_id_from_url(
            response.headers.get("OData-EntityId") or response.headers.get("Location")
        )
        if new_id is None:
            raise CrmError(f"The CRM created a record in {entity_set} but did not say its id.")
        return new_id

    def upsert(self, entity_set: str, id: str, data: Mapping[str, Any]) -> None:
        """PATCH without preconditions: creates the record or updates it."""
        response, ambiguous = self._request_json("PATCH", records.entity_path(entity_set, id), dict(data))
        self._check(response, ambiguous)

    def update(
        self,
        entity_set: str,
        id: str,
        data: Mapping[str, Any],
        *,
        etag: str | None = "*",
        return_representation: bool = False,
    ) -> dict[str, Any] | None:
        """PATCH an existing record.

        ``etag="*"`` (default) only updates an existing record (``NotFoundError`` otherwise); a
        real ETag updates only that version (``ConflictError`` on 412); ``None`` is an upsert.
        """
        headers = {"If-Match": etag} if etag else {}
        if return_representation:
            headers["Prefer"] = "return=representation"
        response, ambiguous = self._request_json(
            "PATCH", records.entity_path(entity_set, id), dict(data), headers
        )
        self._check(response, ambiguous)
        if return_representation:
            result = self._json(response)
            return result if isinstance(result, dict) else None
        return None

    def delete(self, entity_set: str, id: str, *, etag: str | None = None) -> None:
        headers = {"If-Match": etag} if etag else None
        response, ambiguous = self._send("DELETE", records.entity_path(entity_set, id), headers=headers)
        self._check(response, ambiguous)

    # -- messages --------------------------------------------------------------------------------
    def call_action(
        self, name: str, payload: Mapping[str, Any] | None = None, *, bound: str | None = None
    ) -> Any:
        """POST an action: unbound (``"GetTrackingTokenEmail"``) or bound (``bound="emails(<id>)"``)."""
        path = f"{bound}/Microsoft.Dynamics.CRM.{name}" if bound else name
        response, ambiguous = self._request_json("POST", path, dict(payload or {}))
        self._check(response, ambiguous)
        return self._json(response)

    def call_function(
        self, name: str, params: Mapping[str, object] | None = None, *, bound: str | None = None
    ) -> Any:
        """GET a function with parameter aliases: ``Name(A=@p1)?@p1=<literal>``."""
        aliases = {f"@p{i}": records.odata_literal(v) for i, v in enumerate((params or {}).values(), 1)}
        inner = ",".join(f"{k}=@p{i}" for i, k in enumerate((params or {}).keys(), 1))
        path = f"{bound}/Microsoft.Dynamics.CRM.{name}" if bound else name
        return self.get(f"{path}({inner})", aliases or None)

    # -- $batch ----------------------------------------------------------------------------------
    def batch(self) -> Batch:
        return Batch(self._send_batch, self.service_root)

    def _send_batch(
        self, body: bytes, content_type: str, continue_on_error: bool, only_reads: bool
    ) -> tuple[bytes, str]:
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        response, _ = self._send("POST", "$batch", body=body, headers=headers, idempotent=only_reads)
        answer_type = response.headers.get("Content-Type", "")
        if "multipart/" in answer_type.lower():
            return response.content, answer_type
        if 200 <= response.status_code < 300:
            raise CrmError("The CRM's batch answer is not multipart.")
        raise error_for(response.status_code, response.content, what="POST $batch")
