"""Dropping many files costs a few CRM round trips, not one per file; reading MIME is cheap.

Request counts are exact and asserted; wall times are only reported (shared machines are
noisy).  Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.bridge_types import TrackOutcome
from addin.demo import DemoEnvironment, start_demo
from addin.mime import read_mime

CORPUS = Path(__file__).resolve().parents[1] / "data" / "mime-corpus"


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*/*") if p.suffix in (".eml", ".txt") and p.stem != "SOURCE")


pytestmark = [pytest.mark.benchmark, pytest.mark.integration]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    environment = start_demo(tmp_path)
    yield environment
    environment.close()


def _crm_requests(env: DemoEnvironment) -> int:
    return int(env.crm.stats.snapshot()["requests"])


def test_dropping_the_corpus_is_a_handful_of_crm_requests(env: DemoEnvironment) -> None:
    files = [(p.read_bytes(), p.name) for p in corpus_files()]
    env.bridge._crm.context()  # warm: who am I, organisation settings

    started = time.perf_counter()
    for data, _ in files:
        read_mime(data)
    read_seconds = time.perf_counter() - started

    before, started = _crm_requests(env), time.perf_counter()
    results = env.bridge.track_files(files)
    seconds, requests = time.perf_counter() - started, _crm_requests(env) - before
    assert all(r.outcome in (TrackOutcome.TRACKED, TrackOutcome.ALREADY_TRACKED) for r in results)
    # One look-up $batch, then creation batches of up to 900 parts: not one request per file.
    assert requests <= 6, requests
    print(
        f"\n{len(files)} corpus files: read in {read_seconds:.2f} s "
        f"({1000 * read_seconds / len(files):.1f} ms each); tracked as dropped files with "
        f"{requests} CRM requests in {seconds:.2f} s"
    )
