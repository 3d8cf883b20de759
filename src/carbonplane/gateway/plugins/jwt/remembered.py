"""jwt's common case: a token this handler verified before, sent as ``Authorization: Bearer
<token>``, with no claim or only ``exp`` to check.

``RememberedTokens`` is built once per handler from its config (``for_handler`` gives None when
the config can never take this path: cookies, ``nbf`` or ``maximum_expiration`` to check,
``anonymous``). Its ``answer(ctx)`` authenticates such a request itself - the same identity and
headers as the handler's steps (a test compares them) - and returns True; for anything else (a
query string or cookies that may carry a token, a preflight, a token not seen or not valid
before, an ``exp`` that fails) it returns False and changes nothing, and the handler takes its
own steps.
"""

from __future__ import annotations

import time
from typing import Any

from carbonplane.gateway.plugins.pdk.authn import authenticate

TOKEN_VAR = "authenticated_jwt_token"
_SPACE = frozenset(b" \t\n\r\x0b\x0c")  # the bytes \s matches


def plain_bearer(value: bytes) -> bytes | None:
    """The token of a header value in the common form ``Bearer <token>`` (what the handler's
    ``\\s*[Bb]earer\\s+(.+)`` finds there), else None: the handler's regex decides."""
    if (
        len(value) > 7
        and value.startswith(b"Bearer ")
        and value[7] not in _SPACE
        and 10 not in value
    ):
        return value[7:]
    return None


class RememberedTokens:
    def __init__(
        self, verified: dict, headers: tuple, check_exp: bool, params: bool, preflight: bool
    ) -> None:
        self.verified = verified  # the handler's: token -> (credential, claims)
        self.header = headers[0]  # the first configured header, its first line (as the handler)
        self.check_exp = check_exp
        self.params = params
        self.preflight = preflight

    @classmethod
    def for_handler(cls, handler: Any) -> RememberedTokens | None:
        """The path for this handler's config, or None where it could never answer."""
        if (
            handler.check_nbf
            or handler.max_exp
            or handler.cookies
            or handler.anonymous.ref
            or not handler.headers
        ):
            return None
        return cls(
            handler.verified,
            handler.headers,
            bool(handler.check_exp),
            bool(handler.params),
            bool(handler.preflight),
        )

    def answer(self, ctx: Any) -> bool:
        request = ctx.request
        if (self.params and request.query) or (not self.preflight and request.method == b"OPTIONS"):
            return False
        token = None
        name = self.header
        for n, value in request.headers:
            if n == name:
                token = plain_bearer(value)
                break
        if token is None:  # absent, or not the plain Bearer form
            return False
        hit = self.verified.get(token)
        if hit is None:
            return False
        if self.check_exp:
            exp = hit[1].get("exp")
            if not ((type(exp) is int or type(exp) is float) and exp > time.time()):
                return False  # expired or odd: the handler words the refusal
        authenticate(ctx, hit[0].identity)
        ctx.vars[TOKEN_VAR] = token.decode("latin-1")
        return True
