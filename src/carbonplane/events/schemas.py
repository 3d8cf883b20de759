"""Schema export: JSON Schema (draft 2020-12) and Avro for every event type, from the code.

The msgspec Structs of ``events/types.py`` are the one source of truth; nothing in ``schemas/`` is
written by hand. ``render_schemas()`` produces, deterministically:

- ``json/<EventType>.schema.json`` — a standalone JSON Schema of the record value as it is on the
  wire: ``$id``, title and description, camelCase properties in wire order with descriptions
  (``field_docs.py``), enums, ranges and lengths. ``required`` lists every field the producer always
  writes (the envelope included); optional fields are absent, never null. Unknown properties are
  allowed, as the decoder ignores them (consumers stay compatible when a type gains a field).
- ``avro/<EventType>.avsc`` — an Avro record in ``com.carbon254.events.<category>``: fields in wire
  order, optional fields as ``["null", T]`` with default null, closed enums as Avro enums (symbols
  in declaration order), ``long`` for counts and ms timestamps (``int`` only for ranges that fit 32
  bits, such as HTTP status codes), ``double`` for floats, maps, arrays and the nested ColumnLineage
  record. The one-value ``eventType`` literal is an Avro string.
- ``catalog.json`` — the 12 topics with their settings, event type, key and CloudEvents type.
- ``README.md`` — what the folder is and how to regenerate it.

``stale_schemas(root)`` lists files that differ from the rendering, are missing, or are extra (old
``json/*.schema.json`` / ``avro/*.avsc``); a test fails on any. Regenerate with ``make schemas``
(``python -m carbonplane.events.schemas schemas``).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

import msgspec
from msgspec import inspect as mi

from carbonplane.events.catalog import TOPIC_BY_EVENT_TYPE, TOPICS
from carbonplane.events.field_docs import field_doc
from carbonplane.events.types import (
    EVENT_TYPES,
    EVENT_TYPES_BY_NAME,
    MAX_FLOAT,
    SCHEMA_VERSION,
    Event,
)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URI = f"https://schemas.carbon254.com/events/{SCHEMA_VERSION}/"
AVRO_NAMESPACE = "com.carbon254.events"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
GENERATED_GLOBS = ("json/*.schema.json", "avro/*.avsc")


# -- JSON Schema -----------------------------------------------------------------------------------


def json_schema(cls: type[Event]) -> dict[str, Any]:
    """The standalone JSON Schema of ``cls``'s wire payload."""
    base = msgspec.json.schema(cls)
    defs: dict[str, Any] = base["$defs"]
    body = _described(cls, defs.pop(cls.__name__))
    body["required"] = [f.encode_name for f in _fields(cls) if not _optional(f)]
    spec = TOPIC_BY_EVENT_TYPE[cls.__name__]
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{SCHEMA_BASE_URI}{cls.__name__}.schema.json",
        **body,
    }
    if defs:
        schema["$defs"] = {
            name: _described(_struct_named(cls, name), d) for name, d in defs.items()
        }
    schema["x-kafka-topic"] = spec.name
    schema["x-kafka-key"] = spec.key_field
    schema["x-cloudevents-type"] = cls.CE_TYPE
    schema["x-schema-version"] = SCHEMA_VERSION
    return schema


def _described(cls: type, body: dict[str, Any]) -> dict[str, Any]:
    """Clean the docstring, describe every property, enums in declaration order,
    literal -> const."""
    props: dict[str, Any] = {}
    for f in _fields(cls):
        prop = dict(body["properties"][f.encode_name])
        prop.pop("description", None)
        values = _literal_values(cls, f.name)
        if values is not None and len(values) == 1:
            prop.pop("enum", None)
            prop = {"const": values[0], **prop}
        elif values is not None:
            prop["enum"] = list(values)
        if (
            prop.get("maximum") == MAX_FLOAT
        ):  # the Python bound that keeps infinity out; JSON numbers are finite
            del prop["maximum"]
        props[f.encode_name] = {"description": field_doc(cls.__name__, f.encode_name), **prop}
    out = {"title": cls.__name__, "description": _doc(cls), "type": "object", "properties": props}
    if body.get("required"):
        out["required"] = body["required"]
    return out


