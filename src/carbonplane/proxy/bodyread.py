"""``ReadBody``: a request filter's verdict meaning "answer this request locally, from its
whole body" - for endpoints a gateway plugin serves itself (oauth2's token endpoint reads a
form-encoded body, RFC 6749 section 4.1.3).

``on_request(ctx)`` may return ``ReadBody(then, limit)`` instead of ``None`` or a
``LocalResponse``. The exchange then stops running request filters, contacts no upstream, reads
the request body (sending ``100 Continue`` when the client expects it) and calls
``then(ctx, body)`` once the body ended; its ``LocalResponse`` is the answer. A body over
``limit`` bytes is answered 413 (and the connection closed: the rest stays unread); an
exception in ``then`` is a 500, logged. A request without a body gets ``then(ctx, b"")`` at
once. The connection stays open for the next request whenever the body was read to its end.

Invariant: a ``ReadBody`` belongs to one request (it accumulates that request's body).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from carbonplane.proxy.app import LocalResponse

log = logging.getLogger("carbonplane.proxy")

DEFAULT_LIMIT = 64 * 1024


class ReadBody:
    __slots__ = ("then", "limit", "parts", "size")

    def __init__(self, then: Callable[[Any, bytes], LocalResponse], limit: int = DEFAULT_LIMIT):
        self.then = then
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def too_large(self, declared: int) -> bool:
        return declared > self.limit

    def add(self, data: bytes) -> bool:
        """Keep ``data``; False once the body is over the limit."""
        self.size += len(data)
        if self.size > self.limit:
            return False
        self.parts.append(data)
        return True

    def refusal(self) -> LocalResponse:
        return LocalResponse.error(413, f"Request body larger than {self.limit} bytes")

    def answer(self, ctx: Any) -> LocalResponse:
        try:
            return self.then(ctx, b"".join(self.parts))
        except Exception:
            log.exception("local body answer %r failed", self.then)
            return LocalResponse.error(500, "An unexpected error occurred")

    def __repr__(self) -> str:
        return f"ReadBody({self.then!r}, limit={self.limit})"
