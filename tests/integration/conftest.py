"""Fixtures of the integration tests."""

from tests.integration.frozen_build import frozen_build

__all__ = ["frozen_build"]