# -- Avro ------------------------------------------------------------------------------------------


def avro_schema(cls: type[Event]) -> dict[str, Any]:
    """The Avro record schema of ``cls`` (loads with ``fastavro.parse_schema``)."""
    namespace = f"{AVRO_NAMESPACE}.{TOPIC_BY_EVENT_TYPE[cls.__name__].category}"
    return _avro_record(cls, namespace, defined=set())


def _avro_record(cls: type, namespace: str, defined: set[str]) -> dict[str, Any]:
    defined.add(cls.__name__)
    fields = []
    for f in _fields(cls):
        avro_type = _avro_type(f.type, cls, f, namespace, defined)
        field: dict[str, Any] = {"name": f.encode_name}
        if _optional(f):
            field.update(type=["null", avro_type], default=None)
        else:
            field["type"] = avro_type
            default = _default(f)
            if default is not msgspec.NODEFAULT:
                field["default"] = default
        field["doc"] = field_doc(cls.__name__, f.encode_name)
        fields.append(field)
    return {
        "type": "record",
        "name": cls.__name__,
        "namespace": namespace,
        "doc": _doc(cls),
        "fields": fields,
    }


def _avro_type(t: mi.Type, owner: type, f: mi.Field, namespace: str, defined: set[str]) -> Any:
    if isinstance(t, mi.Metadata):
        return _avro_type(t.type, owner, f, namespace, defined)
    if isinstance(t, mi.StrType):
        return "string"
    if isinstance(t, mi.BoolType):
        return "boolean"
    if isinstance(t, mi.IntType):
        bounded = t.ge is not None and t.le is not None and INT32_MIN <= t.ge and t.le <= INT32_MAX
        return "int" if bounded else "long"
    if isinstance(t, mi.FloatType):
        return "double"
    if isinstance(t, mi.LiteralType):
        values = _literal_values(owner, f.name) or t.values
        if len(values) == 1:
            return "string"
        return {
            "type": "enum",
            "name": _enum_name(owner.__name__, f.encode_name),
            "symbols": list(values),
        }
    if isinstance(t, mi.DictType):
        return {"type": "map", "values": _avro_type(t.value_type, owner, f, namespace, defined)}
    if isinstance(t, mi.ListType):
        return {"type": "array", "items": _avro_type(t.item_type, owner, f, namespace, defined)}
    if isinstance(t, mi.StructType):
        if t.cls.__name__ in defined:
            return t.cls.__name__
        return _avro_record(t.cls, namespace, defined)
    raise TypeError(
        f"{owner.__name__}.{f.encode_name}: no Avro mapping for {t!r}; extend schemas._avro_type"
    )


def _enum_name(owner: str, field: str) -> str:
    """``ServiceHealthEvent`` + ``healthStatus`` -> ``ServiceHealthStatus`` (no repeated word)."""
    stem = _words(owner.removesuffix("Event"))
    tail = _words(field[:1].upper() + field[1:])
    if stem and tail and stem[-1] == tail[0]:
        tail = tail[1:]
    return "".join(stem + tail)


def _words(pascal: str) -> list[str]:
    return re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*", pascal)


# -- shared introspection --------------------------------------------------------------------------


def _fields(cls: type) -> tuple[mi.Field, ...]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return info.fields


def _optional(f: mi.Field) -> bool:
    """Optional = may be absent from the wire (``X | UnsetType = UNSET``)."""
    return (
        not f.required and f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT
    )


def _default(f: mi.Field) -> Any:
    if f.default_factory is not msgspec.NODEFAULT:
        return msgspec.to_builtins(f.default_factory())
    return f.default if f.default is msgspec.NODEFAULT else msgspec.to_builtins(f.default)


def _literal_values(cls: type, attr: str) -> tuple[Any, ...] | None:
    """The values of a ``Literal`` field in declaration order (msgspec's introspection
    sorts them)."""
    hint = typing.get_type_hints(cls, include_extras=True)[attr]
    stack = [hint]
    while stack:
        t = stack.pop()
        if typing.get_origin(t) is typing.Literal:
            return typing.get_args(t)
        stack.extend(typing.get_args(t))
    return None


