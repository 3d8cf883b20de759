"""Opaque access tokens by OAuth 2.0 Token Introspection (RFC 7662), with a per-worker cache.

Invariants:
- the request (§2.1) is a form POST of ``token`` and ``token_type_hint=access_token``,
  authenticated as the configured client (``client_secret_basic``: HTTP Basic, RFC 6749
  §2.3.1; or ``client_secret_post``: ``client_id``/``client_secret`` in the form);
- a token is valid only when the answer has ``"active": true`` (§2.2); anything else is
  inactive;
- an active answer is cached for min(``ttl``, ``exp`` - now) seconds, so a cached token never
  outlives its own expiry; an inactive one for ``negative_ttl`` seconds (short, so a token the
  provider has just issued is not refused for long, while a flood of garbage tokens costs one
  POST each per ``negative_ttl``); a failed call (provider down, non-2xx) is not cached;
- cache keys are SHA-256 digests of the token, never the token; the cache is bounded (oldest
  entries dropped first);
- concurrent requests with the same uncached token share one POST (single flight), and at most
  ``MAX_INFLIGHT`` distinct tokens wait on the provider at once: a flood of made-up tokens
  beyond that is answered 503 without a POST, so the gateway cannot be used to hammer the
  provider with unbounded concurrency.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict

from carbonplane.gateway.plugins.openid_connect.fetch import ProviderError, basic_auth, post_form

INACTIVE: dict = {}  # the cached answer for an inactive token (never mutated)
KEPT = 10000
MAX_INFLIGHT = 256  # distinct tokens awaiting the provider at once; beyond: 503, no POST


class IntrospectionCache:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        auth_method: str,
        ttl: float,
        negative_ttl: float,
        timeout: float,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_method = auth_method
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.timeout = timeout
        self.entries: OrderedDict[bytes, tuple[float, dict]] = OrderedDict()
        self.inflight: dict[bytes, asyncio.Future] = {}
        self.calls = 0  # introspection POSTs made (tests read it)

    def cached(self, token: bytes) -> dict | None:
        """The cached claims of an active token, ``INACTIVE``, or None (not cached)."""
        key = hashlib.sha256(token).digest()
        hit = self.entries.get(key)
        if hit is None:
            return None
        if hit[0] <= time.time():
            del self.entries[key]
            return None
        return hit[1]

    async def introspect(self, endpoint: str, token: bytes) -> dict:
        """The active token's claims, or ``INACTIVE``; raises ``ProviderError`` when the
        provider cannot answer."""
        key = hashlib.sha256(token).digest()
        pending = self.inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if len(self.inflight) >= MAX_INFLIGHT:
            raise ProviderError(f"{MAX_INFLIGHT} introspections already in flight")
        future = asyncio.get_running_loop().create_future()
        self.inflight[key] = future
        try:
            claims = await self._post(endpoint, token)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; waiters re-raise it
            raise
        finally:
            del self.inflight[key]
        future.set_result(claims)
        self._store(key, claims)
        return claims

    async def _post(self, endpoint: str, token: bytes) -> dict:
        form = {"token": token.decode("latin-1"), "token_type_hint": "access_token"}
        headers = {}
        if self.auth_method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret
        else:
            headers["Authorization"] = basic_auth(self.client_id, self.client_secret)
        self.calls += 1
        answer = await post_form(endpoint, form, headers, self.timeout)
        return answer if answer.get("active") is True else INACTIVE

    def _store(self, key: bytes, claims: dict) -> None:
        now = time.time()
        if claims is INACTIVE:
            until = now + self.negative_ttl
        else:
            until = now + self.ttl
            exp = claims.get("exp")
            if (type(exp) is int or type(exp) is float) and exp < until:
                until = exp
        if until <= now:
            return
        entries = self.entries
        entries[key] = (until, claims)
        entries.move_to_end(key)
        while len(entries) > KEPT:
            entries.popitem(last=False)
