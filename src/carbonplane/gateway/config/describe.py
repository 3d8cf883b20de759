"""Field schemas described as JSON: Kong's ``GET /schemas/{entity}`` shape, also the source of
the entity reference in docs/gateway.md (``docgen``).

Invariant: a description is derived from the ``Field``/``Record`` declarations alone; defaults
are copied, never shared with the schema.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config.schema import Field, Record, copy_value


def describe_field(fld: Field) -> dict[str, Any]:
    """The JSON description of a field, shaped like Kong's ``GET /schemas/{entity}``."""
    out: dict[str, Any] = {"type": fld.type}
    if fld.required:
        out["required"] = True
    if fld.has_default:
        out["default"] = copy_value(fld.default)
    for attr in ("one_of", "between"):
        if getattr(fld, attr) is not None:
            out[attr] = list(getattr(fld, attr))
    for attr in ("len_min", "len_max", "starts_with", "reference"):
        if getattr(fld, attr) is not None:
            out[attr] = getattr(fld, attr)
    if fld.auto:
        out["auto"] = True
    if fld.unique:
        out["unique"] = True
    if fld.elements is not None:
        out["elements"] = describe_field(fld.elements)
    if fld.keys is not None:
        out["keys"] = describe_field(fld.keys)
    if fld.values is not None:
        out["values"] = describe_field(fld.values)
    if fld.record is not None:
        out["fields"] = describe_record(fld.record)
    if fld.description:
        out["description"] = fld.description
    return out


def describe_record(rec: Record) -> list[dict[str, Any]]:
    return [{name: describe_field(fld)} for name, fld in rec.fields]
