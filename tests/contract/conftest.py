"""Fixtures of the Mailbox contract suite, parametrised over every backend in BACKENDS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mailbox_harness import BACKENDS, Harness

from addin.mailbox.port import Mailbox


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    with BACKENDS[request.param]() as h:
        yield h


@pytest.fixture
def mailbox(harness: Harness) -> Iterator[Mailbox]:
    mb = harness.open()
    yield mb
    mb.close()
