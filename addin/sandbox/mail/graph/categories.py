"""Not yet served."""

from __future__ import annotations

from typing import Any

from addin.sandbox.mail.graph.http import GraphError


def create_category(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def delete_category(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def list_categories(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")
