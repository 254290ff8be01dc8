"""The UI types its facade: every ``bridge`` parameter in ``ui/`` is a ``BridgeFacade``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bridge_parameters(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            for arg in args:
                if arg.arg == "bridge":
                    note = ast.unparse(arg.annotation) if arg.annotation is not None else "(none)"
                    found.append((node.lineno, note))
    return found


def test_every_ui_bridge_parameter_is_typed_with_the_facade_interface() -> None:
    seen = 0
    wrong = []
    for path in sorted((ROOT / "ui").glob("*.py")):
        for line, note in _bridge_parameters(path.read_text(encoding="utf-8")):
            seen += 1
            if note not in ("BridgeFacade", "BridgeFacade | None"):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: bridge: {note}")
    assert wrong == []
    assert seen >= 11  # the windows, the tray, the app, the adapter, the forms


def test_the_check_sees_an_untyped_bridge() -> None:
    assert _bridge_parameters("def f(bridge: Any, x: int) -> None: ...") == [(1, "Any")]
    assert _bridge_parameters("def f(*, bridge=None): ...") == [(1, "(none)")]
