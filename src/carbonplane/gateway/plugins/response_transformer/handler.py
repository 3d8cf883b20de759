"""The response-transformer plugin's handler (Kong's response-transformer, PRIORITY 800).

Header filter (``on_response_head``), on upstream and proxy-made responses alike, in Kong's
order: ``remove`` every occurrence; ``rename`` old:new when old is present (new's lines are
replaced); ``replace`` when present (one line remains); ``add`` when absent; ``append`` one more
line. Names are matched case-insensitively.

Body filter (``on_response_body``), only when ``json`` operations are configured and the
response's Content-Type (after the header operations) is JSON - ``application/json`` or a
``+json`` type: the body is held until its end (pieces return ``b""``), then the same five
operations run on the top-level object's properties with values cast by ``json_types``; a body
that is not a JSON object, or larger than ``MAX_BUFFERED``, is released unchanged. The engine
re-frames a filtered body (chunked; the upstream Content-Length is dropped, as Kong clears it).
Only configs with ``json`` operations get a handler class with ``on_response_body``, so a
headers-only transformer (the common security-headers case) costs no re-framing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from carbonplane.gateway.plugins.pdk.base import PluginHandler
from carbonplane.gateway.plugins.response_transformer.schema import cast, split_pair

log = logging.getLogger("carbonplane.gateway.plugins")

MAX_BUFFERED = 8 * 1024 * 1024
_HELD = "response_transformer.held"  # ctx.vars: [pieces, size] while a JSON body is held
OPS = ("remove", "rename", "replace", "add", "append")


def _raw(name: str) -> bytes:
    return name.strip().lower().encode("latin-1")


class HeaderOps:
    __slots__ = ("remove", "rename", "replace", "add", "append", "empty")

    def __init__(self, config: Any) -> None:
        self.remove = frozenset(_raw(e) for e in config["remove"]["headers"])
        self.rename = tuple(
            (_raw(o), _raw(n)) for o, n in (split_pair(e) for e in config["rename"]["headers"])
        )
        self.replace, self.add, self.append = (
            tuple(
                (_raw(n), v.strip().encode("utf-8"))
                for n, v in (split_pair(e) for e in config[op]["headers"])
            )
            for op in OPS[2:]
        )
        self.empty = not (self.remove or self.rename or self.replace or self.add or self.append)

    def apply(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        if self.remove:
            headers = [h for h in headers if h[0] not in self.remove]
        for old, new in self.rename:
            values = [v for n, v in headers if n == old]
            if values:
                headers = [h for h in headers if h[0] != old and h[0] != new]
                headers += [(new, v) for v in values]
        for name, value in self.replace:
            at = next((i for i, (n, _) in enumerate(headers) if n == name), None)
            if at is not None:
                headers = [h for h in headers if h[0] != name]
                headers.insert(at, (name, value))
        if self.add:
            present = {n for n, _ in headers}
            headers += [(n, v) for n, v in self.add if n not in present]
        headers += self.append
        return headers


class JsonOps:
    __slots__ = ("remove", "rename", "replace", "add", "append")

    def __init__(self, config: Any) -> None:
        self.remove = tuple(config["remove"]["json"])
        self.rename = tuple(split_pair(e) for e in config["rename"]["json"])
        self.replace, self.add, self.append = (self._typed(config[op]) for op in OPS[2:])

    @staticmethod
    def _typed(section: Any) -> tuple[tuple[str, Any], ...]:
        types = section["json_types"]
        out = []
        for i, entry in enumerate(section["json"]):
            name, value = split_pair(entry)
            out.append((name, cast(value, types[i] if i < len(types) else "string")))
        return tuple(out)

    def __bool__(self) -> bool:
        return bool(self.remove or self.rename or self.replace or self.add or self.append)

    def apply(self, raw: bytes) -> bytes | None:
        """The transformed body, or None to release ``raw`` as it is."""
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # too deep: left as it came
            return None
        if type(doc) is not dict:
            return None
        for name in self.remove:
            doc.pop(name, None)
        for old, new in self.rename:
            if old in doc:
                doc[new] = doc.pop(old)
        for name, value in self.replace:
            if name in doc:
                doc[name] = value
        for name, value in self.add:
            if name not in doc:
                doc[name] = value
        for name, value in self.append:
            current = doc.get(name)
            doc[name] = (
                current + [value]
                if isinstance(current, list)
                else [value]
                if current is None
                else [current, value]
            )
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Handler(PluginHandler):
    NAME = "response-transformer"
    PRIORITY = 800
    VERSION = "1.0.0"

    def __new__(cls, config: Any, plugin: Any = None, services: Any = None) -> Handler:
        if cls is Handler and any(config[op]["json"] for op in OPS):
            cls = JsonBodyHandler
        return super().__new__(cls)

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.headers = HeaderOps(config)
        self.json = JsonOps(config)

    def on_response_head(self, ctx: Any) -> None:
        response = ctx.response
        if not self.headers.empty:
            response.headers = self.headers.apply(response.headers)
        if self.json:
            content_type = (response.get(b"content-type") or b"").lower()
            if b"application/json" in content_type or b"+json" in content_type:
                ctx.vars[_HELD] = [[], 0]


class JsonBodyHandler(Handler):
    """A response-transformer with ``json`` operations: holds and rewrites JSON bodies."""

    def on_response_body(self, ctx: Any, data: bytes, end: bool) -> bytes:
        held = ctx.vars.get(_HELD)
        if held is None:
            return data
        pieces = held[0]
        if data:
            pieces.append(data)
            held[1] += len(data)
        if held[1] > MAX_BUFFERED:
            del ctx.vars[_HELD]
            log.warning(
                "response-transformer: JSON body over %d bytes passed through untransformed",
                MAX_BUFFERED,
            )
            return b"".join(pieces)
        if not end:
            return b""
        del ctx.vars[_HELD]
        raw = b"".join(pieces)
        out = self.json.apply(raw) if raw else None
        return raw if out is None else out
