"""The target of a conformance run: one Web API service root and an authenticated session."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class Target:
    """One Web API service root and an authenticated session against it."""

    name: str
    base: str  # the service root, ending in /api/data/v9.2/
    session: requests.Session
    token: Callable[[], str]
    tag: str = field(default_factory=lambda: f"crmbridge-conformance-{uuid.uuid4().hex[:10]}")
    created: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.name == "live"

    def url(self, rel: str) -> str:
        return rel if rel.startswith("https://") else self.base + rel

    def request(self, method: str, rel: str, body: Any = None, **headers: str) -> requests.Response:
        hdrs = {
            "Authorization": f"Bearer {self.token()}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
        }
        hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
        data = None
        if body is not None:
            hdrs["Content-Type"] = "application/json; charset=utf-8"
            data = json.dumps(body).encode()
        return self.session.request(method, self.url(rel), data=data, headers=hdrs, timeout=60)

    def get(self, rel: str, **headers: str) -> requests.Response:
        return self.request("GET", rel, **headers)

    def post(self, rel: str, body: Any, **headers: str) -> requests.Response:
        return self.request("POST", rel, body, **headers)

    def remember(self, entity_set: str, record_id: str) -> str:
        """Delete this record when the run ends."""
        self.created.append(f"{entity_set}({record_id})")
        return record_id

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        r = self.post(entity_set, body)
        assert r.status_code == 204, r.text
        return self.remember(entity_set, r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")"))

    def clean_up(self) -> None:
        for path in reversed(self.created):
            r = self.request("DELETE", path)
            assert r.status_code in (204, 404), f"could not delete {path}: {r.text}"
        self.created.clear()
