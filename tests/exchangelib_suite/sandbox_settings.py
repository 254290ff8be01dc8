"""What exchangelib's tests read from their settings.yml, filled in by conftest.py per test file."""

from __future__ import annotations

from typing import Any

SETTINGS: dict[str, Any] = {}
