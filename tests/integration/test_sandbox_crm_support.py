"""Shared helpers for the sandbox CRM tests (no tests here): a running sandbox and Web API headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from addin.sandbox.crm import CrmSandbox

# The headers Microsoft's examples send on every Web API request (compose-http-requests-handle-errors.md).
BASE_HEADERS = {
    "Authorization": "Bearer sandbox",
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
}


@pytest.fixture
def crm() -> Iterator[CrmSandbox]:
    with CrmSandbox(seed="demo") as sandbox:
        yield sandbox


@pytest.fixture
def api(crm: CrmSandbox) -> Api:
    return Api(crm)


class Api:
    """Thin ``requests`` wrapper: relative URLs against the sandbox's service root."""

    def __init__(self, crm: CrmSandbox) -> None:
        self.crm = crm
        self.base = crm.base_url
        self.session = requests.Session()

    def url(self, rel: str) -> str:
        return rel if rel.startswith("http") else self.base + rel

    def request(self, method: str, rel: str, body: Any = None, **headers: str) -> requests.Response:
        hdrs = dict(BASE_HEADERS)
        hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
        data = None
        if body is not None:
            hdrs["Content-Type"] = "application/json; charset=utf-8"
            data = json.dumps(body).encode()
        return self.session.request(method, self.url(rel), data=data, headers=hdrs, timeout=30)

    def get(self, rel: str, **headers: str) -> requests.Response:
        return self.request("GET", rel, **headers)

    def post(self, rel: str, body: Any, **headers: str) -> requests.Response:
        return self.request("POST", rel, body, **headers)

    def patch(self, rel: str, body: Any, **headers: str) -> requests.Response:
        return self.request("PATCH", rel, body, **headers)

    def delete(self, rel: str, **headers: str) -> requests.Response:
        return self.request("DELETE", rel, **headers)

    def create(self, entity_set: str, body: Any) -> str:
        r = self.post(entity_set, body)
        assert r.status_code == 204, r.text
        entity_id = r.headers["OData-EntityId"]
        return entity_id.rsplit("(", 1)[1].rstrip(")")


def error_of(response: requests.Response) -> dict[str, Any]:
    """The ``error`` object of a Dataverse error body, checking its documented shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) >= {"code", "message"}, body
    return dict(body["error"])
