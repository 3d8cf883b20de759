"""Config schema of the response-transformer plugin: Kong 3's fields
(``kong/plugins/response-transformer/schema.lua``).

Five operation records applied in order - ``remove``, ``rename``, ``replace``, ``add``,
``append`` - with ``headers`` and ``json`` lists (``name`` for remove, ``name:value`` otherwise,
``old:new`` for rename); ``replace``/``add``/``append`` also have ``json_types``, the JSON type
of each ``json`` value by position (``string`` by default, ``number``, ``boolean``). Beyond Kong:
header names must be valid header names, header values may not hold control characters, and a
``number``/``boolean`` value must be one (Kong would silently write ``null`` / ``false``).
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record

# "name:value" entries and header-name checks are the request transformer's
from carbonplane.gateway.plugins.request_transformer.schema import _CTL, _PAIR, split_pair
from carbonplane.gateway.plugins.request_transformer.schema import _header as _header_name

JSON_TYPES = ("boolean", "number", "string")


def _check_removed_header(entry: str) -> str | None:
    return _header_name(entry)


def _check_header_pair(entry: str) -> str | None:
    if not _PAIR.match(entry):
        return f"invalid value: {entry}"
    name, value = split_pair(entry)
    if _CTL.search(value):
        return f"'{entry}' has a control character in its value"
    return _header_name(name)


def _check_renamed_header(entry: str) -> str | None:
    if not _PAIR.match(entry):
        return f"invalid value: {entry}"
    old, new = split_pair(entry)
    return _header_name(old) or _header_name(new)


def _check_json_pair(entry: str) -> str | None:
    return None if _PAIR.match(entry) else f"invalid value: {entry}"


def cast(value: str, json_type: str) -> Any:
    """A configured JSON value as its declared type (checked by the schema)."""
    if json_type == "boolean":
        return value == "true"
    if json_type == "number":
        number = float(value)
        return (
            int(number)
            if number.is_integer() and "." not in value and "e" not in value.lower()
            else number
        )
    return value


def _typed_values(conf: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for op in ("replace", "add", "append"):
        entries, types = conf[op]["json"], conf[op]["json_types"]
        for i, entry in enumerate(entries):
            json_type = types[i] if i < len(types) else "string"
            value = split_pair(entry)[1]
            if json_type == "boolean" and value not in ("true", "false"):
                problems.append((f"{op}.json", f"'{entry}': a boolean value is true or false"))
            elif json_type == "number":
                try:
                    if float(value) != float(value) or abs(float(value)) == float("inf"):
                        raise ValueError(value)
                except ValueError:
                    problems.append((f"{op}.json", f"'{entry}': the value is not a number"))
    return problems


def _list(check: Any, what: str) -> Any:
    return t.array(t.string(check=check, len_min=1), what, default=[], required=True)


def _operation(header_check: Any, json_check: Any, what: str, typed: bool) -> Any:
    fields = [
        ("headers", _list(header_check, f"Response headers to {what}.")),
        ("json", _list(json_check, f"Top-level JSON body properties to {what}.")),
    ]
    if typed:
        fields.append(
            (
                "json_types",
                t.array(
                    t.string(one_of=JSON_TYPES),
                    "JSON type of each `json` value, by position.",
                    default=[],
                    required=True,
                ),
            )
        )
    return t.nested(record(*fields), f"What to {what}.")


CONFIG = record(
    ("remove", _operation(_check_removed_header, None, "remove", False)),
    ("rename", _operation(_check_renamed_header, _check_json_pair, "rename (old:new)", False)),
    (
        "replace",
        _operation(_check_header_pair, _check_json_pair, "replace when present (name:value)", True),
    ),
    ("add", _operation(_check_header_pair, _check_json_pair, "add when absent (name:value)", True)),
    ("append", _operation(_check_header_pair, _check_json_pair, "append (name:value)", True)),
    checks=[_typed_values],
)
