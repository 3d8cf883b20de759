"""Read Istio resource files (multi-document YAML) into plain data plus the line of every node.

A mesh policy error reads ``authz.yaml:23: spec.rules[0].from[0].source.principal: unknown
field``; this module supplies the ``23``. It composes each document's node graph with PyYAML's
safe loader (the C one when available), checks it, builds plain Python values and records, for
every mapping key and sequence item, its 1-based line keyed by path (``("spec", "rules", 0)``).

The same idea as the gateway's config reader, kept separate because the mesh never imports the
gateway; it is stricter, since policy files have no use for YAML's graph features:
- **aliases are refused** (any node reached twice): a "billion laughs" text is refused after one
  pass over its few distinct nodes, before anything expands it; merge keys (``<<``) need aliases
  and are refused with them;
- nesting deeper than ``MAX_NESTING`` containers is refused with the line (an Istio resource
  needs about 10; libyaml itself stops at 1000);
- duplicate keys in one mapping are refused (PyYAML would keep the last one silently, which in
  a policy can widen access: the original platform had a rule with two ``source:`` keys);
- a file larger than ``MAX_FILE_BYTES`` is refused before parsing;
- a document that is empty (``---`` alone) is skipped, as kubectl does.

Nothing here raises: a syntax error or a refused shape ends its file with one issue (the
file's documents are then not used); everything else is returned for the resource parsers to
check field by field, so one load reports the problems of every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from carbonplane.mesh.policy.fields import Issue, Path

MAX_NESTING = 32
MAX_FILE_BYTES = 16 * 1024 * 1024

try:  # the C composer is ~10x faster on large files
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Document:
    """One YAML document of a file: its data, where it starts and the line of each node path."""

    file: str
    index: int  # 0-based position in its file
    line: int
    data: Any
    marks: dict[Path, int]


class _Refused(Exception):
    def __init__(self, message: str, line: int) -> None:
        self.line = line
        super().__init__(message)


def read_documents(text: str | bytes, file: str) -> tuple[list[Document], list[Issue]]:
    """Parse every document of ``text``; return (documents, issues). On a syntax error or a
    refused shape the file contributes no documents and one issue naming the line."""
    if len(text) > MAX_FILE_BYTES:
        return [], [
            Issue(
                file,
                None,
                (),
                f"file is {len(text)} bytes; the limit is {MAX_FILE_BYTES} (split it)",
            )
        ]
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [], [Issue(file, None, (), f"not UTF-8 text ({exc})")]
    loader = _Loader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
                continue
            _check_shape(node)
            marks: dict[Path, int] = {}
            _record_marks(node, (), marks)
            data = loader.construct_document(node)
            docs.append(Document(file, len(docs), node.start_mark.line + 1, data, marks))
    except _Refused as exc:
        return [], [Issue(file, exc.line, (), str(exc))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        return [], [Issue(file, line, (), f"could not parse YAML: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return [], [Issue(file, None, (), f"could not parse YAML: {exc}")]
    finally:
        loader.dispose()
    return docs, []


def _check_shape(root: yaml.Node) -> None:
    """Refuse aliases, merge keys, deep nesting and duplicate keys. Iterative, one visit per
    node: an alias is a node object met a second time, which is found before anything follows
    it twice. PyYAML keeps no mark for an alias itself, so its line is that of its key (in a
    mapping) or of its sequence."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int, yaml.Mark]] = [(root, 1, root.start_mark)]
    while stack:
        node, depth, site = stack.pop()
        if id(node) in seen:
            raise _Refused(
                f"YAML aliases (*name) are not accepted in policy files; write the "
                f"value of the anchor at line {node.start_mark.line + 1} out",
                site.line + 1,
            )
        seen.add(id(node))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and depth > MAX_NESTING:
            raise _Refused(f"nested deeper than {MAX_NESTING} levels", node.start_mark.line + 1)
        kids: list[tuple[yaml.Node, int, yaml.Mark]] = []
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(
                        "YAML merge keys (<<) are not accepted in policy files",
                        key.start_mark.line + 1,
                    )
                if isinstance(key, yaml.ScalarNode):
                    if key.value in first:
                        raise _Refused(
                            f"duplicate key {key.value!r} (first at line {first[key.value]})",
                            key.start_mark.line + 1,
                        )
                    first[key.value] = key.start_mark.line + 1
                kids += [(key, depth + 1, key.start_mark), (value, depth + 1, key.start_mark)]
        elif isinstance(node, yaml.SequenceNode):
            kids = [(kid, depth + 1, node.start_mark) for kid in node.value]
        stack.extend(reversed(kids))  # visit in document order: the anchor comes first


def _record_marks(node: yaml.Node, path: Path, marks: dict[Path, int]) -> None:
    marks[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = path + (key_node.value,)
                _record_marks(value_node, child, marks)
                marks[child] = key_node.start_mark.line + 1  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_marks(item, path + (i,), marks)
