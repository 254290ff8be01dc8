"""Fixtures of the contract suites: the Mailbox one over every backend in BACKENDS, the CRM one
over the in-memory CRM and the Dataverse adapter (CRMS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_harness import CRMS, CrmHarness
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


@pytest.fixture(scope="module", params=sorted(CRMS))
def crm_harness(request: pytest.FixtureRequest) -> Iterator[CrmHarness]:
    with CRMS[request.param]() as h:
        yield h
