"""The request-transformer's operations, compiled from its config and applied to request parts
(``kong/plugins/request-transformer/access.lua`` semantics), in Kong's order remove -> rename
-> replace -> add -> append:

    remove   drop every occurrence of the name
    rename   old:new - move old's value(s) to new (replacing new's), when old is present
    replace  name:value - set the value only when the name is already present
    add      name:value - set the value only when the name is absent
    append   name:value - add one more value (a further header line, a repeated query
             parameter, a JSON array / repeated form field)

Headers: ``Host`` is special, as in Kong - it can only be replaced, which sets the Host sent
upstream. Rendered header values holding a control character are dropped (a template fed
from a query parameter could otherwise smuggle ``CR LF`` into the header block). A value that
renders empty makes its operation a no-op. Query parameters and body fields are plain
name -> values maps; the result is re-encoded with keys sorted (Kong's ``set_query``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from carbonplane.gateway.plugins.pdk.reqparts import Param, safe_header_value
from carbonplane.gateway.plugins.request_transformer.schema import split_pair
from carbonplane.gateway.plugins.request_transformer.templates import Env, Template

OPS = ("remove", "rename", "replace", "add", "append")


class Ops:
    """One part's operations (headers, querystring or body) compiled from the config."""

    __slots__ = ("remove", "rename", "replace", "add", "append", "templated")

    def __init__(self, config: Any, part: str, lower: bool) -> None:
        def name(text: str) -> str:
            return text.strip().lower() if lower else text

        self.remove = tuple(name(split_pair(e)[0]) for e in config["remove"][part])
        self.rename = tuple(
            (name(old), name(new)) for old, new in (split_pair(e) for e in config["rename"][part])
        )
        self.replace = self._pairs(config["replace"][part], name)
        self.add = self._pairs(config["add"][part], name)
        self.append = self._pairs(config["append"][part], name)
        self.templated = any(not tpl.static for _, tpl in self.replace + self.add + self.append)

    @staticmethod
    def _pairs(entries: Any, name: Any) -> tuple[tuple[str, Template], ...]:
        return tuple((name(n), Template(v)) for n, v in (split_pair(e) for e in entries))

    def __bool__(self) -> bool:
        return bool(self.remove or self.rename or self.replace or self.add or self.append)

    def apply(self, fields: dict[str, list], env: Env | None) -> bool:
        """Apply to a name -> values map (query, form, JSON object); True when changed."""
        changed = False
        for name in self.remove:
            changed |= fields.pop(name, None) is not None
        for old, new in self.rename:
            if old in fields:
                fields[new] = fields.pop(old)
                changed = True
        for name, tpl in self.replace:
            value = tpl.render(env)
            if value and name in fields:
                fields[name] = [value]
                changed = True
        for name, tpl in self.add:
            value = tpl.render(env)
            if value and name not in fields:
                fields[name] = [value]
                changed = True
        for name, tpl in self.append:
            value = tpl.render(env)
            if value:
                fields.setdefault(name, []).append(value)
                changed = True
        return changed


def transform_headers(
    ops: Ops, headers: list[tuple[bytes, bytes]], env: Env | None
) -> tuple[list[tuple[bytes, bytes]], bytes | None]:
    """(new header list, new Host or None) after the header operations."""
    host = None
    if ops.remove:
        gone = {n.encode("latin-1") for n in ops.remove if n != "host"}
        headers = [h for h in headers if h[0] not in gone]
    for old, new in ops.rename:
        raw_old, raw_new = old.encode("latin-1"), new.encode("latin-1")
        values = [v for n, v in headers if n == raw_old]
        if values and old != "host":
            headers = [h for h in headers if h[0] != raw_old and h[0] != raw_new]
            headers += [(raw_new, v) for v in values]
    for name, tpl in ops.replace:
        value = _value(tpl, env)
        raw = name.encode("latin-1")
        if value is None:
            continue
        if name == "host":
            host = value
        elif any(n == raw for n, _ in headers):
            at = next(i for i, (n, _) in enumerate(headers) if n == raw)
            headers = [h for h in headers if h[0] != raw]
            headers.insert(at, (raw, value))
    for name, tpl in ops.add:
        raw = name.encode("latin-1")
        value = _value(tpl, env)
        if value is not None and name != "host" and not any(n == raw for n, _ in headers):
            headers.append((raw, value))
    for name, tpl in ops.append:
        value = _value(tpl, env)
        if value is not None and name != "host":
            headers.append((name.encode("latin-1"), value))
    return headers, host


def _value(tpl: Template, env: Env | None) -> bytes | None:
    text = tpl.render(env)
    return safe_header_value(text) or None if text else None


def params_to_fields(params: list[Param]) -> dict[str, list]:
    fields: dict[str, list] = {}
    for name, value in params:
        fields.setdefault(name, []).append(value)
    return fields


def fields_to_params(fields: dict[str, list]) -> list[Param]:
    return [(name, value) for name in sorted(fields) for value in fields[name]]


def transform_json(ops: Ops, raw: bytes, env: Env | None) -> bytes | None:
    """The transformed JSON body, or None to keep ``raw`` (not a JSON object, or unchanged)."""
    if raw.strip():
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # too deep: left as it came
            return None
        if type(doc) is not dict:
            return None
    else:
        doc = {}
    fields = {k: [v] for k, v in doc.items()}
    if not ops.apply(fields, env):
        return None
    fresh_appends = {name for name, _ in ops.append if name not in doc}
    out = {}
    for name, values in fields.items():
        if len(values) == 1 and name not in fresh_appends:
            out[name] = values[0]
        else:
            out[name] = values if name in fresh_appends else _appended(values)
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _appended(values: list) -> list:
    """Kong's append onto a JSON value: an existing array grows, a scalar becomes an array."""
    first = values[0]
    return (list(first) if isinstance(first, list) else [first]) + values[1:]


def transform_form(ops: Ops, raw: bytes, env: Env | None) -> bytes | None:
    """The transformed urlencoded body, or None to keep ``raw``."""
    text = raw.decode("latin-1")
    pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="surrogateescape")
    fields = params_to_fields(pairs)
    if not ops.apply(fields, env):
        return None
    return urlencode(fields_to_params(fields), encoding="utf-8", errors="surrogateescape").encode(
        "ascii"
    )
