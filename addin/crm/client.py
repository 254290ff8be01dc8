"""``DataverseClient``: the Dataverse Web API over one ``requests.Session``.

Every call goes through ``_send``, which adds the OData headers and credentials, retries what is
safe to retry (see ``addin.crm.retry``) and converts transport failures; ``_check`` turns error
answers into the typed errors of ``addin.errors``.  No message built here contains a credential:
they name the method, the record path (without the query) and the server's error text.

One client is meant for one worker thread at a time (``requests.Session`` is not documented as
thread-safe); create one per thread if several threads talk to the CRM.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from addin.crm import records
from addin.crm.auth import CrmAuth
from addin.crm.batch import Batch
from addin.crm.mapping import entity_id_from_url, error_for, parse_error_body
from addin.crm.query import encode_query, query_params
from addin.crm.retry import (
    RETRY_ANY_STATUS,
    RETRY_IDEMPOTENT_STATUS,
    THROTTLE_CODES,
    RetryPolicy,
    is_idempotent,
    parse_retry_after,
)
from addin.errors import ConfigError, CrmError, OfflineError, ThrottledError, UnknownOutcomeError

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2/"
USER_AGENT = "crm-bridge/0.1"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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


def service_root(base_url: str) -> str:
    """``https://org.crm.dynamics.com`` -> ``https://org.crm.dynamics.com/api/data/v9.2/``."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"The CRM address {base_url!r} is not an http(s) URL.")
    if parts.username or parts.password:
        raise ConfigError("The CRM address must not contain a user name or password.")
    if parts.query or parts.fragment:
        raise ConfigError("The CRM address must not contain a query or fragment.")
    path = parts.path.rstrip("/")
    if "/api/data/" not in path + "/":
        path = path + API_PATH.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}/"


def _is_loopback(host: str | None) -> bool:
    return bool(host) and (host in _LOOPBACK or str(host).startswith("127."))


