"""jwt's common case as a typed class: a token already verified by this handler, sent as
``Authorization: Bearer <token>``, with no claim or only ``exp`` to check. Compiled with
``fast.pxd`` where Cython is available; plain Python otherwise.

``CachedTokens.on_request`` takes the handler's place and answers that case itself - the same
identity and headers as the handler's steps (its tests run through it) - and hands everything
else to the handler's own ``on_request``: a query string or cookies that may carry a token, a
preflight, ``anonymous``, a token not seen (or not valid) before, a claim that fails.
"""

from __future__ import annotations

import time
from typing import Any

from carbonplane.gateway.plugins.authn import authenticate

TOKEN_VAR = "authenticated_jwt_token"
_SPACE = frozenset(b" \t\n\r\x0b\x0c")  # the bytes \s matches


def plain_bearer(value: bytes) -> bytes | None:
    """The token of a header value in the common form ``Bearer <token>`` (what the handler's
    ``\\s*[Bb]earer\\s+(.+)`` finds there), else None: the handler's regex decides."""
    if len(value) > 7 and value.startswith(b"Bearer ") and value[7] not in _SPACE and 10 not in value:
        return value[7:]
    return None


class CachedTokens:
    def __init__(self, handler: Any, generic: Any) -> None:
        self.handler = handler
        self.generic = generic  # the handler's own on_request
        self.verified = handler.verified
        self.headers = handler.headers
        # the fast case needs nothing else from the request than the named header
        self.usable = (not handler.check_nbf and not handler.max_exp and not handler.cookies
                       and not handler.anonymous.ref and bool(handler.headers))
        self.check_exp = bool(handler.check_exp)
        self.params = bool(handler.params)
        self.preflight = bool(handler.preflight)

    def on_request(self, ctx: Any) -> Any:
        request = ctx.request
        if (not self.usable or (self.params and request.query)
                or (not self.preflight and request.method == b"OPTIONS")):
            return self.generic(ctx)
        token = None
        name = self.headers[0]  # the first configured header, its first line (as the handler)
        for n, value in request.headers:
            if n == name:
                token = plain_bearer(value)
                break
        if token is None:  # absent, or not the plain Bearer form
            return self.generic(ctx)
        hit = self.verified.get(token)
        if hit is None:
            return self.generic(ctx)
        if self.check_exp:
            exp = hit[1].get("exp")
            if not ((type(exp) is int or type(exp) is float) and exp > time.time()):
                return self.generic(ctx)  # expired or odd: the handler words the refusal
        authenticate(ctx, hit[0].identity)
        ctx.vars[TOKEN_VAR] = token.decode("latin-1")
        return None
