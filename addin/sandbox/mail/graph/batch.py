"""Not yet served."""

from __future__ import annotations

from typing import Any

from addin.sandbox.mail.graph.http import GraphError


def run(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")