class DataverseClient:
    """Typed access to one Dataverse organisation's Web API."""

    def __init__(
        self,
        base_url: str,
        auth: CrmAuth,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.service_root = service_root(base_url)
        parts = urlsplit(self.service_root)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        loopback = _is_loopback(parts.hostname)
        if parts.scheme == "http" and not loopback and auth.sends_bearer_token:
            raise ConfigError("A sign-in token is only sent over https (plain http is for a local sandbox).")
        self._auth = auth
        self._timeout = (min(10.0, timeout), timeout)
        self._policy = retry_policy or RetryPolicy(
            max_retries=max_retries, max_wait=max_wait, sleep=sleep, clock=clock
        )
        self._session = session or requests.Session()
        if loopback:
            # No proxy or .netrc from the environment for a local sandbox.
            self._session.trust_env = False
        self._session.headers.update(
            {
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
                "User-Agent": USER_AGENT,
            }
        )
        auth.prepare(self._session)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DataverseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            if not path.startswith(self._origin + "/"):
                raise CrmError("The CRM returned a link to another server; it was not followed.")
            return path
        return self.service_root + path.lstrip("/")

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> tuple[requests.Response, bool]:
        """Send with retries; returns the response and whether an earlier attempt's outcome is unknown."""
        url = self._url(path)
        what = f"{method} {urlsplit(url).path.removeprefix(urlsplit(self.service_root).path)}"
        req_headers = dict(headers or {})
        if not any(k.lower() in ("if-match", "if-none-match") for k in req_headers):
            req_headers["If-None-Match"] = "null"  # documented default: never a cached answer
        idem = is_idempotent(method, req_headers) if idempotent is None else idempotent
        budget = self._policy.start()
        ambiguous = False
        refreshed = False
        while True:
            started = time.monotonic()
            try:
                all_headers = {**req_headers, **self._auth.headers()}
                response = self._session.request(
                    method, url, data=body, headers=all_headers, timeout=self._timeout, allow_redirects=False
                )
            except requests.exceptions.SSLError as exc:
                raise CrmError(
                    f"The secure connection to {urlsplit(url).netloc} failed (certificate not trusted?).",
                    title="Secure connection failed",
                ) from exc
            except requests.RequestException as exc:
                if _sent_nothing(exc):
                    delay = budget.delay_for(None)
                    if delay is None:
                        raise OfflineError(
                            f"Cannot reach the CRM at {urlsplit(url).netloc} ({what})."
                        ) from exc
                    log.info("CRM unreachable for %s; retrying in %.1f s", what, delay)
                    budget.wait(delay)
                    continue
                if idem:
                    delay = budget.delay_for(None)
                    if delay is not None:
                        log.info("answer to %s lost; repeating the idempotent request", what)
                        ambiguous = ambiguous or method not in ("GET", "HEAD")
                        budget.wait(delay)
                        continue
                raise UnknownOutcomeError(
                    f"The connection to the CRM was lost after sending {what}; it may or may not have "
                    "taken effect."
                ) from exc
            status = response.status_code
            log.debug("%s -> %s (%.0f ms)", what, status, (time.monotonic() - started) * 1000)
            if status == 401 and not refreshed and self._auth.refresh():
                refreshed = True
                continue
            code = parse_error_body(response.content)[0] if status >= 400 else None
            if status in RETRY_ANY_STATUS or (code is not None and code.lower() in THROTTLE_CODES):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                delay = budget.delay_for(retry_after)
                if delay is None:
                    error = error_for(status, response.content, what=what, retry_after=retry_after)
                    if not isinstance(error, ThrottledError):
                        error = ThrottledError(error.message, retry_after=retry_after)
                    raise error
                log.info("CRM busy (%s) for %s; retrying in %.1f s", status, what, delay)
                budget.wait(delay)
                continue
            if status in RETRY_IDEMPOTENT_STATUS:
                if idem:
                    delay = budget.delay_for(parse_retry_after(response.headers.get("Retry-After")))
                    if delay is not None:
                        ambiguous = ambiguous or (status != 500 and method not in ("GET", "HEAD"))
                        budget.wait(delay)
                        continue
                elif status != 500:
                    # A gateway error: the CRM behind it may have finished the request.
                    raise UnknownOutcomeError(
                        f"The CRM gateway answered HTTP {status} to {what}; "
                        "it may or may not have taken effect."
                    )
            return response, ambiguous

    def _check(self, response: requests.Response, ambiguous: bool, *, ok: Sequence[int] = ()) -> None:
        status = response.status_code
        if 200 <= status < 300 or status in ok:
            return
        what = f"{response.request.method} {urlsplit(response.url).path.split('/')[-1]}"
        if ambiguous and status in (404, 412):
            # Our own earlier attempt, whose answer was lost, may be what changed the record.
            raise UnknownOutcomeError(
                f"{what}: the first attempt's answer was lost and the repeat got HTTP {status}; "
                "the change may already have been applied."
            )
        raise error_for(
            status,
            response.content,
            what=what,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _json(self, response: requests.Response) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise CrmError(
                f"The CRM sent an answer that is not JSON (HTTP {response.status_code})."
            ) from None

    def _request_json(
        self, method: str, path: str, data: Any = None, headers: Mapping[str, str] | None = None
    ) -> tuple[requests.Response, bool]:
        body = None
        all_headers = dict(headers or {})
        if data is not None:
            body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            all_headers["Content-Type"] = "application/json; charset=utf-8"
        return self._send(method, path, body=body, headers=all_headers)

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

    def create_if_absent(self, entity_set: str, id: str, data: Mapping[str, Any]) -> bool:
        """Create with a chosen id unless it exists (``If-None-Match: *``); False if it existed.

        Safe to repeat after a lost answer: a repeat after a lost answer that finds the record
        raises ``UnknownOutcomeError`` (it may be this call's own record) instead of returning False.
        """
        path = records.entity_path(entity_set, id)
        response, ambiguous = self._request_json("PATCH", path, dict(data), {"If-None-Match": "*"})
        if response.status_code == 412 and not ambiguous:
            return False
        self._check(response, ambiguous)
        return True

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


def _sent_nothing(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (DNS, refused, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.InvalidURL):
        return True
    if isinstance(exc, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason: BaseException | None = (
            exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        )
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        if isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
            return True
        if isinstance(reason, urllib3.exceptions.ProtocolError):
            return False
        if isinstance(reason, http.client.RemoteDisconnected | ConnectionResetError):
            return False
    return False
