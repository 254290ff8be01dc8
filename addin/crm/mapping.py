"""Turn Web API error answers into the bridge's typed errors (reference dataverse.md §4.7)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from addin.credentials import redact
from addin.crm.retry import THROTTLE_CODES
from addin.errors import AuthError, BridgeError, ConflictError, CrmError, NotFoundError, ThrottledError

# Cannot insert duplicate key (client-errors troubleshooting page); decimal form too.
DUPLICATE_KEY_CODES = frozenset({"0x80040237", "-2147220937"})
_ENTITY_ID = re.compile(
    r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)\s*$"
)
_MAX_MESSAGE = 300


def parse_error_body(body: bytes | str | None) -> tuple[str | None, str | None]:
    """``(code, message)`` from ``{"error": {"code": …, "message": …}}``, or the bare text."""
    if body is None:
        return None, None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        return None, None
    try:
        data = json.loads(text)
    except ValueError:
        return None, text[:_MAX_MESSAGE]
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        code = err.get("code")
        message = err.get("message")
        return (str(code) if code not in (None, "") else None, str(message) if message else None)
    return None, text[:_MAX_MESSAGE]


def entity_id_from_url(url: str | None) -> str | None:
    """The GUID at the end of an ``OData-EntityId`` URL: ``…/emails(<id>)`` -> ``<id>``."""
    if not url:
        return None
    match = _ENTITY_ID.search(url.strip())
    return match.group(1).lower() if match else None


def is_throttle_code(code: str | None) -> bool:
    return code is not None and code.lower() in THROTTLE_CODES


def error_for(
    status: int,
    body: bytes | str | None,
    *,
    what: str,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> BridgeError:
    """The typed error for a non-success answer to ``what`` (e.g. ``"PATCH emails(…)"``)."""
    code, server_message = parse_error_body(body)
    detail = f": {server_message}" if server_message else ""
    text = redact(f"{what} failed with HTTP {status}{detail}")
    if len(text) > _MAX_MESSAGE + 80:
        text = text[: _MAX_MESSAGE + 77] + "..."
    if status == 401:
        return AuthError(
            redact(f"The CRM refused the sign-in ({what}, HTTP 401). Sign in again."), service="crm"
        )
    if status == 429 or is_throttle_code(code):
        return ThrottledError(
            redact(f"The CRM is throttling requests ({what}){detail}"), retry_after=retry_after
        )
    if code and code.lower() in DUPLICATE_KEY_CODES:
        return ConflictError(text, status=status, code=code, title="Already exists")
    if status == 412:
        return ConflictError(text, status=status, code=code)
    if status == 404:
        return NotFoundError(text, status=status, code=code)
    if status == 403:
        return CrmError(text, status=status, code=code, title="Not allowed in the CRM")
    return CrmError(text, status=status, code=code)
