"""A token the openid-connect plugin admitted, ready to admit again: what the upstream gets
(identity, claim headers) and the time window in which its claims still hold.

Invariants: an ``Admission`` is built only after every check passed (signature, issuer,
audience, scopes, consumer, time); those that do not depend on time hold for as long as the
key set that verified it is the provider's current, fresh one (the handler compares the set
itself, so a refetched set - a key withdrawn upstream, say - admits nothing remembered). The
time checks are kept as one window, [max(``nbf``, ``iat``) - leeway, ``exp`` + leeway),
tested on every use.
"""

from __future__ import annotations

from typing import Any

ADMITTED_KEPT = 4096


def _number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value == value


class Admission:
    __slots__ = ("keyset", "claims", "identity", "headers", "not_before", "expires")

    def __init__(
        self, keyset: Any, claims: dict, identity: Any, headers: tuple, leeway: int
    ) -> None:
        self.keyset = keyset
        self.claims = claims
        self.identity = identity
        self.headers = headers
        exp = claims.get("exp")
        self.expires = exp + leeway if _number(exp) else float("-inf")
        starts = [v for v in (claims.get("nbf"), claims.get("iat")) if _number(v)]
        self.not_before = max(starts) - leeway if starts else float("-inf")
