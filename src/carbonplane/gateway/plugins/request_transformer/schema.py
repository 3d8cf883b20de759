"""Config schema of the request-transformer plugin: Kong 3's fields
(``kong/plugins/request-transformer/schema.lua``).

``http_method``, and five operation records applied in this order - ``remove``, ``rename``,
``replace``, ``add``, ``append`` - each with ``headers``, ``querystring`` and ``body`` lists
(``replace`` also has ``uri``). Entries are ``name`` (remove) or ``name:value`` (``old:new``
for rename); values may hold templates (``templates.py``). Checks, as Kong: header names must
be valid header names ("'x y' is not a valid header"), ``name:value`` entries must contain a
colon ("invalid value: ..."); and, beyond Kong, header values may not contain control
characters and templates must compile.
"""

from __future__ import annotations

import re
from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record
from carbonplane.gateway.plugins.request_transformer.templates import check_template

_PAIR = re.compile(r"^([^:]+):(.*)$", re.S)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def split_pair(entry: str) -> tuple[str, str]:
    """``name:value`` -> (name, value); a name alone -> (name, "")."""
    found = _PAIR.match(entry)
    return (found.group(1), found.group(2)) if found else (entry, "")


def _header(name: str) -> str | None:
    return None if _TOKEN.match(name) else f"'{name}' is not a valid header"


def _check_removed_header(entry: str) -> str | None:
    return _header(split_pair(entry)[0])


def _check_pair(entry: str) -> str | None:
    if not _PAIR.match(entry):
        return f"invalid value: {entry}"
    return check_template(split_pair(entry)[1])


def _check_header_pair(entry: str) -> str | None:
    problem = _check_pair(entry)
    if problem:
        return problem
    name, value = split_pair(entry)
    if _CTL.search(value):
        return f"'{entry}' has a control character in its value"
    return _header(name)


def _check_renamed_header(entry: str) -> str | None:
    if not _PAIR.match(entry):
        return f"invalid value: {entry}"
    old, new = split_pair(entry)
    return _header(old) or _header(new)


def _list(check: Any, what: str) -> Any:
    return t.array(t.string(check=check, len_min=1), what, default=[], required=True)


def _operation(headers_check: Any, pair_check: Any, what: str, uri: bool = False) -> Any:
    fields = [
        ("body", _list(pair_check, f"Body fields to {what} (JSON or form bodies).")),
        ("headers", _list(headers_check, f"Headers to {what}.")),
        ("querystring", _list(pair_check, f"Query parameters to {what}.")),
    ]
    if uri:
        fields.append(("uri", t.string("New upstream path (templates allowed).", check=_check_uri)))
    return t.nested(record(*fields), f"What to {what}.")


def _check_uri(value: str) -> str | None:
    if _CTL.search(value):
        return "has a control character"
    return check_template(value)


def _check_method(value: str) -> str | None:
    return None if re.fullmatch(r"[A-Z]+", value) else f"invalid value: {value}"


CONFIG = record(
    (
        "http_method",
        t.string("Change the method sent upstream (uppercase letters).", check=_check_method),
    ),
    ("remove", _operation(_check_removed_header, None, "remove")),
    ("rename", _operation(_check_renamed_header, _check_pair, "rename (old:new)")),
    (
        "replace",
        _operation(_check_header_pair, _check_pair, "replace when present (name:value)", uri=True),
    ),
    ("add", _operation(_check_header_pair, _check_pair, "add when absent (name:value)")),
    ("append", _operation(_check_header_pair, _check_pair, "append (name:value)")),
)