def _struct_named(cls: type, name: str) -> type:
    for f in _fields(cls):
        t = f.type.item_type if isinstance(f.type, mi.ListType) else f.type
        if isinstance(t, mi.StructType) and t.cls.__name__ == name:
            return t.cls
    raise KeyError(f"{cls.__name__} has no nested struct {name!r}")


def _doc(cls: type) -> str:
    """The class docstring as schema text: each paragraph on one line (source line breaks are
    wrapping, not content), paragraphs separated by a blank line."""
    text = inspect.cleandoc(cls.__doc__ or "")
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


# -- the catalog and the files ---------------------------------------------------------------------


def catalog_document() -> dict[str, Any]:
    """The 12 topics as data: settings, event type, record key, CloudEvents type, schema files."""
    topics = []
    for t in TOPICS:
        cls = EVENT_TYPES_BY_NAME[t.event_type]
        topics.append(
            {
                "name": t.name,
                "category": t.category,
                "partitions": t.partitions,
                "retention.ms": t.retention_ms,
                "cleanup.policy": t.cleanup_policy,
                "compression.type": t.compression,
                "eventType": t.event_type,
                "key": t.key_field,
                "ce_type": cls.CE_TYPE,
                "jsonSchema": f"json/{t.event_type}.schema.json",
                "avroSchema": f"avro/{t.event_type}.avsc",
            }
        )
    return {"schemaVersion": SCHEMA_VERSION, "topics": topics}


_README = """\
# Event schemas (generated)

Generated from the event types in `src/carbonplane/events/types.py` by
`src/carbonplane/events/schemas.py`. Do not edit: change the types, then run `make schemas`.
A test fails when these files are out of date.

- `json/<EventType>.schema.json`: JSON Schema (draft 2020-12) of each event's JSON record value.
- `avro/<EventType>.avsc`: the same event as an Avro record
  (namespace `com.carbon254.events.<category>`).
- `catalog.json`: the {n} topics, their settings, event type, record key and CloudEvents type.

Schema version {version}. See docs/events.md for the envelope, headers and validation rules.
"""


def _text(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_schemas() -> dict[str, str]:
    """Every generated file: relative path -> text (deterministic)."""
    out: dict[str, str] = {}
    for cls in EVENT_TYPES:
        out[f"json/{cls.__name__}.schema.json"] = _text(json_schema(cls))
        out[f"avro/{cls.__name__}.avsc"] = _text(avro_schema(cls))
    out["catalog.json"] = _text(catalog_document())
    out["README.md"] = _README.format(n=len(TOPICS), version=SCHEMA_VERSION)
    return out


def _extra_files(root: Path, rendered: dict[str, str]) -> list[str]:
    found = {p.relative_to(root).as_posix() for g in GENERATED_GLOBS for p in root.glob(g)}
    return sorted(found - rendered.keys())


def stale_schemas(root: Path) -> list[str]:
    """Relative paths under ``root`` that are missing, differ from the rendering, or are extra."""
    rendered = render_schemas()
    stale = [
        rel
        for rel, text in rendered.items()
        if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != text
    ]
    return sorted(stale + _extra_files(root, rendered))


def write_schemas(root: Path) -> list[Path]:
    """Write every rendered file that is missing or different and delete extra generated files.

    Returns the paths written or deleted (empty when ``root`` was already current).
    """
    rendered = render_schemas()
    changed: list[Path] = []
    for rel, text in rendered.items():
        path = root / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(path)
    for rel in _extra_files(root, rendered):
        (root / rel).unlink()
        changed.append(root / rel)
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m carbonplane.events.schemas [--check] [ROOT]`` (ROOT defaults to ./schemas)."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    rest = [a for a in args if a != "--check"]
    root = Path(rest[0] if rest else "schemas")
    if check:
        stale = stale_schemas(root)
        for rel in stale:
            print(f"stale: {root / rel}", file=sys.stderr)
        if stale:
            print("run `make schemas` to regenerate them", file=sys.stderr)
        return 1 if stale else 0
    for path in write_schemas(root):
        print(f"{'wrote' if path.exists() else 'deleted'} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
