"""The gateway package's layout: grouped by capability, without import cycles.

Read from the source with ``ast`` (nothing is imported), so a cycle fails here even where a
function-level import would keep it from failing at import time:

- no import cycle among the modules of ``carbonplane.gateway``, counting every import
  statement, function-level ones included (only ``if TYPE_CHECKING:`` blocks are skipped) and
  the ``__init__`` of every sub-package an import runs;
- at the top of ``gateway/`` only the packages by capability and the few modules listed here;
- no function-level import of another gateway module, but the ones listed here with why.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import carbonplane.gateway

GATEWAY = Path(carbonplane.gateway.__file__).parent
PACKAGE = "carbonplane.gateway"

TOP_PACKAGES = {"admin", "config", "plugins", "runtime"}
TOP_MODULES = {
    "__init__.py",  # the public names of the gateway
    "node.py",  # one running node: composes the runtime, the Admin API and its server
}
FUNCTION_LEVEL = {
    # the prometheus plugin may be left out of an install: no /metrics then (ImportError)
    ("carbonplane.gateway.node", "carbonplane.gateway.plugins.prometheus"),
}


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file of every module under ``root`` (a package's name is its folder's)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((package, *parts))] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, bool, int]]:
    """(imported module among ``known``, inside a function?, line) for every import statement."""
    found: list[tuple[str, bool, int]] = []
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - child.level + 1]
                    module = ".".join(base + ([module] if module else []))
                for alias in child.names:
                    sub = f"{module}.{alias.name}"
                    found.append((sub if sub in known else module, inner, child.lineno))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return [(target, inner, line) for target, inner, line in found if target in known]


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules its imports run, with the sub-package ``__init__``s on the way
    (below ``package`` itself, whose ``__init__`` every import of the package runs first)."""
    known = modules(root, package)
    depth = len(package.split("."))
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _, _ in imports(name, path, known):
            parts = target.split(".")
            for end in range(depth + 1, len(parts) + 1):
                step = ".".join(parts[:end])
                if step in known and step != name and not name.startswith(step + "."):
                    graph[name].add(step)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_gateway_has_no_import_cycle():
    found = cycles(import_graph(GATEWAY, PACKAGE))
    assert found == [], "import cycles in gateway/ (break them; no function-level dodges):\n" + (
        "\n".join(" <-> ".join(c) for c in found)
    )


def test_the_top_of_the_gateway_holds_only_capabilities():
    entries = {p.name for p in GATEWAY.iterdir() if not p.name.startswith((".", "__pycache__"))}
    packages = {n for n in entries if (GATEWAY / n / "__init__.py").exists()}
    loose = {n for n in entries - packages if n.endswith(".py")}
    assert packages == TOP_PACKAGES, f"gateway/ packages changed: {sorted(packages)}"
    assert loose <= TOP_MODULES, (
        f"new top-level modules in gateway/: {sorted(loose - TOP_MODULES)}; put them in the "
        f"package of their capability ({', '.join(sorted(TOP_PACKAGES))})"
    )


def test_no_function_level_import_between_gateway_modules_but_the_listed_ones():
    known = modules(GATEWAY, PACKAGE)
    found = {
        (name, target, f"{path.relative_to(GATEWAY)}:{line}")
        for name, path in known.items()
        for target, inner, line in imports(name, path, known)
        if inner
    }
    unlisted = sorted(
        where for name, target, where in found if (name, target) not in FUNCTION_LEVEL
    )
    assert unlisted == [], f"function-level imports of gateway modules: {unlisted}"


def test_the_plugins_folder_holds_plugins_and_one_kit():
    folders = {p.name for p in (GATEWAY / "plugins").iterdir() if (p / "__init__.py").exists()}
    assert "pdk" in folders
    for name in folders - {"pdk"}:
        plugin = GATEWAY / "plugins" / name
        assert (plugin / "handler.py").exists() and (plugin / "schema.py").exists(), name
    loose = {p.name for p in (GATEWAY / "plugins").glob("*.py")}
    assert loose == {"__init__.py"}, f"shared plugin code belongs in plugins/pdk/: {loose}"


# -- the checks themselves, on small packages written for the purpose --------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "files, expected",
    [
        (  # a cycle hidden by a function-level import still counts
            {
                "__init__.py": "",
                "a.py": "from pkg.b import x\n",
                "b.py": "def x():\n    from pkg import a\n",
            },
            [["pkg.a", "pkg.b"]],
        ),
        (  # through a sub-package's __init__ that imports its modules
            {
                "__init__.py": "",
                "sub/__init__.py": "from pkg.sub.inner import y\n",
                "sub/inner.py": "import pkg.top\n",
                "top.py": "from pkg.sub.other import z\n",
                "sub/other.py": "",
            },
            [["pkg.sub", "pkg.sub.inner", "pkg.top"]],
        ),
        (  # relative imports resolve like absolute ones
            {"__init__.py": "", "a.py": "from . import b\n", "b.py": "from .a import f\n"},
            [["pkg.a", "pkg.b"]],
        ),
        (  # imports for annotations only are not run
            {
                "__init__.py": "",
                "a.py": "from pkg.b import x\n",
                "b.py": (
                    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
                ),
            },
            [],
        ),
    ],
)
def test_the_cycle_check_finds_what_it_must(tmp_path, files, expected):
    root = write(tmp_path / "pkg", files)
    assert cycles(import_graph(root, "pkg")) == expected


def test_a_function_level_import_is_seen_as_one(tmp_path):
    root = write(tmp_path / "pkg", {"__init__.py": "", "a.py": "def f():\n    import pkg.b\n"})
    (root / "b.py").write_text("", encoding="utf-8")
    known = modules(root, "pkg")
    assert imports("pkg.a", root / "a.py", known) == [("pkg.b", True, 2)]
    assert os.path.basename(known["pkg"]) == "__init__.py"
