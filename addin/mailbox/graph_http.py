"""The Graph backend's HTTP layer: bearer token, retries, throttling, JSON ``$batch``, errors.

Rules (learn.microsoft.com/graph/throttling, /throttling-limits, /json-batching):

* 429, 503 and 504 are retried after ``Retry-After`` seconds (else an exponential default),
  each wait capped like the EWS back-off (``DEFAULT_MAX_WAIT``); a server asking for longer,
  or more than ``DEFAULT_MAX_RETRIES`` busy answers in a row, becomes a ThrottledError.
  A 504 on a request that is not safe to repeat (creating a draft) is not retried: its
  outcome is unknown, and the caller reconciles.
* At most 4 requests in flight per mailbox (Outlook's concurrency limit); a ``$batch``
  counts as one request per part, up to 4, because Graph runs its parts against the
  mailbox up to 4 at a time.
* A ``$batch`` carries at most 20 parts; longer lists go out as several batches.  Parts
  answered 429/503/504 are sent again in the next batch after the longest Retry-After.
* 401: the token source is asked once more (MSAL refreshes silently) and the request is
  repeated once; a second 401 is an AuthError, which the bridge shows as "Sign-in needed".
* Every requests/HTTP failure leaves this module as an :mod:`addin.errors` type with the
  server's own error code and message, never a token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from addin.connection_errors import never_sent
from addin.errors import (
    AuthError,
    BridgeError,
    MailboxError,
    MessageError,
    OfflineError,
    ThrottledError,
    UnknownOutcomeError,
)
from addin.mailbox.ews_errors import DEFAULT_MAX_RETRIES, DEFAULT_MAX_WAIT
from addin.mailbox.graph_errors import RETRY_STATUSES, SyncStateGone, convert_status, error_text, retry_after
from addin.mailbox.graph_limits import MAX_CONCURRENT, SendRate, Slots
from addin.mailbox.types import SecretSource

__all__ = ["SyncStateGone"]

log = logging.getLogger(__name__)

BATCH_LIMIT = 20  # parts per $batch (json-batching.md)
IMMUTABLE_IDS = 'IdType="ImmutableId"'


@dataclass(frozen=True)
class Part:
    """One request of a ``$batch``; ``url`` is relative to the version root (``/me/...``)."""

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def chunks(parts: Sequence[Part], size: int = BATCH_LIMIT) -> list[list[Part]]:
    return [list(parts[i : i + size]) for i in range(0, len(parts), size)]


def with_prefer(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Headers with ``IdType="ImmutableId"`` added to any other preference (one Prefer header).

    Batch parts do not inherit the envelope's headers, so every part carries it too."""
    out = dict(headers or {})
    other = [v for k, v in out.items() if k.lower() == "prefer"]
    for key in [k for k in out if k.lower() == "prefer"]:
        del out[key]
    out["Prefer"] = ", ".join([IMMUTABLE_IDS, *other])
    return out


def batch_body(parts: Sequence[Part]) -> dict[str, Any]:
    """The ``$batch`` JSON for up to 20 parts; part ids are their positions ("0", "1", ...)."""
    if len(parts) > BATCH_LIMIT:
        raise ValueError(f"a $batch holds at most {BATCH_LIMIT} requests")
    requests_: list[dict[str, Any]] = []
    for n, part in enumerate(parts):
        entry: dict[str, Any] = {"id": str(n), "method": part.method, "url": part.url}
        headers = with_prefer(part.headers)
        if part.body is not None:
            entry["body"] = part.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            entry["headers"] = headers
        requests_.append(entry)
    return {"requests": requests_}


