"""The claims checks of an access token, after its signature (or introspection) succeeded:
RFC 7519 §4.1 (``iss``, ``aud``, ``exp``, ``nbf``, ``iat``) and RFC 9068 §4 / RFC 8693 §4.2
(``scope`` as a space-separated string, ``scp`` as an array), every time check with ``leeway``.

``TokenRules.check(claims, now, introspected)`` returns None when the token passes, else
``(status, error, description)`` for the RFC 6750 §3.1 challenge: 401 ``invalid_token`` for an
expired, not-yet-valid, foreign or misdirected token, 403 ``insufficient_scope`` for a valid
token that lacks the scopes. A JWT must carry a numeric ``exp``; an introspection answer may
omit it (the provider said ``active``). Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from typing import Any

Refusal = tuple[int, str, str]


def _number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value == value


def token_scopes(claims: dict) -> frozenset[str]:
    """The scopes a token holds: ``scope`` (a space-separated string, or an array some
    providers send), else ``scp`` (an array, or a string)."""
    value = claims.get("scope")
    if value is None:
        value = claims.get("scp")
    if type(value) is str:
        return frozenset(value.split())
    if type(value) is list:
        return frozenset(s for s in value if type(s) is str)
    return frozenset()


class TokenRules:
    __slots__ = ("issuer", "leeway", "audiences", "scope_sets", "scope_text")

    def __init__(
        self, issuer: str, leeway: int, audiences: list[str], scopes_required: list[str]
    ) -> None:
        self.issuer = issuer
        self.leeway = leeway
        self.audiences = frozenset(audiences)
        self.scope_sets = tuple(frozenset(s.split()) for s in scopes_required)
        self.scope_text = scopes_required[0] if scopes_required else ""

    def check(self, claims: dict, now: float, introspected: bool) -> Refusal | None:
        leeway = self.leeway
        iss = claims.get("iss")
        if not (introspected and iss is None) and iss != self.issuer:
            return 401, "invalid_token", "the token was issued by another issuer"
        exp = claims.get("exp")
        if exp is not None or not introspected:
            if not _number(exp):
                return 401, "invalid_token", "the token has no numeric exp claim"
            if now >= exp + leeway:
                return 401, "invalid_token", "the token expired"
        nbf = claims.get("nbf")
        if nbf is not None and (not _number(nbf) or nbf > now + leeway):
            return 401, "invalid_token", "the token is not valid yet (nbf)"
        iat = claims.get("iat")
        if iat is not None and (not _number(iat) or iat > now + leeway):
            return 401, "invalid_token", "the token was issued in the future (iat)"
        if self.audiences:
            aud = claims.get("aud")
            held = [aud] if type(aud) is str else aud if type(aud) is list else []
            if self.audiences.isdisjoint(a for a in held if type(a) is str):
                return 401, "invalid_token", "the token is not meant for this audience"
        if self.scope_sets:
            held = token_scopes(claims)
            if not any(wanted <= held for wanted in self.scope_sets):
                return 403, "insufficient_scope", "the token lacks the required scopes"
        return None
