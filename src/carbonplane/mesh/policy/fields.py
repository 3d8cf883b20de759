"""Typed reading of one resource's plain data, reporting every problem with file, line and path.

The resource parsers (``peer_authn``, ``authz``, ``destination_rule``, ``virtual_service``) read
their ``spec`` through a ``Fields`` object. Each helper returns a typed value (or None/a default)
and, when the data is wrong, appends an ``Issue`` instead of raising, so one load reports every
problem of every file at once. Invariants:
- a key that is not in the resource's schema is an issue ("unknown field", with a close match);
- a key that Istio defines but this mesh does not implement is an issue ("unsupported: why");
  neither is ever dropped silently, because a dropped policy field changes who gets access;
- paths are tuples: ``str`` for mapping keys (as written), ``int`` for sequence positions.

``PolicyError`` (a ``ConfigError``) carries the full list; its message shows them one a line as
``file:line: spec.rules[0].to[0].operation.pathz: unknown field 'pathz' (did you mean 'paths'?)``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from carbonplane.errors import ConfigError

Path = tuple[Union[str, int], ...]


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Issue:
    """One problem: the file, the 1-based line when known, the field path and what is wrong."""

    file: str
    line: int | None
    path: Path
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {dotted(self.path)}: {self.message}"
            if self.path
            else f"{where}: {self.message}"
        )


class PolicyError(ConfigError):
    """A policy config is invalid. ``issues`` lists every problem found (file, line, path)."""

    SHOWN = 50

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = tuple(issues)
        lines = [str(i) for i in issues[: self.SHOWN]]
        if len(issues) > self.SHOWN:
            lines.append(f"... and {len(issues) - self.SHOWN} more")
        noun = "problem" if len(issues) == 1 else "problems"
        super().__init__(f"mesh policy has {len(issues)} {noun}:\n  " + "\n  ".join(lines))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _kind(value: Any) -> str:
    return {
        list: "a list",
        dict: "a mapping",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        type(None): "empty",
    }.get(type(value), type(value).__name__)


class Fields:
    """Reads one document's data; collects ``issues`` with lines from the document's marks."""

    def __init__(self, file: str, marks: Mapping[Path, int], issues: list[Issue]) -> None:
        self.file = file
        self.marks = marks
        self.issues = issues

    def line(self, path: Path) -> int | None:
        for end in range(len(path), -1, -1):
            found = self.marks.get(path[:end])
            if found is not None:
                return found
        return None

    def report(self, path: Path, message: str) -> None:
        self.issues.append(Issue(self.file, self.line(path), path, message))

    def mapping(
        self,
        value: Any,
        path: Path,
        known: set[str] | frozenset[str],
        unsupported: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``value`` as a mapping restricted to ``known`` keys; every other key is reported."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.report(path, f"must be a mapping, not {_kind(value)}")
            return {}
        unsupported = unsupported or {}
        for key in value:
            at = path + (str(key),)
            if key in unsupported:
                self.report(at, f"unsupported: {unsupported[key]}")
            elif key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.report(at, f"unknown field {key!r}{hint}")
        return {k: v for k, v in value.items() if k in known}

    def items(self, m: Mapping[str, Any], key: str, path: Path) -> list[tuple[Path, Any]]:
        """The items of a list field with their paths; absent or null is empty."""
        value = m.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.report(path + (key,), f"must be a list, not {_kind(value)}")
            return []
        return [(path + (key, i), item) for i, item in enumerate(value)]

    def text(
        self,
        m: Mapping[str, Any],
        key: str,
        path: Path,
        *,
        required: bool = False,
        choices: tuple[str, ...] | None = None,
    ) -> str | None:
        value = m.get(key)
        if value is None:
            if required:
                self.report(path + (key,) if key in m else path, f"{key!r} is required")
            return None
        if not isinstance(value, str) or not value:
            self.report(path + (key,), f"must be a non-empty string, not {value!r}")
            return None
        if choices is not None and value not in choices:
            self.report(path + (key,), f"{value!r} is not one of {', '.join(choices)}")
            return None
        return value

    def texts(self, m: Mapping[str, Any], key: str, path: Path) -> tuple[str, ...]:
        out = []
        for at, item in self.items(m, key, path):
            if isinstance(item, str) and item:
                out.append(item)
            else:
                quote = " (quote it)" if isinstance(item, (int, float, bool)) else ""
                self.report(at, f"must be a non-empty string, not {item!r}{quote}")
        return tuple(out)

    def integer(
        self,
        m: Mapping[str, Any],
        key: str,
        path: Path,
        lo: int,
        hi: int,
        *,
        required: bool = False,
    ) -> int | None:
        value = m.get(key)
        if value is None:
            if required:
                self.report(path, f"{key!r} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.report(path + (key,), f"must be an integer from {lo} to {hi}, not {value!r}")
            return None
        return value

    def number(
        self, m: Mapping[str, Any], key: str, path: Path, lo: float, hi: float
    ) -> float | None:
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            self.report(path + (key,), f"must be a number from {lo:g} to {hi:g}, not {value!r}")
            return None
        return float(value)

    def flag(self, m: Mapping[str, Any], key: str, path: Path) -> bool | None:
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.report(path + (key,), f"must be true or false, not {value!r}")
            return None
        return value

    def duration(
        self, m: Mapping[str, Any], key: str, path: Path, *, minimum: float = 0.0
    ) -> float | None:
        """A duration such as ``10s``, ``1.5s``, ``300ms``, ``1h30m``, in seconds."""
        value = m.get(key)
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds is None or seconds < minimum:
            low = f" of at least {minimum:g}s" if minimum else ""
            self.report(
                path + (key,),
                f"must be a duration{low} such as '10s', '300ms' or '1h', not {value!r}",
            )
            return None
        return seconds

    def percentage(self, m: Mapping[str, Any], key: str, path: Path) -> float | None:
        """Istio's ``Percent`` message: ``{value: 0.0-100.0}``."""
        if m.get(key) is None:
            return None
        inner = self.mapping(m[key], path + (key,), {"value"})
        return self.number(inner, "value", path + (key,), 0.0, 100.0)


def parse_duration(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    pos, total = 0, 0.0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return total if pos == len(value) else None


def labels_selector(
    fields: Fields, spec: Mapping[str, Any], key: str, path: Path
) -> tuple[tuple[str, str], ...] | None:
    """A ``WorkloadSelector`` (``{matchLabels: {k: v}}``) as sorted pairs; None when absent."""
    if key not in spec:
        return None
    at = path + (key,)
    sel = fields.mapping(spec[key], at, {"matchLabels"})
    labels = sel.get("matchLabels")
    if labels is not None and not isinstance(labels, dict):
        fields.report(at + ("matchLabels",), "must be a mapping of label to value")
        labels = None
    pairs = []
    for k, v in (labels or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            fields.report(
                at + ("matchLabels", str(k)), f"labels are strings (quote {v!r} in the YAML)"
            )
        else:
            pairs.append((k, v))
    if not pairs:
        fields.report(
            at,
            "selector has no matchLabels; remove the selector to select every "
            "workload of the namespace",
        )
        return None
    return tuple(sorted(pairs))


def selector_matches(selector: tuple[tuple[str, str], ...], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector)
