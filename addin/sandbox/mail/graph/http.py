"""Request and response values of the Graph stand-in, and Graph's error JSON.

Error shape (learn.microsoft.com/en-us/graph/errors): ``{"error": {"code", "message",
"innerError": {"date", "request-id", "client-request-id"}}}`` -- camelCase ``innerError``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON_TYPE = (
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
)


class GraphError(Exception):
    """A Graph error answer: HTTP status, error code, message and extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found(what: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", what)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


@dataclass
class GraphRequest:
    method: str
    path: str  # after /v1.0, e.g. "/me/messages/AAMk..."
    args: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    user: str = ""
    base: str = ""  # origin + "/v1.0", for links
    origin: str = ""

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Unable to read JSON request payload.", "RequestBodyRead") from None

    def prefer(self) -> dict[str, str]:
        """Prefer header values by lower-case name; several values may share one header
        (msgraph-sdk sends ``odata.maxpagesize=10, IdType="ImmutableId"``)."""
        out: dict[str, str] = {}
        for part in self.headers.get("prefer", "").split(","):
            name, _, value = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = value.strip().strip('"')
        return out


@dataclass
class GraphResponse:
    status: int = 200
    body: Any = None  # JSON-able, or bytes for raw content
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


def error_response(exc: GraphError, client_request_id: str = "") -> GraphResponse:
    body = {
        "error": {
            "code": exc.code,
            "message": exc.message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": str(uuid.uuid4()),
                "client-request-id": client_request_id or str(uuid.uuid4()),
            },
        }
    }
    return GraphResponse(exc.status, body, dict(exc.headers))
