"""Dataverse-shaped errors: ``{"error": {"code": "0x…", "message": "…"}}`` with an HTTP status."""

from __future__ import annotations

from typing import Any

# Codes from Microsoft's documentation (reference/dataverse.md §4.3, §4.7 and the
# "Troubleshoot Dataverse Web API client errors" page).
RESOURCE_NOT_FOUND = "0x8006088a"  # "Resource not found for the segment '…'."
PROPERTY_NOT_FOUND = "0x80060888"  # "Could not find a property named '…' on type '…'."
RECORD_NOT_FOUND = "0x80040217"  # "<table> With Id = <id> Does Not Exist"
DUPLICATE_KEY = "0x80040237"  # "Cannot insert duplicate key."
VALIDATION = "0x80044331"  # "A validation error occurred. …"
INVALID_ARGUMENT = "0x80040203"
# The following codes are not in the reference [U]; they mirror the SDK's ErrorCodes names.
STATE_STATUS_MISMATCH = "0x8004431a"  # "<n> is not a valid status code for state code …"
READ_ONLY_RECORD = "0x80043b1b"  # a closed activity cannot be updated
THROTTLE_REQUESTS = "0x80072322"
ATTACHMENT_TOO_BIG = "0x80044a02"
ATTACHMENT_BLOCKED = "0x80043e09"
NOT_AUTHENTICATED = "0x80072560"
BATCH_LIMIT = "0x80060891"


class ODataError(Exception):
    """An error answered to the client in Dataverse's JSON shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def not_found_segment(segment: str) -> ODataError:
    return ODataError(404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{segment}'.")


def record_not_found(logical: str, record_id: str) -> ODataError:
    return ODataError(404, RECORD_NOT_FOUND, f"{logical} With Id = {record_id} Does Not Exist")


def bad_request(message: str, code: str = INVALID_ARGUMENT) -> ODataError:
    return ODataError(400, code, message)


def unknown_property(name: str, logical: str) -> ODataError:
    return ODataError(
        400,
        PROPERTY_NOT_FOUND,
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{logical}'.",
    )
