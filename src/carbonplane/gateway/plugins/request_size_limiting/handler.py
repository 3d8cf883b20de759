"""The request-size-limiting plugin's handler
(``kong/plugins/request-size-limiting/handler.lua``).

- A Content-Length body larger than the limit is refused in the access phase, before any byte
  of it is read or sent upstream: 413 "Request size limit exceeded" (417 when the client sent
  ``Expect: 100-continue``, as Kong - the client has not sent the body yet).
- A chunked body has no declared size: Kong buffers it and measures; the engine streams, so
  ``on_request_body`` counts the bytes as they pass and answers the same 413/417 as soon as the
  count goes over the limit - the upstream, which may have received the beginning, is
  abandoned and the client connection closed (its unread body cannot be skipped).
- ``require_content_length``: a request that is neither Content-Length framed nor chunked gets
  411 "A valid Content-Length header is required".

The body hook only observes: it returns every piece unchanged. ``request_body_keeps_length``
says so, for an engine that keeps Content-Length framing when no request-body hook of the chain
can change the length (today the engine re-frames any body of such a chain as chunked).
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.plugins.pdk.base import PluginHandler
from carbonplane.gateway.plugins.request_size_limiting.schema import SIZE_UNITS
from carbonplane.http.model import FRAMING_CHUNKED, FRAMING_LENGTH
from carbonplane.proxy.app import LocalResponse

EXCEEDED = "Request size limit exceeded"
_SEEN = "request_size_limiting.seen"


class Handler(PluginHandler):
    NAME = "request-size-limiting"
    PRIORITY = 951
    VERSION = "1.0.0"
    request_body_keeps_length = True  # on_request_body passes every piece through unchanged

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.limit = config["allowed_payload_size"] * SIZE_UNITS[config["size_unit"]]
        self.require_length = config["require_content_length"]

    def on_request(self, ctx: Any) -> LocalResponse | None:
        request = ctx.request
        framing = request.framing
        if framing == FRAMING_LENGTH:
            return self.refuse(request) if request.content_length > self.limit else None
        if self.require_length and framing != FRAMING_CHUNKED:
            return LocalResponse.error(411, "A valid Content-Length header is required")
        return None

    def on_request_body(self, ctx: Any, data: bytes, end: bool) -> bytes | LocalResponse:
        request = ctx.request
        if request.framing != FRAMING_CHUNKED:
            return data
        seen = ctx.vars.get(_SEEN, 0) + len(data)
        ctx.vars[_SEEN] = seen
        return self.refuse(request) if seen > self.limit else data

    @staticmethod
    def refuse(request: Any) -> LocalResponse:
        return LocalResponse.error(417 if request.expect_continue else 413, EXCEEDED)
