"""``MailSandbox``: the sandbox Exchange as one object for tests, benchmarks and the demo."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from addin.sandbox.common import FaultPlan, SandboxServer, Stats, check_loopback
from addin.sandbox.mail.server import MailServer
from addin.sandbox.mail.store import MailStore


class MailSandbox:
    """An EWS stand-in on loopback. ``with MailSandbox() as mail: mail.ews_url ...``

    ``busy_backoff_ms`` is the BackOffMilliseconds of injected ErrorServerBusy answers;
    ``replace_message_ids=True`` makes sends ignore a client-set Message-ID, as some servers do
    (settable later as ``sandbox.app.replace_message_ids``).
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        seed: str = "demo",
        latency_ms: int = 0,
        busy: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        busy_backoff_ms: int = 1000,
        replace_message_ids: bool = False,
    ) -> None:
        if seed not in ("demo", "empty"):
            raise ValueError("seed must be 'demo' or 'empty'")
        check_loopback(host)  # before anything is created on disk
        self._tmp: str | None = None
        if data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="crm-bridge-mail-")
            data_dir = self._tmp
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db_path = self.data_dir / "mail.sqlite3"
        fresh = not db_path.exists()
        self.store = MailStore(db_path)
        self.faults = FaultPlan(latency_ms=latency_ms, busy=busy)
        self.stats = Stats()
        self.app = MailServer(self.store, self.faults, self.stats, busy_backoff_ms=busy_backoff_ms)
        self.app.replace_message_ids = replace_message_ids
        try:
            self._server = SandboxServer(self.app, host=host, port=port, keep_alive=True)
        except (OSError, SystemExit):  # port taken (werkzeug exits): leave nothing behind
            self._started = False
            self.store.close()
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        self.app.origin = self._server.origin
        if fresh and seed == "demo":
            from addin.sandbox.mail.seed import seed_demo

            seed_demo(self)
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def server(self) -> SandboxServer:
        return self._server

    def start(self) -> MailSandbox:
        if not self._started:
            self._server.start()
            self._started = True
        return self

    def stop(self) -> None:
        self.app.subscriptions.closing.set()  # ends open streaming answers
        self.app.graph.close()  # pending asynchronous Graph sends
        if self._started:
            self._server.stop()
            self._started = False
        self.store.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> MailSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._server.origin

    @property
    def ews_url(self) -> str:
        return f"{self.origin}/EWS/Exchange.asmx"

    @property
    def graph_url(self) -> str:
        """Microsoft Graph v1.0 base URL (``{graph_url}/me/messages`` ...), same mailboxes as EWS."""
        return f"{self.origin}/v1.0"

    @property
    def autodiscover_url(self) -> str:
        """The POX endpoint; the SOAP one is ``autodiscover_soap_url``."""
        return f"{self.origin}/autodiscover/autodiscover.xml"

    @property
    def autodiscover_soap_url(self) -> str:
        return f"{self.origin}/autodiscover/autodiscover.svc"

    # -- data -------------------------------------------------------------------------------------

    def add_mailbox(self, address: str, password: str, display_name: str = "") -> None:
        self.store.add_mailbox(address, password, display_name)

    def drop_streams(self) -> None:
        """Break every open streaming-notification connection, as a network failure would (the
        subscriptions live on: a client that reconnects gets the events it missed)."""
        self.app.subscriptions.drop_generation += 1

    def expire_subscriptions(self, address: str | None = None) -> int:
        """Forget notification subscriptions (all, or one mailbox's) as Exchange does after their
        timeout or a restart; returns how many. Their clients must subscribe again."""
        return int(self.app.subscriptions.expire(address.strip().lower() if address else None))

    def add_token(self, token: str, address: str) -> None:
        """Accept ``Authorization: Bearer <token>`` as ``address`` (an OAuth access token), on
        EWS and on the Graph endpoints alike."""
        self.app.tokens[token] = address.strip().lower()

    def revoke_token(self, token: str) -> None:
        self.app.tokens.pop(token, None)

    def mailboxes(self) -> list[str]:
        return sorted(a for a, _ in self.store.mailboxes())

    def deliver(
        self, address: str, mime: bytes, folder: str = "inbox", received: datetime | None = None
    ) -> str:
        """Store raw MIME as if received; malformed MIME is kept as given. Returns the item id."""
        return self.app.deliver(address, mime, folder, received)

    def deliver_many(self, address: str, mimes: Iterable[bytes], folder: str = "inbox") -> list[str]:
        """``deliver`` for many messages in one transaction (fast bulk loading for benchmarks)."""
        with self.store.tx():
            return [self.app.deliver(address, mime, folder) for mime in mimes]

    def items(self, address: str, folder: str = "inbox") -> list[dict[str, Any]]:
        """Plain-dict view of a folder's items (newest first) for assertions."""
        target = self.store.distinguished(address.lower(), folder) or self.store.folder(folder)
        if target is None:
            raise KeyError(f"no folder {folder!r} in mailbox {address!r}")
        out = []
        for item in self.store.folder_items(target.id, with_attachments=True):
            d = item.data
            out.append(
                {
                    "id": item.id,
                    "subject": d.get("subject"),
                    "message_id": d.get("message_id"),
                    "in_reply_to": d.get("in_reply_to"),
                    "references": d.get("references"),
                    "from": (d.get("author") or {}).get("email"),
                    "to": [b["email"] for b in d.get("to") or []],
                    "cc": [b["email"] for b in d.get("cc") or []],
                    "categories": list(d.get("categories") or []),
                    "is_read": bool(d.get("is_read")),
                    "sensitivity": d.get("sensitivity"),
                    "datetime_received": d.get("datetime_received"),
                    "extended_properties": _extended_properties(d),
                    "attachments": [(a.name, a.content_type, a.size) for a in item.attachments],
                }
            )
        return out

    def mime(self, item_id: str) -> bytes | None:
        return self.store.mime(item_id)


def _extended_properties(data: dict[str, Any]) -> dict[str, Any]:
    """Stored extended properties keyed by property name (or tag, or id)."""
    out: dict[str, Any] = {}
    for prop in data.get("ext") or []:
        attrs = prop["attrs"]
        key = attrs.get("PropertyName") or attrs.get("PropertyTag") or attrs.get("PropertyId") or ""
        out[key] = prop["values"] if prop.get("values") is not None else prop.get("value")
    return out
