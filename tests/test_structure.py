"""Functions stay small: read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import mgmrn

SRC = Path(mgmrn.__file__).parent


def functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method (nested ones too) of the package, with its place."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((f"{path.relative_to(SRC)}:{node.lineno} {node.name}", node))
    return found


def lines(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Parameters a caller passes (``self`` and ``cls`` are not counted)."""
    a = node.args
    names = [x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]] + [x.arg for x in (a.vararg, a.kwarg) if x]
    return len([n for n in names if n not in ("self", "cls")])


def test_no_function_is_longer_than_50_lines_or_takes_more_than_8_parameters():
    found = functions()
    places = {name.split("/")[0] for name, _ in found}
    assert {"cli", "data", "models", "training", "serve", "viz", "utils"} <= places  # the walk sees every part
    assert [name for name, node in found if lines(node) > 50] == []
    assert [name for name, node in found if parameters(node) > 8] == []


def test_the_epoch_loop_is_short():
    (epoch,) = [node for name, node in functions() if node.name == "train_epoch"]
    assert lines(epoch) < 40 and parameters(epoch) <= 5


def test_the_checks_measure_what_they_say():
    tree = ast.parse("def f(self, a, b=1, *c, d, **e):\n    x = 1\n\n    return x\n")
    (f,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert lines(f) == 4 and parameters(f) == 5
