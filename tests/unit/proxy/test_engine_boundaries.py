"""The engine stands below its personalities: no module of ``carbonplane.proxy`` (layers and
stack included) imports ``carbonplane.gateway``, ``carbonplane.mesh`` or ``carbonplane.cli``, at
module level or inside a function, and every layer has a test module named after it."""

from __future__ import annotations

import ast
from pathlib import Path

import carbonplane.proxy

PROXY = Path(carbonplane.proxy.__file__).parent
FORBIDDEN = ("carbonplane.gateway", "carbonplane.mesh", "carbonplane.cli")
TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return out


def test_no_engine_module_imports_a_personality():
    sources = sorted(PROXY.rglob("*.py"))
    assert PROXY / "stack.py" in sources and PROXY / "layers" / "balance.py" in sources
    offenders = {
        str(path.relative_to(PROXY)): sorted(
            m for m in imported_modules(path) if m.startswith(FORBIDDEN)
        )
        for path in sources
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_layer_has_a_test_module_named_after_it():
    layers = sorted(p.stem for p in (PROXY / "layers").glob("*.py") if p.stem != "__init__")
    assert layers, "no layer modules found"
    missing = [name for name in layers if not (TESTS / "layers" / f"test_{name}.py").exists()]
    assert missing == []