class GraphClient:
    """HTTP to one mailbox's Graph endpoint; thread-safe.

    ``requests.Session`` is not documented as thread-safe, and the engine thread, the Graph
    watch and the UI's workers share one client: each thread gets its own session
    (``threading.local``); the token and the request slots are shared under their locks.
    """

    def __init__(
        self,
        base_url: str,
        secret: SecretSource,
        *,
        timeout: float = 30.0,
        verify: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_wait: float = DEFAULT_MAX_WAIT,
        session_factory: Callable[[], requests.Session] = requests.Session,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.server = urlsplit(self.base_url).netloc or self.base_url
        self._secret = secret
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self.timeout = timeout
        self.sleep = sleep
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._verify = verify
        self._session_factory = session_factory
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self.slots = Slots(MAX_CONCURRENT)
        self.sends = SendRate(sleep)
        self.requests_sent = 0  # HTTP requests (a $batch is one), for benchmarks and tests
        self.batch_supported = True

    def _session(self) -> requests.Session:
        """This thread's session (made on its first request)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            session.verify = self._verify
            with self._sessions_lock:
                self._sessions.append(session)
            self._local.session = session
        return session

    # -- token ---------------------------------------------------------------------------

    def _bearer(self, *, fresh: bool = False) -> str:
        with self._token_lock:
            if self._token is None or fresh:
                try:
                    value = self._secret()
                except AuthError:
                    raise
                except Exception as exc:  # the keyring or the sign-in layer failed
                    raise AuthError(
                        f"The mailbox sign-in token is not available ({type(exc).__name__}).",
                        service="mailbox",
                    ) from None
                if not value:
                    raise AuthError("No Microsoft sign-in is stored for the mailbox.", service="mailbox")
                self._token = value
            return self._token

    # -- single requests -------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def relative(self, url: str) -> str:
        """A link Graph handed out (nextLink/deltaLink) as a batch part url (``/me/...``)."""
        if url.startswith(self.base_url):
            return url[len(self.base_url) :] or "/"
        parts = urlsplit(url)
        path = parts.path
        marker = "/v1.0"
        if marker in path:
            path = path[path.index(marker) + len(marker) :]
        return path + (f"?{parts.query}" if parts.query else "")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        safe_to_repeat: bool = True,
        unknown_outcome: bool = False,
        authorize: bool = True,
        slots: int = 1,
        what: str = "",
    ) -> requests.Response:
        """One HTTP request with the retry rules above; returns only a 2xx response."""
        busy = 0
        refreshed = False
        while True:
            sent_headers = with_prefer(headers)
            if authorize:
                sent_headers["Authorization"] = f"Bearer {self._bearer()}"
            held = self.slots.acquire(slots)
            try:
                with self._sessions_lock:
                    self.requests_sent += 1
                response = self._session().request(
                    method,
                    self.url(path),
                    params=params,
                    json=json,
                    data=data,
                    headers=sent_headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                raise self._transport_error(exc, unknown_outcome=unknown_outcome) from None
            finally:
                self.slots.release(held)
            if response.status_code < 300:
                return response
            body = _json_or_none(response)
            if response.status_code == 401 and authorize and not refreshed:
                refreshed = True
                self._bearer(fresh=True)
                continue
            if response.status_code in RETRY_STATUSES and (safe_to_repeat or response.status_code != 504):
                busy += 1
                wait = retry_after(response.headers, busy)
                if busy <= self.max_retries and wait <= self.max_wait:
                    log.info("Graph busy (HTTP %d); retrying in %.2f s", response.status_code, wait)
                    self.sleep(wait)
                    continue
                code, message = error_text(body)
                raise ThrottledError(
                    f"The mail server {self.server} is busy; try again later."
                    + (f" ({code}: {message})" if code else ""),
                    retry_after=wait,
                )
            if response.status_code == 504 and unknown_outcome:
                raise UnknownOutcomeError(
                    f"{self.server} timed out while handling the request; "
                    "it may or may not have taken effect."
                )
            raise convert_status(response.status_code, body, server=self.server, what=what)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise MailboxError(
                f"The mail server {self.server} answered with something that is not JSON."
            ) from None

    def _transport_error(self, exc: requests.RequestException, *, unknown_outcome: bool) -> BridgeError:
        if unknown_outcome and not never_sent(exc):
            return UnknownOutcomeError(
                f"The connection to {self.server} broke during the request; "
                "it may or may not have taken effect."
            )
        if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return OfflineError(f"Cannot reach the mail server {self.server}.")
        return OfflineError(f"Cannot reach the mail server {self.server} ({type(exc).__name__}).")

    # -- $batch -----------------------------------------------------------------------------

    def batch(self, parts: Sequence[Part], *, unknown_outcome: bool = False) -> list[Answer]:
        """Answers in the order of ``parts``; throttled parts are repeated, others returned as is."""
        answers: dict[int, Answer] = {}
        pending = list(range(len(parts)))
        busy = 0
        while pending:
            retry: list[int] = []
            longest = 0.0
            for positions in [pending[i : i + BATCH_LIMIT] for i in range(0, len(pending), BATCH_LIMIT)]:
                got = self._one_batch([parts[i] for i in positions], unknown_outcome=unknown_outcome)
                for position, answer in zip(positions, got, strict=True):
                    if answer.status in RETRY_STATUSES:
                        retry.append(position)
                        longest = max(longest, retry_after(answer.headers, busy + 1))
                    answers[position] = answer
            if not retry:
                break
            busy += 1
            if busy > self.max_retries or longest > self.max_wait:
                break  # the throttled parts keep their 429/503 answers; callers report them per item
            log.info("Graph throttled %d batch part(s); retrying in %.2f s", len(retry), longest)
            self.sleep(longest)
            pending = retry
        return [answers[i] for i in range(len(parts))]

    def _one_batch(self, parts: Sequence[Part], *, unknown_outcome: bool) -> list[Answer]:
        if not self.batch_supported:
            return [self._single(p, unknown_outcome=unknown_outcome) for p in parts]
        try:
            body = self.json(
                "POST",
                "/$batch",
                json=batch_body(parts),
                slots=len(parts),
                unknown_outcome=unknown_outcome,
                what="batch",
            )
        except MailboxError as exc:
            # A Graph-compatible gateway without JSON batching (501): one request per part.
            if exc.status != 501:
                raise
            log.warning("the Graph endpoint does not answer $batch; sending requests one by one")
            self.batch_supported = False
            return [self._single(p, unknown_outcome=unknown_outcome) for p in parts]
        responses = body.get("responses") if isinstance(body, Mapping) else None
        if not isinstance(responses, list):
            raise MailboxError(f"The mail server {self.server} answered a batch without responses.")
        by_id: dict[str, Answer] = {}
        for entry in responses:
            if not isinstance(entry, Mapping):
                continue
            headers = entry.get("headers") if isinstance(entry.get("headers"), Mapping) else {}
            by_id[str(entry.get("id"))] = Answer(
                status=int(entry.get("status") or 0), body=entry.get("body"), headers=dict(headers or {})
            )
        missing = Answer(status=0, body={"error": {"code": "missing", "message": "no answer in the batch"}})
        result = [by_id.get(str(n), missing) for n in range(len(parts))]
        if any(a.status == 401 for a in result):
            # One refresh for the whole batch: the token is shared by all parts.
            self._bearer(fresh=True)
            result = self._retry_unauthorised(parts, result, unknown_outcome=unknown_outcome)
        return result

    def _single(self, part: Part, *, unknown_outcome: bool) -> Answer:
        try:
            response = self.request(
                part.method,
                part.url,
                json=part.body,
                headers=part.headers,
                unknown_outcome=unknown_outcome,
            )
        except (MessageError, MailboxError) as exc:
            # The answer as the server gave it (status and code), as a batch part would carry it.
            code = exc.code or type(exc).__name__
            body = {"error": {"code": code, "message": exc.message}}
            return Answer(status=exc.status or 400, body=body)
        headers = dict(response.headers)
        return Answer(status=response.status_code, body=_json_or_none(response), headers=headers)

    def _retry_unauthorised(
        self, parts: Sequence[Part], result: list[Answer], *, unknown_outcome: bool
    ) -> list[Answer]:
        again = [i for i, a in enumerate(result) if a.status == 401]
        body = self.json(
            "POST",
            "/$batch",
            json=batch_body([parts[i] for i in again]),
            slots=len(again),
            unknown_outcome=unknown_outcome,
            what="batch",
        )
        responses = body.get("responses") if isinstance(body, Mapping) else None
        for entry in responses or ():
            n = int(str(entry.get("id")))
            headers = entry.get("headers") if isinstance(entry.get("headers"), Mapping) else {}
            result[again[n]] = Answer(int(entry.get("status") or 0), entry.get("body"), dict(headers or {}))
        if any(a.status == 401 for a in result):
            code, message = error_text(next(a.body for a in result if a.status == 401))
            raise AuthError(
                f"Microsoft 365 refused the sign-in for the mailbox: {code or 'HTTP 401'} {message}".strip(),
                service="mailbox",
            )
        return result

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        self._local = threading.local()
        for session in sessions:
            session.close()


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def answer_error(answer: Answer, *, server: str, what: str = "") -> BridgeError:
    return convert_status(answer.status, answer.body, server=server, what=what)
