"""What the sandbox Graph tests share: a running sandbox with a bearer token per mailbox and a
plain ``requests`` session for each (Graph has no client in the product's test stack but ours)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import exchangelib
import requests
from exchangelib import BASIC, DELEGATE, Account, Build, Configuration, Credentials, FailFast, Version

from addin.sandbox.mail import MailSandbox
from addin.sandbox.mail.seed import ALEX, PASSWORD

STAMP_ID = "String {f5230414-6a2a-4630-a44d-8e3ee6bf692d} Name CrmBridgeActivityId"
ALEX_TOKEN = "token-alex"
VERSION = Version(build=Build(15, 2, 1544, 4))


@dataclass
class Graph:
    sandbox: MailSandbox
    session: requests.Session

    @property
    def base(self) -> str:
        return self.sandbox.graph_url

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=30, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=30, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.session.patch(self.base + path, json=body, timeout=30, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.session.delete(self.base + path, timeout=30, **kw)

    def graph_ops(self) -> dict[str, int]:
        ops = self.sandbox.stats.snapshot()["by_operation"]
        return {k: v for k, v in ops.items() if k.startswith("graph:")}


def session_for(token: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s


@contextmanager
def running_sandbox(**kw: Any) -> Iterator[MailSandbox]:
    """A demo-seeded sandbox where ``ALEX_TOKEN`` is Alex's bearer token."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with MailSandbox(seed=kw.pop("seed", "demo"), busy_backoff_ms=200, **kw) as sandbox:
        sandbox.add_token(ALEX_TOKEN, ALEX.email)
        yield sandbox
    exchangelib.close_connections()


def ews_account(mail: MailSandbox, email: str = ALEX.email) -> Account:
    config = Configuration(
        service_endpoint=mail.ews_url,
        credentials=Credentials(email, PASSWORD),
        auth_type=BASIC,
        version=VERSION,
        retry_policy=FailFast(),
    )
    return Account(email, config=config, autodiscover=False, access_type=DELEGATE)
