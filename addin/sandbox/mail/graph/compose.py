"""Not yet served."""

from __future__ import annotations

from typing import Any

from addin.sandbox.mail.graph.http import GraphError


class UploadSessions:
    def put(self, *a: Any) -> Any:
        raise GraphError(501, "NotImplemented", "Not served yet.")


def add_attachment(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def create_draft(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def create_in_folder(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def create_upload_session(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def delete_attachment(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def send_draft(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")


def send_mail(*a: Any) -> Any:
    raise GraphError(501, "NotImplemented", "Not served yet.")
