"""Not yet served."""

from __future__ import annotations

from typing import Any

from addin.sandbox.mail.graph.http import GraphError


def attachment_value(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def copy_message(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def delete_message(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def get_attachment(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def get_message(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def get_mime(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def list_all(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def list_attachments(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def list_folder(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def move_message(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def update_message(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")
