"""What the sandbox's Graph endpoints cost on a large folder (1,000 messages, DESIGN's bulk
size): a first delta round, an idle delta cycle for five folders in one ``$batch``, and a stamp
look-up with the extended-property ``any`` filter. Times are reported, not asserted; the
asserted parts are counts (messages seen, HTTP requests made)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX
from tests.benchmarks.bench_stats import percentile

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from sandbox_graph_helpers import ALEX_TOKEN, STAMP_ID, running_sandbox, session_for

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]

COUNT = 1000


def _mime(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"customer{n % 50}@fabrikam.example"
    msg["To"] = ALEX.email
    msg["Subject"] = f"Bulk {n}"
    msg["Message-ID"] = f"<bulk-{n}@fabrikam.example>"
    msg.set_content(f"message number {n}")
    return msg.as_bytes()


@pytest.fixture
def loaded() -> Iterator[tuple[MailSandbox, requests.Session, list[str]]]:
    with running_sandbox() as mail, session_for(ALEX_TOKEN) as session:
        ids = mail.deliver_many(ALEX.email, (_mime(n) for n in range(COUNT)))
        yield mail, session, ids


def test_first_delta_round_and_idle_batched_cycle(
    loaded: tuple[MailSandbox, requests.Session, list[str]],
) -> None:
    mail, s, ids = loaded
    url = f"{mail.graph_url}/me/mailFolders/inbox/messages/delta?$select=subject,internetMessageId,categories"
    seen: set[str] = set()
    started = time.perf_counter()
    pages = 0
    while True:
        body = s.get(url, headers={"Prefer": "odata.maxpagesize=100"}, timeout=60).json()
        pages += 1
        seen.update(m["id"] for m in body["value"])
        if "@odata.deltaLink" in body:
            inbox_link = body["@odata.deltaLink"]
            break
        url = body["@odata.nextLink"]
    first_round = time.perf_counter() - started
    assert set(ids) <= seen
    links = [inbox_link]
    for folder in ("sentitems", "drafts", "deleteditems", "junkemail"):
        body = s.get(f"{mail.graph_url}/me/mailFolders/{folder}/messages/delta?$select=id", timeout=60).json()
        while "@odata.nextLink" in body:
            body = s.get(body["@odata.nextLink"], timeout=60).json()
        links.append(body["@odata.deltaLink"])
    parts = [
        {"id": str(n), "method": "GET", "url": link[len(mail.graph_url) :]} for n, link in enumerate(links)
    ]
    before = mail.stats.snapshot()["requests"]
    cycles = []
    for _ in range(20):
        started = time.perf_counter()
        answer = s.post(f"{mail.graph_url}/$batch", json={"requests": parts}, timeout=60).json()
        cycles.append(time.perf_counter() - started)
        assert all(r["status"] == 200 and r["body"]["value"] == [] for r in answer["responses"])
    assert mail.stats.snapshot()["requests"] - before == 20
    print(
        f"\nGraph sandbox, {COUNT} messages: first delta round {first_round:.2f} s in {pages} pages of 100; "
        f"idle 5-folder delta cycle in one $batch p50 {percentile(cycles, 50) * 1000:.1f} ms, "
        f"p95 {percentile(cycles, 95) * 1000:.1f} ms"
    )


def test_stamp_lookup_with_the_any_filter(loaded: tuple[MailSandbox, requests.Session, list[str]]) -> None:
    mail, s, ids = loaded
    target = ids[COUNT // 2]
    patch = {"singleValueExtendedProperties": [{"id": STAMP_ID, "value": "act-bench"}]}
    assert s.patch(f"{mail.graph_url}/me/messages/{target}", json=patch, timeout=60).status_code == 200
    any_filter = f"singleValueExtendedProperties/any(ep: ep/id eq '{STAMP_ID}' and ep/value eq 'act-bench')"
    query = {"$filter": any_filter, "$select": "id"}
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        found = s.get(f"{mail.graph_url}/me/mailFolders/inbox/messages", params=query, timeout=60).json()[
            "value"
        ]
        timings.append(time.perf_counter() - started)
        assert [m["id"] for m in found] == [target]
    by_id = {"$filter": f"internetMessageId eq '<bulk-{COUNT // 3}@fabrikam.example>'", "$select": "id"}
    started = time.perf_counter()
    assert len(s.get(f"{mail.graph_url}/me/messages", params=by_id, timeout=60).json()["value"]) == 1
    indexed = time.perf_counter() - started
    print(
        f"\nGraph sandbox, {COUNT} messages: stamp any-filter p50 {percentile(timings, 50) * 1000:.0f} ms "
        f"(pre-selected in SQL); Message-ID filter {indexed * 1000:.0f} ms (index)"
    )
