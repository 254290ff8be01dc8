"""The sandbox Exchange as a WSGI application: Basic auth, injected faults, EWS dispatch,
autodiscover, the Microsoft Graph mail endpoints under ``/v1.0`` (``graph`` package), and delivery
of sent mail to other sandbox mailboxes."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from lxml import etree  # type: ignore[import-untyped]
from werkzeug.wrappers import Request, Response

from addin.sandbox.common import (
    DropConnection,
    FaultPlan,
    Stats,
    control_response,
    drop_connection,
    json_response,
)
from addin.sandbox.mail import (
    autodiscover,
    ops_attachments,
    ops_config,
    ops_events,
    ops_export,
    ops_find,
    ops_folders,
    ops_items,
    ops_streaming,
    ops_sync,
    ops_update,
)
from addin.sandbox.mail.context import Ctx
from addin.sandbox.mail.graph import GraphApp
from addin.sandbox.mail.mime import parse_mime
from addin.sandbox.mail.soap import (
    EwsError,
    SoapFault,
    body_operation,
    envelope,
    fault_envelope,
    local,
    parse_request,
    response_root,
    serialize,
)
from addin.sandbox.mail.store import MailStore
from addin.sandbox.mail.transport import Transport

log = logging.getLogger(__name__)

EWS_PATH = "/ews/exchange.asmx"
GRAPH_PREFIX = "/v1.0"
GRAPH_UPLOAD_PREFIX = "/graph-upload/"
TOKENS_PATH = "/_sandbox/tokens"
AUTODISCOVER_SOAP_PATH = "/autodiscover/autodiscover.svc"
AUTODISCOVER_POX_PATH = "/autodiscover/autodiscover.xml"

Handler = Callable[[Ctx, Any, Any], None]

OPERATIONS: dict[str, Handler] = {
    "ConvertId": ops_folders.convert_id,
    "GetFolder": ops_folders.get_folder,
    "FindFolder": ops_folders.find_folder,
    "CreateFolder": ops_folders.create_folder,
    "DeleteFolder": ops_folders.delete_folder,
    "UpdateFolder": ops_folders.update_folder,
    "MoveFolder": ops_folders.move_folder,
    "EmptyFolder": ops_folders.empty_folder,
    "SyncFolderHierarchy": ops_folders.sync_folder_hierarchy,
    "FindItem": ops_find.find_item,
    "GetItem": ops_find.get_item,
    "CreateItem": ops_items.create_item,
    "UpdateItem": ops_update.update_item,
    "DeleteItem": ops_update.delete_item,
    "MoveItem": ops_update.move_item,
    "CopyItem": ops_update.copy_item,
    "SendItem": ops_items.send_item,
    "UploadItems": ops_export.upload_items,
    "ExportItems": ops_export.export_items,
    "MarkAsJunk": ops_update.mark_as_junk,
    "ArchiveItem": ops_update.archive_item,
    "SyncFolderItems": ops_sync.sync_folder_items,
    "GetAttachment": ops_attachments.get_attachment,
    "CreateAttachment": ops_attachments.create_attachment,
    "DeleteAttachment": ops_attachments.delete_attachment,
    "Subscribe": ops_events.subscribe,
    "GetEvents": ops_events.get_events,
    "Unsubscribe": ops_events.unsubscribe,
    "GetUserConfiguration": ops_config.get_user_configuration,
    "CreateUserConfiguration": ops_config.create_user_configuration,
    "UpdateUserConfiguration": ops_config.update_user_configuration,
    "DeleteUserConfiguration": ops_config.delete_user_configuration,
}


def _xml(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/xml; charset=utf-8")


class MailServer:
    """WSGI callable; ``origin`` is filled in once the socket is bound."""

    def __init__(
        self, store: MailStore, faults: FaultPlan, stats: Stats, busy_backoff_ms: int = 1000
    ) -> None:
        self.store = store
        self.faults = faults
        self.stats = stats
        self.busy_backoff_ms = busy_backoff_ms
        self.replace_message_ids = False
        self.subscriptions = ops_events.Subscriptions()
        # OAuth bearer tokens the sandbox accepts -> mailbox; memory only, never written to disk.
        self.tokens: dict[str, str] = {}
        self.origin = ""
        # One transport queue for every send, EWS and Graph (lag and outage faults).
        self.transport = Transport(self)
        self.graph = GraphApp(self)

    def ctx(self, user: str) -> Ctx:
        """What an EWS operation (or a Graph request reusing its code) runs with."""
        return Ctx(
            store=self.store,
            user=user,
            deliver=lambda a, mime, f: self.deliver(a, mime, f),
            replace_message_ids=self.replace_message_ids,
            subscriptions=self.subscriptions,
            transport=self.transport,
        )

    @property
    def ews_url(self) -> str:
        return f"{self.origin}/EWS/Exchange.asmx"

    @property
    def graph_url(self) -> str:
        return f"{self.origin}{GRAPH_PREFIX}"

    # -- delivery ---------------------------------------------------------------------------------

    def deliver(
        self,
        address: str,
        mime: bytes,
        folder: str = "inbox",
        received: datetime | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Store raw MIME in a mailbox folder (distinguished name or folder id); returns the item id."""
        address = address.strip().lower()
        target = self.store.distinguished(address, folder) or self.store.folder(folder)
        if target is None or target.mailbox != address:
            raise KeyError(f"no folder {folder!r} in mailbox {address!r}")
        fields, atts = parse_mime(mime, received)
        if extra:
            fields.update(extra)
        return self.store.insert_item(address, target.id, fields, mime, atts).id

    # -- WSGI -------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._handle(request, environ)
        except DropConnection:
            start_response("500 Dropped", [("Content-Length", "0")])
            return []
        return response(environ, start_response)

    def _handle(self, request: Request, environ: dict[str, Any]) -> Response:
        if request.path == TOKENS_PATH:
            return self._token_control(request)
        control = control_response(request, self.faults, self.stats)
        if control is not None:
            return control
        if request.path == GRAPH_PREFIX or request.path.startswith(GRAPH_PREFIX + "/"):
            return self.graph.handle(request, environ)
        if request.path.startswith(GRAPH_UPLOAD_PREFIX):
            return self.graph.handle_upload(request, environ)
        path = request.path.lower().rstrip("/")
        if path == EWS_PATH:
            return self._ews(request, environ)
        if path == AUTODISCOVER_SOAP_PATH:
            return self._autodiscover(request, environ, soap=True)
        if path == AUTODISCOVER_POX_PATH:
            return self._autodiscover(request, environ, soap=False)
        return Response("not found", status=404, mimetype="text/plain")

    def _token_control(self, request: Request) -> Response:
        """``POST /_sandbox/tokens`` ``{"token": T, "address": A}`` accepts bearer T as mailbox A
        (EWS and Graph alike); ``{"token": T, "revoke": true}`` forgets it. Memory only."""
        if request.method != "POST":
            return json_response({"error": "POST only"}, status=405)
        try:
            data = json.loads(request.get_data(as_text=True) or "{}")
            token = str(data["token"])
        except (ValueError, KeyError, TypeError):
            return json_response({"error": "expected {token, address} or {token, revoke}"}, status=400)
        if data.get("revoke"):
            self.tokens.pop(token, None)
            return json_response({"ok": True})
        address = str(data.get("address") or "").strip().lower()
        if not token or not self.store.has_mailbox(address):
            return json_response({"error": f"no mailbox {address!r}"}, status=400)
        self.tokens[token] = address
        return json_response({"ok": True})

    def _user(self, request: Request) -> str | None:
        """The mailbox a valid Basic Authorization header names, else None."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.tokens.get(value.strip())
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
        username = username.rpartition("\\")[2].strip().lower()
        if "@" not in username:
            # DOMAIN\user logins: the mailbox whose address has that local part, if only one does.
            matches = [a for a, _ in self.store.mailboxes() if a.partition("@")[0] == username]
            username = matches[0] if len(matches) == 1 else username
        return username if self.store.check_password(username, password) else None

    @staticmethod
    def _unauthorized() -> Response:
        return Response(
            "401 Unauthorized",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Basic realm="sandbox"'},
        )

    def _transport_faults(self, op: str, environ: dict[str, Any]) -> tuple[Response | None, bool]:
        """Apply latency and queued failures; returns (response to send instead, drop after)."""
        latency = self.faults.latency_ms
        if latency > 0:
            time.sleep(latency / 1000.0)
        failure = self.faults.take_failure(op)
        if failure is None:
            return None, False
        drop = failure.get("drop")
        if drop in (True, "before"):
            drop_connection(environ)
        if drop == "after":
            return None, True
        if "busy_ms" in failure:
            return _xml(
                fault_envelope("ErrorServerBusy", "The server is busy.", int(failure["busy_ms"])), 500
            ), False
        status = int(failure.get("status", 500))
        if status == 401:
            return self._unauthorized(), False
        headers = {"Retry-After": str(failure["retry_after"])} if "retry_after" in failure else {}
        return Response("Injected failure", status=status, mimetype="text/plain", headers=headers), False

    def _busy(self) -> Response | None:
        wait = self.faults.throttled_for()
        if wait is not None:
            ms = max(1, int(wait * 1000))
            return _xml(
                fault_envelope("ErrorServerBusy", "The server cannot service this request right now.", ms),
                500,
            )
        if self.faults.take_busy():
            return _xml(
                fault_envelope(
                    "ErrorServerBusy",
                    "The server cannot service this request right now.",
                    self.busy_backoff_ms,
                ),
                500,
            )
        return None

    def _ews(self, request: Request, environ: dict[str, Any]) -> Response:
        data = request.get_data()
        root = None
        try:
            root = parse_request(data)
            op_el = body_operation(root)
            op = local(op_el)
        except (etree.XMLSyntaxError, SoapFault, ValueError):
            op_el, op = None, "Invalid"
        self.stats.count(op)
        replaced, drop_after = self._transport_faults(op, environ)
        if replaced is not None:
            return replaced
        if request.method != "POST":
            return Response("EWS accepts POST only", status=405, mimetype="text/plain")
        user = self._user(request)
        if user is None:
            return self._unauthorized()
        busy = self._busy()
        if busy is not None:
            return busy
        if op_el is None:
            response = _xml(
                fault_envelope("ErrorSchemaValidation", "The request failed schema validation."), 500
            )
        else:
            response = self._dispatch(op, op_el, user, environ)
            ops_streaming.set_affinity_cookie(request, response, op, user)
        if drop_after:
            drop_connection(environ)
        return response

    def _dispatch(self, op: str, op_el: Any, user: str, environ: dict[str, Any]) -> Response:
        ctx = self.ctx(user)
        if op == "GetStreamingEvents":
            return ops_streaming.streaming_response(ctx, op_el, environ)
        handler = OPERATIONS.get(op)
        if handler is None:
            # Exchange's "not valid for this mailbox" code, as for the operations a mail bridge has
            # no business with (inbox rules, mail tips, delegates, room lists ...). Not
            # ErrorInvalidRequest: exchangelib would retry that with every other API version.
            return _xml(
                fault_envelope("ErrorInvalidOperation", f"The sandbox Exchange does not offer {op}."), 500
            )
        root, body = envelope()
        messages = response_root(body, op)
        try:
            handler(ctx, op_el, messages)
        except SoapFault as exc:
            return _xml(fault_envelope(exc.code, exc.message), 500)
        except EwsError as exc:
            return _xml(fault_envelope(exc.code, exc.message), 500)
        except Exception:
            log.exception("sandbox EWS %s failed", op)
            return _xml(fault_envelope("ErrorInternalServerError", "An internal server error occurred."), 500)
        return _xml(serialize(root))

    def _autodiscover(self, request: Request, environ: dict[str, Any], soap: bool) -> Response:
        data = request.get_data()
        op = autodiscover.soap_operation(data) if soap else "Autodiscover"
        self.stats.count(op)
        replaced, drop_after = self._transport_faults(op, environ)
        if replaced is not None:
            return replaced
        if self._user(request) is None:
            return self._unauthorized()
        if soap:
            if op != "GetUserSettings":
                return _xml(
                    fault_envelope("ErrorUnsupportedOperation", f"Autodiscover {op} is not supported."), 500
                )
            try:
                response = _xml(autodiscover.soap_get_user_settings(data, self.store, self.ews_url))
            except etree.XMLSyntaxError:
                response = _xml(fault_envelope("ErrorSchemaValidation", "Malformed request."), 500)
        else:
            host = self.origin.partition("://")[2]
            response = _xml(autodiscover.pox_response(data, self.store, self.ews_url, host))
        if drop_after:
            drop_connection(environ)
        return response
