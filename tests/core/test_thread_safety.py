"""The HTTP clients shared by the engine thread, the watcher and the UI's workers: one
``requests.Session`` per thread, and the CRM user context fetched once under contention."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import requests

from addin.crm.auth import StaticTokenAuth
from addin.crm.client import DataverseClient
from addin.crm.dataverse_port import DataverseCrm
from addin.mailbox.graph_http import GraphClient

WORKERS = 6
WHOAMI = {"UserId": "u", "BusinessUnitId": "b", "OrganizationId": "o"}


class _Recording(requests.Session):
    """A session that answers 200 with a JSON body and records which threads used it."""

    made: list[_Recording]

    def __init__(self, registry: list[_Recording], body: Any) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.closed = False
        self.body = body
        registry.append(self)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.threads.add(threading.get_ident())
        time.sleep(0.002)  # let the threads overlap
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(self.body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = url
        response.request = requests.Request(method, url).prepare()
        return response

    def close(self) -> None:
        self.closed = True
        super().close()


def _hammer(call: Any, rounds: int = 5) -> set[int]:
    barrier = threading.Barrier(WORKERS)

    def worker(_: int) -> int:
        barrier.wait()
        for _ in range(rounds):
            call()
        return threading.get_ident()

    with ThreadPoolExecutor(WORKERS) as pool:
        return set(pool.map(worker, range(WORKERS)))


def test_the_dataverse_client_gives_each_thread_its_own_session() -> None:
    made: list[_Recording] = []
    client = DataverseClient(
        "http://127.0.0.1:9", StaticTokenAuth("sandbox"), session_factory=lambda: _Recording(made, WHOAMI)
    )
    threads = _hammer(lambda: client.whoami())
    used = [s for s in made if s.threads]
    assert len(threads) == WORKERS
    assert len(used) == WORKERS, "one session per worker thread"
    assert all(len(s.threads) == 1 for s in used), "no session is used by two threads"
    assert {t for s in used for t in s.threads} == threads
    # Every session carries the OData headers and the credentials' preparation.
    assert all(s.headers["OData-Version"] == "4.0" for s in made)
    client.close()
    assert all(s.closed for s in made), "close() closes every thread's session"


def test_the_graph_client_gives_each_thread_its_own_session() -> None:
    made: list[_Recording] = []
    client = GraphClient(
        "https://graph.example/v1.0",
        lambda: "token",
        session_factory=lambda: _Recording(made, {"value": []}),
    )
    threads = _hammer(lambda: client.json("GET", "/me/mailFolders"))
    assert len(made) == WORKERS and all(len(s.threads) == 1 for s in made)
    assert {t for s in made for t in s.threads} == threads
    assert client.requests_sent == WORKERS * 5, "the request count is exact under contention"
    client.close()
    assert all(s.closed for s in made)


class _OrgAnswer:
    def __init__(self, body: Any) -> None:
        self.json, self.error = body, None


class _FakeCrm:
    """Just enough of DataverseClient for DataverseCrm.context(): counts the WhoAmI calls."""

    def __init__(self) -> None:
        self.whoami_calls = 0
        self._lock = threading.Lock()

    def whoami(self) -> Any:
        with self._lock:
            self.whoami_calls += 1
        time.sleep(0.05)  # a slow CRM: every other thread arrives while this one asks
        return SimpleNamespace(user_id="00000000-0000-0000-0000-0000000000a1")

    def batch(self) -> Any:
        answers = [
            _OrgAnswer({"fullname": "Alex", "internalemailaddress": "alex@contoso.example"}),
            _OrgAnswer({"incomingemailfilteringmethod": 2}),
            _OrgAnswer({"value": [{"maxuploadfilesize": 1024, "trackingprefix": "CRM"}]}),
        ]
        return SimpleNamespace(get=lambda *a, **k: None, execute=lambda: answers)


def test_the_user_context_is_fetched_once_while_threads_wait_for_it() -> None:
    crm = _FakeCrm()
    gateway = DataverseCrm(crm)  # type: ignore[arg-type]
    seen: list[Any] = []
    seen_lock = threading.Lock()

    def read() -> None:
        context = gateway.context()
        with seen_lock:
            seen.append(context)

    _hammer(read, rounds=3)
    assert crm.whoami_calls == 1, "concurrent readers share one fetch"
    assert len(seen) == WORKERS * 3 and all(c is seen[0] for c in seen)
    assert seen[0].full_name == "Alex" and seen[0].email == "alex@contoso.example"
    _hammer(lambda: gateway.context(refresh=True), rounds=1)
    assert crm.whoami_calls == 1 + WORKERS, "a refresh asks again, one thread at a time"
