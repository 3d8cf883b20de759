"""Admin API request bodies and query strings, as Kong accepts them.

Kong takes JSON and ``application/x-www-form-urlencoded`` bodies alike. Form values are strings,
so they are coerced with the entity's schema: ``retries=3`` -> 3, ``strip_path=false`` ->
False, arrays from repeated keys or ``paths[]=``/``paths[1]=`` forms, nested records and maps
with dots (``config.minute=5``, ``headers.x-version=v1``), references as ``service.id=`` or
``service.name=``, and an empty value as null. A value that cannot be coerced is left as the
string so that validation reports it ("expected an integer") rather than guessing.

Invariants: parsing never raises anything but ``BodyError`` (answered 400 or 415); JSON bodies are
taken as they are (Kong does not coerce JSON) but nested at most ``MAX_NESTING`` levels (the same
bound as YAML configs, ``gateway/config/source.py``): deeper input is a 400 naming the limit,
never a ``RecursionError`` in a later recursive walk.

``body_schema`` is the schema a form body is coerced with (for plugins, with the named plugin's
``config``).
"""

from __future__ import annotations

import email.policy
import json
import re
from collections.abc import Mapping
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from carbonplane.gateway.config.entities import ENTITY_TYPES, plugin_spec
from carbonplane.gateway.config.schema import Field, Record
from carbonplane.gateway.config.source import MAX_NESTING

_INDEX_RE = re.compile(r"\[(\d*)\]")


class BodyError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def content_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def parse_body(body: bytes, headers: Mapping[str, str], schema: Record | None) -> dict[str, Any]:
    """The body as a dict (coerced with ``schema`` when form-encoded). Empty body -> {}."""
    if not body.strip():
        return {}
    ctype = content_type(headers)
    if ctype == "application/json" or (not ctype and body.lstrip().startswith(b"{")):
        try:
            data = load_json(body)
        except BodyError:
            raise
        except (ValueError, UnicodeDecodeError):
            raise BodyError(400, "Cannot parse JSON body") from None
        if not isinstance(data, dict):
            raise BodyError(400, "JSON body must be an object")
        return data
    if ctype in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BodyError(400, "form body is not UTF-8") from None
        return coerce_form(pairs, schema)
    raise BodyError(
        415,
        f"Unsupported Content-Type '{ctype}': send application/json or "
        "application/x-www-form-urlencoded",
    )


def load_json(text: bytes | str) -> Any:
    """``json.loads`` that refuses nesting beyond ``MAX_NESTING`` with a 400 ``BodyError``
    (the C decoder stops at the interpreter's recursion limit; the walk below enforces ours)."""
    try:
        doc = json.loads(text)
    except RecursionError:
        doc = None
        depth = MAX_NESTING + 1
    else:
        depth = nesting(doc, MAX_NESTING)
    if depth > MAX_NESTING:
        raise BodyError(400, f"JSON body is nested deeper than the limit of {MAX_NESTING} levels")
    return doc


def nesting(doc: Any, limit: int) -> int:
    """How deep containers nest in ``doc`` (a scalar is 0), counted without recursion and
    stopping once past ``limit``."""
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            stack.extend(
                (v, depth + 1) for v in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


def multipart_field(body: bytes, content_type_value: str, name: str) -> bytes:
    """The content of form field ``name`` in a ``multipart/form-data`` body (RFC 7578)."""
    if "boundary=" not in content_type_value.lower():
        raise BodyError(400, "multipart/form-data body without a boundary parameter")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type_value.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise BodyError(400, "malformed multipart/form-data body")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            return part.get_payload(decode=True) or b""
    raise BodyError(400, f"multipart/form-data body has no '{name}' field")


def parse_query(query: Mapping[str, Any] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in (query or {}).items():
        out[key] = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return out


def normalize_headers(headers: Any) -> dict[str, str]:
    """Mapping or (name, value) pairs, str or bytes -> {lower-case name: value} (last wins)."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    out: dict[str, str] = {}
    for name, value in items:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        out[name.lower()] = value
    return out


# -- form coercion ---------------------------------------------------------------------------


def _split_key(key: str) -> list[str | int | None]:
    """``config.origins[]`` -> ["config", "origins", None]; ``paths[2]`` -> ["paths", 2]."""
    parts: list[str | int | None] = []
    for dotted in key.split("."):
        base = _INDEX_RE.split(dotted)
        parts.append(base[0])
        for index in base[1::2]:
            parts.append(int(index) if index else None)
    return [p for p in parts if p != ""]


def coerce_form(pairs: list[tuple[str, str]], schema: Record | None) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        names = [p for p in parts if isinstance(p, str)]
        if not names:
            continue
        node = tree
        for name in names[:-1]:
            child = node.get(name)
            if not isinstance(child, dict):
                child = node[name] = {}
            node = child
        slot = node.setdefault(names[-1], [])
        if isinstance(slot, dict):
            continue
        index = next((p for p in parts if isinstance(p, int)), None)
        slot.append((index if index is not None else len(slot) + 10**6, value))
    return _coerce_record(schema, tree)


def _coerce_record(rec: Record | None, node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sub in node.items():
        fld = rec.get(name) if rec is not None else None
        out[name] = _coerce(fld, sub)
    return out


def _values(sub: Any) -> list[str]:
    return [v for _, v in sorted(sub, key=lambda iv: iv[0])] if isinstance(sub, list) else []


def _coerce(fld: Field | None, sub: Any) -> Any:
    if isinstance(sub, dict):
        if fld is None:
            return _coerce_record(None, sub)
        if fld.type == "record" and fld.record is not None:
            return _coerce_record(fld.record, sub)
        if fld.type == "foreign":
            return {
                k: _scalar(None, _values(v)[-1]) if _values(v) else None for k, v in sub.items()
            }
        if fld.type == "map":
            return {k: _coerce(fld.values, v) for k, v in sub.items()}
        return _coerce_record(None, sub)
    values = _values(sub)
    if fld is None:
        return values[-1] if len(values) == 1 else values
    if fld.type in ("array", "set"):
        if values == [""]:
            return []
        return [_scalar(fld.elements, v) for v in values]
    if fld.type == "record" and fld.record is None:  # plugin config given flat: leave to plugin
        return values[-1]
    return _scalar(fld, values[-1]) if values else None


def _scalar(fld: Field | None, value: str) -> Any:
    if value == "":
        return None
    kind = fld.type if fld is not None else "string"
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "number":
        try:
            return float(value) if not re.fullmatch(r"-?\d+", value) else int(value)
        except ValueError:
            return value
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def body_schema(kind: str, body: bytes, hdrs: Mapping[str, str]) -> Record:
    """The schema that coerces a form body; for plugins, with the named plugin's config."""
    schema = ENTITY_TYPES[kind].schema
    if kind != "plugins" or b"name=" not in body:
        return schema
    try:
        names = [v for k, v in parse_qsl(body.decode("utf-8")) if k == "name"]
    except UnicodeDecodeError:
        return schema
    spec = plugin_spec(names[-1]) if names else None
    if spec is None:
        return schema
    return Record(
        tuple(
            (n, Field("record", f.description, record=spec.config) if n == "config" else f)
            for n, f in schema.fields
        )
    )
