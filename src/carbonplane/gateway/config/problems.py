"""Where a config is wrong, and how that is said: problem paths, Kong's nested error bodies and
its one-line summaries.

A problem is ``(path, message)``: ``path`` a tuple of field names and array indices
(``("services", 2, "routes", 0, "pathz")``), ending in ``ENTITY`` for a check across fields.
``format_path`` writes it as ``services[2].routes[0].pathz`` (the loader's ``file:line`` errors),
``nest_problems`` as Kong's ``fields`` object (Admin API 400 bodies), ``violation_message`` as
Kong's ``schema violation (...)`` summary.

Invariant: these functions only shape problems; they never decide what is a problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Path = tuple[str | int, ...]
Problem = tuple[Path, str]

ENTITY = "@entity"  # the last path element of a problem about the whole entity


def format_path(path: Path) -> str:
    """``("services", 2, "routes", 0, "pathz")`` -> ``services[2].routes[0].pathz``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def nest_problems(problems: Sequence[Problem]) -> dict[str, Any]:
    """Kong's nested ``fields`` object: ``{"config": {"second": "..."}, "@entity": ["..."]}``.

    Array element problems become a list aligned with the input (``null`` where valid).
    """
    root: dict[str, Any] = {}
    for path, message in problems:
        if path and path[-1] == ENTITY:
            _slot(root, path[:-1] + ("",)).setdefault(ENTITY, []).append(message)
            continue
        if not path:
            root.setdefault(ENTITY, []).append(message)
            continue
        parent = _slot(root, path)
        leaf = path[-1]
        if isinstance(parent, list):
            _grow(parent, leaf)
            parent[leaf] = message
        else:
            parent.setdefault(str(leaf), message)
    return root


def _slot(root: dict[str, Any], path: Path) -> Any:
    """The container that holds ``path[-1]``, creating lists for integer keys."""
    node: Any = root
    for i, part in enumerate(path[:-1]):
        nxt_is_index = isinstance(path[i + 1], int)
        fresh: Any = [] if nxt_is_index else {}
        if isinstance(node, list):
            _grow(node, part)
            if not isinstance(node[part], (dict, list)):
                node[part] = fresh
            node = node[part]
        else:
            child = node.get(str(part))
            if not isinstance(child, (dict, list)):
                child = node[str(part)] = fresh
            node = child
    return node


def _grow(items: list, index: Any) -> None:
    while len(items) <= index:
        items.append(None)


def violation_message(problems: Sequence[Problem]) -> str:
    """Kong's summary: ``schema violation (name: ...)`` or ``2 schema violations (a: ...; b: ...)``,
    entity-level messages first, then fields in sorted order."""
    entity = [m for p, m in problems if not p or p[-1] == ENTITY]
    fields = sorted((format_path(p), m) for p, m in problems if p and p[-1] != ENTITY)
    parts = entity + [f"{p}: {m}" for p, m in fields]
    if len(parts) == 1:
        return f"schema violation ({parts[0]})"
    return f"{len(parts)} schema violations ({'; '.join(parts)})"
