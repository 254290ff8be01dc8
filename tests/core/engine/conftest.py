"""Fixtures of the engine's unit tests: in-memory ports, a real journal in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.engine.engine_kit import Clock, World


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    # The journal stamps its rows with addin.store.utcnow: it follows the same clock.
    monkeypatch.setattr("addin.store.utcnow", clock)
    return clock


@pytest.fixture
def world(tmp_path: Path, clock: Clock) -> World:
    return World(tmp_path, clock)
