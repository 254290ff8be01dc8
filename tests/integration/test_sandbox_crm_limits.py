"""The sandbox CRM under hostile requests: deep or huge filters and bodies, mistyped comparisons.

Each answer is a Dataverse-shaped error (``{"error": {"code", "message"}}``), never a 500
with a Python error; the server keeps answering afterwards.
"""

from __future__ import annotations

import json
import urllib.parse

import requests
from test_sandbox_crm_support import Api, api, crm, error_of

__all__ = ["api", "crm"]  # fixtures


def _still_answers(api: Api) -> None:
    assert api.get("WhoAmI").status_code == 200


def test_a_filter_with_a_thousand_ors_is_refused_not_crashed(api: Api) -> None:
    clause = " or ".join("statuscode eq 1" for _ in range(1000))
    r = api.get("emails?$select=subject&$filter=" + urllib.parse.quote(clause))
    assert r.status_code == 400
    assert error_of(r)["message"] == "The recursion limit has been exceeded."
    _still_answers(api)


def test_deeply_parenthesised_filter_is_refused(api: Api) -> None:
    clause = "(" * 1500 + "subject eq 'x'" + ")" * 1500
    r = api.get("emails?$select=subject&$filter=" + urllib.parse.quote(clause))
    assert r.status_code == 400 and "recursion limit" in error_of(r)["message"]
    _still_answers(api)


def test_a_filter_longer_than_a_url_may_be_is_414(api: Api) -> None:
    r = api.get("emails?$select=subject&$filter=" + urllib.parse.quote(f"subject eq '{'x' * 40_000}'"))
    assert r.status_code == 414 and error_of(r)["message"] == "The request URL is too long."


def test_an_ordinary_long_or_chain_still_works(api: Api) -> None:
    clause = " or ".join(f"statuscode eq {n}" for n in (1, 2, 3, 4, 5, 6, 7, 8) * 10)
    r = api.get("emails?$select=subject&$filter=" + urllib.parse.quote(clause))
    assert r.status_code == 200, r.text


def test_comparisons_are_type_checked(api: Api) -> None:
    cases = {
        "statuscode eq 'abc'": ("Edm.Int32", "Edm.String", "Equal"),
        "subject gt 5": ("Edm.String", "Edm.Int32", "GreaterThan"),
        "'abc' ne statuscode": ("Edm.String", "Edm.Int32", "NotEqual"),
        "createdon lt true": ("Edm.DateTimeOffset", "Edm.Boolean", "LessThan"),
    }
    for clause, (first, second, kind) in cases.items():
        r = api.get("emails?$filter=" + urllib.parse.quote(clause))
        assert r.status_code == 400, (clause, r.text)
        assert error_of(r)["message"] == (
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{first}' and '{second}' for operator kind '{kind}'."
        ), clause
    for clause in ("statuscode eq 6", "statuscode eq null", "subject eq 'x'", "createdon gt 2020-01-01"):
        assert api.get("emails?$filter=" + urllib.parse.quote(clause)).status_code == 200, clause


def test_deeply_nested_json_bodies_are_refused(api: Api) -> None:
    for depth in (150, 100_000):
        nested = '{"a":' * depth + "1" + "}" * depth
        body = '{"subject": "deep", "description": ' + nested + "}"
        r = api.session.post(
            api.url("emails"),
            data=body.encode(),
            headers={"Authorization": "Bearer sandbox", "Content-Type": "application/json"},
            timeout=30,
        )
        assert r.status_code == 400, (depth, r.status_code, r.text[:200])
        assert "nesting depth" in error_of(r)["message"]
    deep_array = "[" * 50_000 + "]" * 50_000
    r = api.session.post(
        api.url("emails"),
        data=deep_array.encode(),
        headers={"Authorization": "Bearer sandbox", "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400 and "nesting depth" in error_of(r)["message"]
    _still_answers(api)


def test_an_oversized_body_is_413(api: Api) -> None:
    big = json.dumps({"subject": "big", "description": "x" * (33 * 2**20)})
    r = requests.post(
        api.url("emails"),
        data=big.encode(),
        headers={"Authorization": "Bearer sandbox", "Content-Type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 413 and "larger than" in error_of(r)["message"]
    _still_answers(api)
