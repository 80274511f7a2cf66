"""Imports run one way: cli and serve on top, then viz, then training, evaluation and
inference, then run storage and the runtime, then config, data and models, then utilities.
Read from the source with ``ast``, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mgmrn

SRC = Path(mgmrn.__file__).parent
# the layer of each top-level part of mgmrn: a module imports only from its own part or lower layers
LAYERS = {
    "errors": 0, "bounds": 1, "utils": 2,
    "models": 3, "data": 4, "config": 5, "storage": 6, "runtime": 7,
    "evaluation": 8, "inference": 8, "metrics": 9, "training": 9, "baselines": 9,
    "viz": 10, "serve": 11, "cli": 12, "__main__": 13,
}


def part(module: str) -> str:
    """``mgmrn.training.loop`` -> ``training``; the package itself (``from mgmrn import
    __version__``) counts as the lowest layer."""
    names = module.split(".")
    return names[1] if len(names) > 1 and names[1] in LAYERS else "errors"


def imports(path: Path) -> list[str]:
    """Every ``mgmrn`` module a source file imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] if node.module != "mgmrn" else [f"mgmrn.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return [m for m in found if m == "mgmrn" or m.startswith("mgmrn.")]


def source_modules() -> dict[str, Path]:
    modules = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        modules[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = path
    return modules


def wrong_way() -> list[str]:
    problems = []
    for module, path in sorted(source_modules().items()):
        if module == "mgmrn":
            continue
        own = part(module)
        for target in imports(path):
            other = part(target)
            if other != own and LAYERS[other] > LAYERS[own]:
                problems.append(f"{module} imports {target}")
    return problems


def test_every_part_has_a_layer():
    assert {m.split(".")[1] for m in source_modules() if m != "mgmrn"} == set(LAYERS)


def test_imports_run_one_way():
    assert wrong_way() == []


def test_nothing_imports_the_command_line_but_the_entry_point():
    users = [m for m, path in source_modules().items()
             if part(m) != "cli" and m != "mgmrn.__main__" and any(part(t) == "cli" for t in imports(path))]
    assert users == []


def test_the_check_sees_a_wrong_import(tmp_path, monkeypatch):
    bad = tmp_path / "mgmrn" / "models" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from mgmrn.training.trainer import Trainer\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path / "mgmrn")
    assert wrong_way() == ["mgmrn.models.bad imports mgmrn.training.trainer"]


def test_reading_a_config_imports_no_torch():
    probe = "import sys, mgmrn.config\nmgmrn.config.load_config('cub100')\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
