"""Read a declarative config text (YAML or JSON) into plain data plus the line of every node.

The loader reports problems as ``kong.yml:23: services[2].routes[0].pathz: unknown field``; this
module supplies the ``23``. It composes the YAML node graph with PyYAML's safe loader (the C
loader when available), constructs plain Python values from it and records, for every mapping key
and sequence item, the 1-based line where it starts, keyed by its path
(``("services", 2, "routes", 0, "pathz")``).

Rules: a document must be a single mapping; duplicate keys in one mapping are an error (PyYAML
would silently keep the last one, hiding a typo); JSON is read as YAML (every JSON document is
YAML 1.2, and the 1.1 differences do not affect config files), falling back to the ``json``
module only to produce its error message.

Bounds (this text may come from any Admin API client), checked on the node graph before anything
walks it with aliases followed (``check_shape``, one pass over the distinct nodes):
- nesting deeper than ``MAX_NESTING`` levels (counting what aliases pull in) is an error naming
  the line;
- a recursive alias (a node containing itself) is an error;
- aliases may add at most ``ALIAS_BUDGET`` nodes beyond the document's own: a "billion laughs"
  text of a few hundred bytes is refused in microseconds instead of expanding to millions of
  nodes in the duplicate and line checks, the loader and every consumer of the data.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from carbonplane.gateway.config.problems import Path

MAX_NESTING = 64  # containers inside containers; a Kong config needs about 12
ALIAS_BUDGET = 10_000  # nodes that aliases may add to a document

try:  # the C composer is ~10x faster on large files
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


class SourceError(ValueError):
    """The text is not a YAML/JSON mapping. ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


def read_source(text: str | bytes) -> tuple[Any, dict[Path, int]]:
    """Parse ``text``; return (data, marks) where marks maps node paths to 1-based lines."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(f"config is not UTF-8 text ({exc})") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SourceError('config is empty; it needs at least `_format_version: "3.0"`', 1)
        marks: dict[Path, int] = {(): node.start_mark.line + 1}
        check_shape(node)
        _check_duplicates(node, ())
        _record_marks(node, (), marks)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise SourceError(_yaml_message(text, exc), line) from None
    except yaml.YAMLError as exc:
        raise SourceError(f"could not parse YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SourceError(f"config must be a mapping at the top level, not {_kind(data)}", 1)
    return data, marks


def _yaml_message(text: str, exc: yaml.MarkedYAMLError) -> str:
    if text.lstrip().startswith(("{", "[")):
        try:
            json.loads(text)
        except json.JSONDecodeError as jexc:
            return f"could not parse JSON: {jexc.msg} (column {jexc.colno})"
        except RecursionError:
            return f"could not parse JSON: nested deeper than {MAX_NESTING} levels"
    return f"could not parse YAML: {exc.problem or exc.context}"


def _kind(value: Any) -> str:
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), type(value).__name__)


def _scalar_key(node: yaml.Node) -> Any:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def check_shape(root: yaml.Node) -> None:
    """Refuse deep nesting, recursive aliases and alias expansion beyond ``ALIAS_BUDGET``
    (raised as ``MarkedYAMLError`` with the line). Iterative; each distinct node is visited once,
    an alias counts its target's memoized size and height."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        kids = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for kid in reversed(kids):
            if id(kid) in on_path:
                raise yaml.MarkedYAMLError(
                    problem=f"recursive alias: the node at line {kid.start_mark.line + 1} "
                    "contains itself",
                    problem_mark=node.start_mark,
                )
            if id(kid) not in size:
                stack.append((kid, False))
    if height[id(root)] > MAX_NESTING:
        node, depth = root, 1
        while depth <= MAX_NESTING:
            node = max(_children(node), key=lambda k: height[id(k)])
            depth += 1
        raise yaml.MarkedYAMLError(
            problem=f"nested deeper than {MAX_NESTING} levels", problem_mark=node.start_mark
        )
    extra = size[id(root)] - len(size)
    if extra > ALIAS_BUDGET:
        count, mark, anchor = _largest_alias(root, size)
        raise yaml.MarkedYAMLError(
            problem=f"YAML aliases would add {extra} nodes to this document (limit "
            f"{ALIAS_BUDGET}); the alias here expands the anchor at line "
            f"{anchor.start_mark.line + 1} to {count} nodes",
            problem_mark=mark,
        )


def _largest_alias(root: yaml.Node, size: dict[int, int]) -> tuple[int, yaml.Mark, yaml.Node]:
    """The largest alias use: (its expanded size, the mark of its key or sequence, its anchor).
    PyYAML keeps no mark for an alias itself, so the line is its parent's."""
    seen = {id(root)}
    worst: tuple[int, yaml.Mark, yaml.Node] = (0, root.start_mark, root)
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            uses = [(kid, k.start_mark) for k, v in node.value for kid in (k, v)]
        else:
            uses = [(kid, node.start_mark) for kid in _children(node)]
        for kid, mark in uses:
            if id(kid) not in seen:
                seen.add(id(kid))
                stack.append(kid)
            elif size[id(kid)] > worst[0]:
                worst = (size[id(kid)], mark, kid)
    return worst


def _check_duplicates(node: yaml.Node, path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _scalar_key(key_node)
            if key is not None and key != "<<":
                if key in seen:
                    raise yaml.MarkedYAMLError(
                        problem=f"duplicate key {key!r} (first at line {seen[key]})",
                        problem_mark=key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
            _check_duplicates(value_node, path + (key,))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, path + (i,))


def _record_marks(node: yaml.Node, path: Path, marks: dict[Path, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = _scalar_key(key_node)
            if key is None:
                continue
            child = path + (str(key),)
            marks[child] = key_node.start_mark.line + 1
            _record_marks(value_node, child, marks)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            marks[path + (i,)] = item.start_mark.line + 1
            _record_marks(item, path + (i,), marks)


def line_of(marks: dict[Path, int], path: Path) -> int | None:
    """The line of the deepest recorded node on ``path``."""
    for end in range(len(path), -1, -1):
        line = marks.get(path[:end])
        if line is not None:
            return line
    return None
