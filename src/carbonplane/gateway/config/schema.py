"""Typed field schemas for the gateway's entities: one declaration drives validation, defaults,
Admin API error bodies, form-body coercion, ``GET /schemas/{entity}`` and the reference docs.

The vocabulary mirrors Kong's schema library (``kong/db/schema``): field types ``string``,
``integer``, ``number``, ``boolean``, ``array``, ``set``, ``map``, ``record`` and ``foreign``;
validators ``one_of``, ``between``, ``len_min``/``len_max``, ``starts_with``, ``pattern`` and a
custom ``check``; entity checks across fields. Error messages are Kong's wording ("required field
missing", "unknown field", "expected an integer", "expected one of: a, b", "value should be between
0 and 32767") so that a Kong user reads the errors they know.

Invariants:
- ``validate`` never raises for bad input; it returns the normalised value and a list of
  ``(path, message)`` problems where ``path`` is a tuple of field names and array indices.
- A value that validates comes out normalised: defaults applied, sets deduplicated (order kept),
  integral floats turned into ints. Nothing in the input is mutated.
- Entities are frozen after validation (``freeze``): mappings become read-only, lists tuples.
  ``thaw`` turns them back into JSON-ready dicts and lists.

How problems are written out is in ``problems``; the JSON description of a schema in
``describe``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from types import MappingProxyType
from typing import Any

from carbonplane.gateway.config.problems import ENTITY, Path, Problem

_MISSING = object()

_TYPE_ERRORS = {
    "string": "expected a string",
    "integer": "expected an integer",
    "number": "expected a number",
    "boolean": "expected a boolean",
    "array": "expected an array",
    "set": "expected a set",
    "map": "expected a map",
    "record": "expected a record",
    "foreign": "expected a record",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One typed field. ``default`` may be any JSON value (copied on use); ``check`` returns an
    error message or None; ``auto`` fields (ids, timestamps) are filled by the entity layer."""

    type: str
    description: str = ""
    default: Any = _MISSING
    required: bool = False
    nullable: bool = True
    elements: Field | None = None
    keys: Field | None = None
    values: Field | None = None
    record: Record | None = None
    reference: str | None = None
    one_of: tuple[Any, ...] | None = None
    between: tuple[float, float] | None = None
    len_min: int | None = None
    len_max: int | None = None
    starts_with: str | None = None
    pattern: str | None = None
    pattern_error: str | None = None
    check: Callable[[Any], str | None] | None = None
    auto: bool = False
    unique: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


@dataclass(frozen=True, slots=True)
class Record:
    """An ordered set of named fields plus cross-field checks.

    Each check takes the normalised record and returns problems as ``(field_or_@entity, message)``.
    """

    fields: tuple[tuple[str, Field], ...]
    checks: tuple[Callable[[Mapping[str, Any]], list[tuple[str, str]]], ...] = ()
    _index: dict[str, Field] = dc_field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update(self.fields)

    def get(self, name: str) -> Field | None:
        return self._index.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)


def record(*fields: tuple[str, Field], checks: Sequence[Callable] = ()) -> Record:
    return Record(tuple(fields), tuple(checks))


# -- validation ------------------------------------------------------------------------------


