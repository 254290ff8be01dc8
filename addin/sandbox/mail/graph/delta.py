"""Not yet served."""

from __future__ import annotations

from typing import Any

from addin.sandbox.mail.graph.http import GraphError


def delta(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def md(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def py(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")
