"""The Dataverse Web API's HTTP layer: sessions, credentials, retries, error answers.

Every request goes through :meth:`Transport._send`, which adds the OData headers and
credentials, retries what is safe to retry (see ``addin.crm.retry``) and converts transport
failures; :meth:`Transport._check` turns error answers into the typed errors of
``addin.errors``.  No message built here contains a credential: they name the method, the
record path (without the query) and the server's error text.

Threads: ``requests.Session`` is not documented as thread-safe, and NTLM authenticates a
connection, not a request.  The engine thread, the watcher and the UI's worker pool all use
the one client of a profile, so each thread gets a session of its own (``threading.local``),
built by the same factory and prepared by the same ``CrmAuth``; ``close()`` closes them all.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from addin.connection_errors import never_sent
from addin.crm.auth import CrmAuth
from addin.crm.mapping import error_for, parse_error_body
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
_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "User-Agent": USER_AGENT,
}


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


class Transport:
    """HTTP to one Dataverse organisation's Web API; safe to share between threads."""

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
        session_factory: Callable[[], requests.Session] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.service_root = service_root(base_url)
        parts = urlsplit(self.service_root)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._loopback = _is_loopback(parts.hostname)
        if parts.scheme == "http" and not self._loopback and auth.sends_bearer_token:
            raise ConfigError("A sign-in token is only sent over https (plain http is for a local sandbox).")
        self._auth = auth
        self._timeout = (min(10.0, timeout), timeout)
        self._policy = retry_policy or RetryPolicy(
            max_retries=max_retries, max_wait=max_wait, sleep=sleep, clock=clock
        )
        self._session_factory = session_factory or requests.Session
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        # The constructing thread's session now: a missing NTLM password shows at once.
        self._session()

    def _session(self) -> requests.Session:
        """This thread's session (made on its first request)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            if self._loopback:
                # No proxy or .netrc from the environment for a local sandbox.
                session.trust_env = False
            session.headers.update(_HEADERS)
            self._auth.prepare(session)
            with self._sessions_lock:
                self._sessions.append(session)
            self._local.session = session
        return session

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        self._local = threading.local()
        for session in sessions:
            session.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------------
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
                response = self._session().request(
                    method, url, data=body, headers=all_headers, timeout=self._timeout, allow_redirects=False
                )
            except requests.exceptions.SSLError as exc:
                raise CrmError(
                    f"The secure connection to {urlsplit(url).netloc} failed (certificate not trusted?).",
                    title="Secure connection failed",
                ) from exc
            except requests.RequestException as exc:
                if never_sent(exc):
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