def validate(
    rec: Record, value: Any, path: Path = ()
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Validate ``value`` against ``rec``; return (normalised dict or None, problems)."""
    problems: list[Problem] = []
    out = _validate_record(rec, value, path, problems)
    return out, problems


def _validate_record(rec: Record, value: Any, path: Path, problems: list[Problem]) -> dict | None:
    if not isinstance(value, Mapping):
        problems.append((path, _TYPE_ERRORS["record"]))
        return None
    out: dict[str, Any] = {}
    before = len(problems)
    for key in value:
        if not isinstance(key, str) or rec.get(key) is None:
            problems.append((path + (str(key),), "unknown field"))
    for name, fld in rec.fields:
        raw = value.get(name, _MISSING)
        out[name] = _validate_present_or_default(fld, raw, path + (name,), problems)
    if len(problems) == before:
        for check in rec.checks:
            for where, message in check(out):
                problems.append(
                    (path + ((ENTITY,) if where == ENTITY else tuple(where.split("."))), message)
                )
    return out


def _validate_present_or_default(fld: Field, raw: Any, path: Path, problems: list[Problem]) -> Any:
    if raw is _MISSING:
        if fld.has_default:
            raw = copy_value(fld.default)
        elif fld.type == "record" and fld.record is not None and fld.required:
            raw = {}
        else:
            if fld.required and not fld.auto:
                problems.append((path, "required field missing"))
            return None
    if raw is None:
        if fld.required and not fld.auto:
            problems.append((path, "required field missing"))
        elif not fld.nullable:
            problems.append((path, "field is not nullable"))
        return None
    return validate_value(fld, raw, path, problems)


def validate_value(fld: Field, raw: Any, path: Path, problems: list[Problem]) -> Any:
    """Validate one non-null value for ``fld``; append problems; return the normalised value."""
    kind = fld.type
    if kind == "string":
        if not isinstance(raw, str):
            problems.append((path, _TYPE_ERRORS[kind]))
            return None
        value: Any = raw
    elif kind == "integer":
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool):
            problems.append((path, _TYPE_ERRORS[kind]))
            return None
        value = raw
    elif kind == "number":
        if not isinstance(raw, (int, float)) or isinstance(raw, bool):
            problems.append((path, _TYPE_ERRORS[kind]))
            return None
        value = raw
    elif kind == "boolean":
        if not isinstance(raw, bool):
            problems.append((path, _TYPE_ERRORS[kind]))
            return None
        value = raw
    elif kind in ("array", "set"):
        return _validate_sequence(fld, raw, path, problems)
    elif kind == "map":
        return _validate_map(fld, raw, path, problems)
    elif kind == "record":
        assert fld.record is not None
        return _validate_record(fld.record, raw, path, problems)
    elif kind == "foreign":
        return _validate_foreign(raw, path, problems)
    else:  # pragma: no cover - schema definition error
        raise TypeError(f"unknown field type {kind!r}")
    message = _run_validators(fld, value)
    if message:
        problems.append((path, message))
        return None
    return value


def _validate_sequence(fld: Field, raw: Any, path: Path, problems: list[Problem]) -> list | None:
    if not isinstance(raw, (list, tuple)):
        problems.append((path, _TYPE_ERRORS[fld.type]))
        return None
    assert fld.elements is not None
    out: list[Any] = []
    seen: set[Any] = set()
    for i, item in enumerate(raw):
        if item is None:
            problems.append((path + (i,), "required field missing"))
            continue
        value = validate_value(fld.elements, item, path + (i,), problems)
        if fld.type == "set":
            marker = repr(value)
            if marker in seen:
                continue
            seen.add(marker)
        out.append(value)
    message = _length_error(fld, len(out))
    if message:
        problems.append((path, message))
    return out


def _validate_map(fld: Field, raw: Any, path: Path, problems: list[Problem]) -> dict | None:
    if not isinstance(raw, Mapping):
        problems.append((path, _TYPE_ERRORS["map"]))
        return None
    assert fld.keys is not None and fld.values is not None
    out: dict[Any, Any] = {}
    before = len(problems)
    for key, item in raw.items():
        key_v = validate_value(fld.keys, key, path + (str(key),), problems)
        if item is None:
            problems.append((path + (str(key),), "required field missing"))
            continue
        out[key_v] = validate_value(fld.values, item, path + (str(key),), problems)
    if fld.check is not None and len(problems) == before:
        message = fld.check(out)
        if message:
            problems.append((path, message))
    return out


def _validate_foreign(raw: Any, path: Path, problems: list[Problem]) -> dict | None:
    if isinstance(raw, Mapping) and set(raw) == {"id"} and isinstance(raw["id"], str):
        if is_uuid(raw["id"]):
            return {"id": raw["id"]}
        problems.append((path + ("id",), "expected a valid UUID"))
        return None
    problems.append((path, 'expected a reference {"id": "<uuid>"}'))
    return None


def _length_error(fld: Field, n: int) -> str | None:
    if fld.len_min is not None and n < fld.len_min:
        return f"length must be at least {fld.len_min}"
    if fld.len_max is not None and n > fld.len_max:
        return f"length must be at most {fld.len_max}"
    return None


def _run_validators(fld: Field, value: Any) -> str | None:
    if fld.one_of is not None and value not in fld.one_of:
        return "expected one of: " + ", ".join(str(o) for o in fld.one_of)
    if fld.between is not None:
        low, high = fld.between
        if not low <= value <= high:
            return f"value should be between {_num(low)} and {_num(high)}"
    if isinstance(value, str):
        message = _length_error(fld, len(value))
        if message:
            return message
        if fld.starts_with is not None and not value.startswith(fld.starts_with):
            return f"should start with: {fld.starts_with}"
        if fld.pattern is not None and not re.fullmatch(fld.pattern, value):
            return fld.pattern_error or f"invalid value: {value}"
    if fld.check is not None:
        return fld.check(value)
    return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def is_uuid(text: str) -> bool:
    return len(text) == 36 and _UUID_RE.match(text) is not None


# -- freezing --------------------------------------------------------------------------------


def freeze(value: Any) -> Any:
    """Deep read-only copy: dicts -> MappingProxyType, lists -> tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Deep JSON-ready copy of a frozen value."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def copy_value(value: Any) -> Any:
    return thaw(value) if isinstance(value, (Mapping, list, tuple)) else value
