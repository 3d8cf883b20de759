"""Template values of the request-transformer plugin: ``$(...)`` lookups into the request, as
Kong documents them for its request-transformer ("Templates"), without Kong's Lua.

Supported expressions inside ``$( )``:
    headers.NAME   headers["NAME"]         a request header (case-insensitive; in the dotted
                                           form ``_`` also matches ``-``: headers.x_user_id)
    query_params.NAME   query_params["NAME"]   a query parameter (decoded)
    uri_captures.NAME   uri_captures["NAME"]   uri_captures[1]   a capture of the route's
                                           regex path (named or numbered)
    shared.NAME    shared["NAME"]          a value another plugin put in ``ctx.vars``
    'text'  "text"                         a literal - Kong's escape: ``$('$(not a template)')``
Anything else (Lua code, function calls, arithmetic) is refused when the config is validated,
with a message naming the expression. A lookup that finds nothing renders as the empty string;
a value that renders empty as a whole makes its transformation a no-op (Kong's behaviour for
nil values). Templates are compiled once per config; rendering is a join of precomputed parts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

SOURCES = ("headers", "query_params", "uri_captures", "shared")
_DOTTED = re.compile(r"(headers|query_params|uri_captures|shared)\.([A-Za-z_][A-Za-z0-9_]*)")
_INDEXED = re.compile(
    r"""(headers|query_params|uri_captures|shared)\[\s*(?:"([^"]*)"|'([^']*)'|(\d+))\s*\]"""
)
_LITERAL = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")

Lookup = tuple[str, Any, bool]  # (source, key, dotted)


class TemplateError(ValueError):
    pass


class Template:
    """A compiled value: literal text and lookups, rendered against an ``Env``."""

    __slots__ = ("parts", "static")

    def __init__(self, text: str) -> None:
        self.parts = tuple(_compile(text))
        self.static = all(type(p) is str for p in self.parts)

    def render(self, env: Env | None) -> str:
        if self.static:
            return "".join(self.parts)  # type: ignore[arg-type]
        return "".join(p if type(p) is str else env.lookup(p) for p in self.parts)


def check_template(text: str) -> str | None:
    """Schema check: None when ``text`` compiles, else the reason."""
    try:
        _compile(text)
    except TemplateError as exc:
        return str(exc)
    return None


def _compile(text: str) -> list[str | Lookup]:
    parts: list[str | Lookup] = []
    pos = 0
    while True:
        start = text.find("$(", pos)
        if start < 0:
            break
        if start > pos:
            parts.append(text[pos:start])
        expr, pos = _expression(text, start + 2)
        parts.append(_parse(expr.strip()))
    if pos < len(text):
        parts.append(text[pos:])
    return [p for p in parts if p != ""]


def _expression(text: str, pos: int) -> tuple[str, int]:
    """The expression text from ``pos`` to its closing ``)`` (quotes may hold parentheses)."""
    i, quote = pos, None
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == ")":
            return text[pos:i], i + 1
        i += 1
    raise TemplateError(f"unterminated template '{text[pos - 2 :]}': missing ')'")


def _parse(expr: str) -> str | Lookup:
    found = _LITERAL.fullmatch(expr)
    if found:
        raw = found.group(1) if found.group(1) is not None else found.group(2)
        return re.sub(r"\\(.)", r"\1", raw)
    found = _DOTTED.fullmatch(expr)
    if found:
        return (found.group(1), found.group(2), True)
    found = _INDEXED.fullmatch(expr)
    if found:
        source, dq, sq, number = found.groups()
        return (
            source,
            int(number) if number is not None else (dq if dq is not None else sq),
            False,
        )
    raise TemplateError(
        f"unsupported template expression '$({expr})': only headers, query_params, "
        'uri_captures and shared lookups (dotted or ["name"]) and quoted literals are '
        "supported, not Lua"
    )


class Env:
    """The request as templates see it; each source is read once, on first use."""

    __slots__ = ("headers", "query", "captures", "shared", "_query_map")

    def __init__(
        self,
        headers: list[tuple[bytes, bytes]],
        query: Callable[[], list],
        captures: Mapping | None,
        shared: Mapping,
    ) -> None:
        self.headers = headers
        self.query = query
        self.captures = captures
        self.shared = shared
        self._query_map: dict[str, str] | None = None

    def lookup(self, part: Lookup) -> str:
        source, key, dotted = part
        if source == "headers":
            return self._header(str(key), dotted)
        if source == "query_params":
            if self._query_map is None:
                self._query_map = {}
                for name, value in self.query():
                    self._query_map.setdefault(name, "" if value is None else value)
            return self._query_map.get(str(key), "")
        table = self.captures if source == "uri_captures" else self.shared
        value = (table or {}).get(key)
        if value is None and isinstance(key, str) and key.isdigit():
            value = (table or {}).get(int(key))
        return "" if value is None else str(value)

    def _header(self, name: str, dotted: bool) -> str:
        wanted = {name.lower().encode("latin-1", "replace")}
        if dotted:
            wanted.add(name.lower().replace("_", "-").encode("latin-1", "replace"))
        for n, v in self.headers:
            if n in wanted:
                return v.decode("utf-8", "surrogateescape")
        return ""
