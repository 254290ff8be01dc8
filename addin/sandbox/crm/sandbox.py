"""``CrmSandbox``: the sandbox CRM as a Python object for tests, benchmarks and the demo."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from addin.sandbox.common import FaultPlan, SandboxServer, Stats
from addin.sandbox.crm.actions import queue_pending_email
from addin.sandbox.crm.app import API_PATH, TOKEN, CrmApp
from addin.sandbox.crm.handler import Handler
from addin.sandbox.crm.schema import BY_SET
from addin.sandbox.crm.seed import (
    ALEX_ID,
    BUSINESS_UNIT_ID,
    ORGANIZATION_ID,
    seed_core,
    seed_demo,
    seed_messages,
)
from addin.sandbox.crm.store import Store
from addin.sandbox.tls import LocalAuthority

DB_NAME = "crm-sandbox.sqlite3"


class _QuickStopServer(SandboxServer):
    """Polls for shutdown every 50 ms instead of 0.5 s, so tests stop the sandbox quickly."""

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"crm-sandbox-{self.port}"
        )
        self._thread.daemon = True
        self._thread.start()
        return self


class CrmSandbox:
    """A loopback Dataverse Web API stand-in; bound on construction, serving after ``start()``.

    ``db`` gives direct access to the records (``get``, ``query``, ``insert``, ``update``,
    ``delete``) bypassing HTTP; ``create`` goes through the same validation as a POST.
    """

    token = TOKEN

    def __init__(
        self,
        data_dir: Path | None = None,
        seed: str = "demo",
        latency_ms: int = 0,
        throttle: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
    ) -> None:
        if seed not in ("demo", "empty"):
            raise ValueError("seed must be 'demo' or 'empty'")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="crm-sandbox-")
            data_dir = Path(self._tmp.name)
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.db = Store(data_dir / DB_NAME)
        if self.db.count("organizations") == 0:
            (seed_demo if seed == "demo" else seed_core)(self.db)
        elif self.db.count("sdkmessages") == 0:
            # A data folder from before the sandbox listed its messages gets them now.
            with self.db.transaction():
                seed_messages(self.db)
        self.faults = FaultPlan(latency_ms=latency_ms)
        try:
            self.faults.set_throttle(throttle)
        except ValueError:
            self.db.close()
            raise ValueError(
                f"--throttle must be N/SECONDS with N, SECONDS > 0 (e.g. 100/60), not {throttle!r}"
            ) from None
        self.stats = Stats()
        self.user_id = ALEX_ID
        self.organization_id = ORGANIZATION_ID
        self.handler = Handler(self.db, ALEX_ID, ORGANIZATION_ID, BUSINESS_UNIT_ID)
        self.app = CrmApp(self.handler, self.faults, self.stats)
        # --tls: HTTPS with a certificate from a CA made for this run (clients trust ca_pem).
        self.authority = LocalAuthority.create(data_dir / "tls") if tls else None
        context = self.authority.server_context() if self.authority else None
        self.server: SandboxServer = _QuickStopServer(
            self.app, host, port, keep_alive=True, ssl_context=context
        )
        self._running = False

    @property
    def ca_pem(self) -> Path | None:
        """The CA certificate clients must trust when serving HTTPS (None over plain HTTP)."""
        return self.authority.ca_pem if self.authority else None

    @property
    def origin(self) -> str:
        return self.server.origin

    def page_url(self) -> str:
        """The HTML page's address with a one-time sign-in token: opening it once sets a session
        cookie in that browser (the page and its form are not open to other web pages)."""
        return f"{self.server.origin}/?login={self.app.pages.login_token()}"

    @property
    def base_url(self) -> str:
        return self.server.origin + API_PATH

    @property
    def headers(self) -> dict[str, str]:
        """Headers a Web API client sends (reference §4.2), with the sandbox's token."""
        return {
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
        }

    def start(self) -> CrmSandbox:
        self.server.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self.server.stop()
            self._running = False
        self.db.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> CrmSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- direct helpers (no HTTP) -----------------------------------------------------------

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        """Create a record as a POST would (binds, deep insert, validation); return its id."""
        return self.handler.writer.create(BY_SET[entity_set], body)

    def queue_email(
        self, to_address: str, subject: str, body: str, regarding: str | tuple[str, str] | None = None
    ) -> str:
        """Queue an e-mail from Alex to ``to_address`` in Pending Send (6), like the HTML form.

        ``regarding`` is ``("opportunities", id)`` or ``"opportunities(<id>)"``. As SendEmail
        does, the subject gets the tracking token appended.
        """
        return queue_pending_email(self.handler, to_address, subject, body, regarding)
