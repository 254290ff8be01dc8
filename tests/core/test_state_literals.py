"""States and codes are enums, each defined once: no module spells their values out.

The check reads the syntax tree (not the text), so comments and docstrings may still name a
state; what must not appear is a string or number used *as* one of these values.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.crm.mail_methods import DeliveryMethod, FilteringMethod
from addin.states import IssueAction, JournalState, SendOutcome

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = {ROOT / "addin" / "states.py", ROOT / "addin" / "crm" / "mail_methods.py"}
# Code that matches a state, an issue action or a CRM e-mail method (the sandboxes play the
# servers, the demos print reports; neither decides a state of the bridge).
CHECKED = [
    p
    for folder in ("addin", "ui")
    for p in sorted((ROOT / folder).rglob("*.py"))
    if p not in DEFINITIONS and "sandbox" not in p.parts
]
JOURNAL = {s.value for s in JournalState}
OUTCOMES = {s.value for s in SendOutcome}
ACTIONS = {a.value for a in IssueAction}


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _strings(node: ast.AST) -> Iterator[str]:
    """A constant, or the constants of a tuple/list/set (``x in ("a", "b")``)."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    for item in items:
        value = _str(item)
        if value is not None:
            yield value


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _findings(source: str, where: str) -> Iterator[str]:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        # Issue actions are distinctive words: none may appear as a string anywhere.
        value = _str(node)
        if value in ACTIONS:
            yield f"{where}:{node.lineno}: issue action {value!r}"
        if isinstance(node, ast.Call):
            called = _name(node.func)
            for kw in node.keywords:
                if kw.arg == "state" and _str(kw.value) in JOURNAL:
                    yield f"{where}:{node.lineno}: journal state {_str(kw.value)!r} in {called}()"
            if called == "outbox_in_states":
                for arg in node.args:
                    for s in _strings(arg):
                        yield f"{where}:{node.lineno}: journal state {s!r} in outbox_in_states()"
        if isinstance(node, ast.Compare):
            left = _name(node.left)
            for right in node.comparators:
                if left == "state":
                    for s in _strings(right):
                        if s in JOURNAL:
                            yield f"{where}:{node.lineno}: journal state {s!r} compared"
                if left == "outcome":
                    for s in _strings(right):
                        if s in OUTCOMES:
                            yield f"{where}:{node.lineno}: send outcome {s!r} compared"
                if left.endswith("method") and isinstance(right, ast.Constant) and type(right.value) is int:
                    yield f"{where}:{node.lineno}: CRM e-mail method {right.value} compared"
        if isinstance(node, ast.FunctionDef) and node.name == "send_one":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None and _str(inner.value):
                    yield f"{where}:{inner.lineno}: send outcome {_str(inner.value)!r} returned"


def test_the_checked_modules_include_the_ones_that_match_states() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in CHECKED}
    assert {"addin/engine/outbox.py", "addin/engine/autotrack.py", "ui/tray.py", "addin/bridge.py"} <= names


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_state_literal_outside_its_enum(path: Path) -> None:
    assert list(_findings(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())) == []


def test_the_check_finds_what_it_looks_for() -> None:
    """The check itself can fail: each kind of literal it forbids is found in a sample."""
    code = (
        "def send_one(x):\n"
        "    store.outbox_put('a', message_id='', state='sending')\n"
        "    store.outbox_in_states('failed', 'sent')\n"
        "    if rec.state == 'done' or outcome == 'pending' or ctx.outgoing_method == 1:\n"
        "        return 'sent'\n"
        "    return Issue('k', 't', 'm', 'retry_outbox')\n"
    )
    kinds = " ".join(_findings(code, "sample.py"))
    for expected in (
        "'sending' in outbox_put()",
        "'failed' in outbox_in_states()",
        "'sent' in outbox_in_states()",
        "journal state 'done' compared",
        "send outcome 'pending' compared",
        "CRM e-mail method 1 compared",
        "send outcome 'sent' returned",
        "issue action 'retry_outbox'",
    ):
        assert expected in kinds
    assert set(DeliveryMethod) and set(FilteringMethod)  # the definitions import cleanly
