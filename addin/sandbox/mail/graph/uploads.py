"""Upload sessions for attachments over 3 MB (learn.microsoft.com/en-us/graph/outlook-large-attachments,
attachment-createuploadsession).

``POST /me/messages/{id}/attachments/createUploadSession`` ``{"AttachmentItem": {"attachmentType":
"file", "name", "size", ...}}`` answers 201 with ``uploadUrl``. That URL takes ``PUT`` byte ranges
with ``Content-Range: bytes first-last/total`` and NO Authorization header (the doc: including
it can get a 401), each range under 4 MB, in order; 200 with ``nextExpectedRanges`` until the
last range, then 201 with the new attachment's URL in ``Location``. ``DELETE`` on the URL
cancels. Sessions live in memory: a restart ends them as expiry would.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from addin.sandbox.mail.graph.http import GraphError, GraphRequest, GraphResponse, bad_request, not_found

if TYPE_CHECKING:
    from addin.sandbox.mail.graph.router import GraphApp

REQUEST_LIMIT = 4 * 1024 * 1024
UPLOAD_LIMIT = 150 * 1024 * 1024


@dataclass
class UploadSession:
    user: str
    item_id: str
    name: str
    content_type: str
    size: int
    is_inline: bool
    content_id: str | None
    expires: datetime
    data: bytearray = field(default_factory=bytearray)


class UploadSessions:
    """Open upload sessions by secret id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, UploadSession] = {}

    def create(self, session: UploadSession) -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[sid] = session
        return sid

    def put(self, app: GraphApp, sid: str, request: Request) -> GraphResponse:
        with self._lock:
            session = self._sessions.get(sid)
        if session is None or session.expires < datetime.now(UTC):
            raise GraphError(404, "ErrorItemNotFound", "The upload session does not exist or has expired.")
        if request.method == "DELETE":
            with self._lock:
                self._sessions.pop(sid, None)
            return GraphResponse(204)
        if request.method != "PUT":
            raise GraphError(405, "BadRequest", "An upload session accepts PUT and DELETE.")
        if request.headers.get("Authorization"):
            raise GraphError(
                401, "InvalidAuthenticationToken", "Do not send an Authorization header to an upload URL."
            )
        chunk = request.get_data()
        match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+)\s*", request.headers.get("Content-Range", ""))
        if match is None:
            raise bad_request("Content-Range must be 'bytes first-last/total'.", "InvalidContentRange")
        first, last, total = (int(g) for g in match.groups())
        if total != session.size or last < first or last - first + 1 != len(chunk):
            raise bad_request(
                "Content-Range does not match the body or the session's size.", "InvalidContentRange"
            )
        if len(chunk) > REQUEST_LIMIT:
            raise GraphError(413, "RequestEntityTooLarge", "Each range must be under 4 MB.")
        with self._lock:
            if first != len(session.data):
                raise GraphError(
                    416,
                    "InvalidRange",
                    f"The next expected range starts at byte {len(session.data)}.",
                    {"Content-Type": "application/json"},
                )
            session.data.extend(chunk)
            done = len(session.data) >= session.size
            if done:
                self._sessions.pop(sid, None)
        if not done:
            return GraphResponse(
                200,
                {
                    "expirationDateTime": _iso(session.expires),
                    "nextExpectedRanges": [f"{len(session.data)}-"],
                },
            )
        if app.store.item(session.item_id) is None:
            raise not_found("The message of this upload session no longer exists.")
        att_id = app.store.add_attachment(
            session.item_id,
            session.name,
            session.content_type,
            session.content_id,
            session.is_inline,
            bytes(session.data),
        )
        location = f"{app.base}/users('{session.user}')/messages('{session.item_id}')/attachments('{att_id}')"
        return GraphResponse(201, None, {"Location": location})


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def create_upload_session(app: GraphApp, req: GraphRequest, ids: list[str]) -> GraphResponse:
    from addin.sandbox.mail.graph.messages import item_of

    item = item_of(app, req.user, ids[0])
    body = req.json()
    spec = body.get("AttachmentItem") if isinstance(body, dict) else None
    if not isinstance(spec, dict):
        raise bad_request("AttachmentItem is required.", "ErrorInvalidRequest")
    if str(spec.get("attachmentType") or "file").lower() != "file":
        raise bad_request("Only file attachments can be uploaded.", "ErrorInvalidRequest")
    try:
        size = int(spec.get("size"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise bad_request("AttachmentItem.size is required.", "ErrorInvalidRequest") from None
    if size <= 0 or size > UPLOAD_LIMIT:
        raise bad_request("Attachments must be 1 byte to 150 MB.", "ErrorAttachmentSizeLimitExceeded")
    expires = datetime.now(UTC) + timedelta(hours=6)
    sid = app.uploads.create(
        UploadSession(
            user=req.user,
            item_id=item.id,
            name=str(spec.get("name") or "attachment"),
            content_type=str(spec.get("contentType") or "application/octet-stream"),
            size=size,
            is_inline=bool(spec.get("isInline")),
            content_id=str(spec.get("contentId")) if spec.get("contentId") else None,
            expires=expires,
        )
    )
    return GraphResponse(
        201,
        {
            "@odata.context": f"{req.base}/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": f"{req.origin}/graph-upload/{sid}",
            "expirationDateTime": _iso(expires),
            "nextExpectedRanges": ["0-"],
        },
    )
