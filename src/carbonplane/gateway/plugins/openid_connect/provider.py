"""One identity provider as a worker sees it: its discovery document (OpenID Connect Discovery
1.0 §4) and its signing keys (RFC 7517), fetched off the request path and cached.

Invariants:
- times are ``time.monotonic()`` seconds; ``keys(now)`` is synchronous and never does I/O:
  the cached key set while younger than ``ttl`` seconds, else None; only ``refresh`` fetches,
  and it is awaited, never run blocking;
- one fetch at a time per provider (single flight): concurrent requests that need keys await
  the same task, so a burst of cold requests costs the provider one discovery and one JWKS GET;
- fetches are rate-limited: after an attempt (successful or not) the next one may start only
  ``rediscovery`` seconds later, so a flood of tokens naming unknown ``kid``s cannot hammer the
  provider (each of those requests is answered from the cache: 401 for an unknown key);
- a successful fetch replaces the key set whole: a key removed upstream is no longer accepted
  once the set that still held it is older than ``ttl`` and the provider answered again;
- when the provider cannot be reached, the last key set keeps serving (``stale``) and requests
  are answered with it; with no key set at all the caller answers 503;
- the discovery document's ``issuer`` must equal the configured issuer exactly (§4.3), so a
  discovery document served for another issuer is refused.
Providers are shared by every handler of a worker with the same issuer and settings
(``provider_for``), so a config reload keeps the cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from carbonplane.gateway.plugins.openid_connect.fetch import ProviderError, get_json
from carbonplane.gateway.plugins.openid_connect.keys import KeySet

log = logging.getLogger("carbonplane.gateway.plugins.openid_connect")

DISCOVERY_PATH = "/.well-known/openid-configuration"


class IdentityProvider:
    def __init__(
        self, issuer: str, jwks_uri: str | None, ttl: float, rediscovery: float, timeout: float
    ) -> None:
        self.issuer = issuer
        self.configured_jwks_uri = jwks_uri
        self.ttl = ttl
        self.rediscovery = rediscovery
        self.timeout = timeout
        self.discovery: dict | None = None
        self.keyset: KeySet | None = None
        self.last_attempt: float | None = None
        self.last_error: str | None = None
        self.fetches = 0  # JWKS GETs started (tests and metrics read it)
        self._inflight: asyncio.Task | None = None

    # -- reading, no I/O ---------------------------------------------------------------------
    def keys(self, now: float) -> KeySet | None:
        """The key set when it is younger than ``ttl``, else None (a refresh is due)."""
        keyset = self.keyset
        if keyset is not None and now - keyset.fetched_at < self.ttl:
            return keyset
        return None

    def may_refetch(self, now: float) -> bool:
        """Whether the rate limit lets a fetch start now (or one is already running)."""
        if self._inflight is not None:
            return True
        return self.last_attempt is None or now - self.last_attempt >= self.rediscovery

    def endpoint(self, name: str) -> str | None:
        value = (self.discovery or {}).get(name)
        return value if type(value) is str and value else None

    # -- fetching ---------------------------------------------------------------------------
    async def refresh(self) -> KeySet | None:
        """Fetch discovery (first time, or when older than ``ttl``) and the JWKS, once per
        ``rediscovery`` seconds at most; returns the freshest key set (possibly stale, None if
        there never was one)."""
        task = self._inflight
        if task is None:
            if not self.may_refetch(time.monotonic()):
                return self.keyset
            task = self._inflight = asyncio.get_running_loop().create_task(self._fetch())
            task.add_done_callback(self._done)
        await asyncio.shield(task)
        return self.keyset

    def _done(self, task: asyncio.Task) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved: _fetch logs and never raises

    async def _fetch(self) -> None:
        self.last_attempt = time.monotonic()
        try:
            await self._discover(time.monotonic())
            jwks_uri = self.configured_jwks_uri or self.endpoint("jwks_uri")
            if jwks_uri is None:
                raise ProviderError(f"the discovery document of {self.issuer} has no jwks_uri")
            self.fetches += 1
            document = await get_json(jwks_uri, self.timeout)
            try:
                keyset = KeySet(document, time.monotonic())
            except ValueError as exc:
                raise ProviderError(f"GET {jwks_uri}: {exc}") from exc
            for problem in keyset.skipped:
                log.warning("openid-connect: %s: %s left out", jwks_uri, problem)
            self.keyset = keyset
            self.last_error = None
        except ProviderError as exc:
            self.last_error = str(exc)
            kept = "the cached keys stay in use" if self.keyset else "no keys are cached"
            log.error("openid-connect: %s; %s", exc, kept)

    async def _discover(self, now: float) -> None:
        if self.discovery is not None and now - self.discovery["_fetched_at"] < self.ttl:
            return
        if self.configured_jwks_uri is not None and self.discovery is not None:
            return
        url = self.issuer.rstrip("/") + DISCOVERY_PATH
        try:
            document = await get_json(url, self.timeout)
        except ProviderError:
            if self.discovery is not None:
                return  # keep the last document; the JWKS fetch decides
            raise
        if document.get("issuer") != self.issuer:
            raise ProviderError(
                f"GET {url}: the document names issuer {document.get('issuer')!r}, "
                f"not {self.issuer!r} (OpenID Connect Discovery 1.0 §4.3)"
            )
        document["_fetched_at"] = now
        self.discovery = document

    async def discovered(self) -> dict | None:
        """The discovery document, fetching it when none is cached (rate-limited)."""
        if self.discovery is None:
            await self.refresh()
        return self.discovery


_PROVIDERS: OrderedDict[tuple, IdentityProvider] = OrderedDict()
_PROVIDERS_KEPT = 64


def provider_for(
    issuer: str, jwks_uri: str | None, ttl: float, rediscovery: float, timeout: float
) -> IdentityProvider:
    """The worker's shared provider for these settings (the last few dozen are kept)."""
    key = (issuer, jwks_uri, ttl, rediscovery, timeout)
    found = _PROVIDERS.get(key)
    if found is None:
        found = _PROVIDERS[key] = IdentityProvider(issuer, jwks_uri, ttl, rediscovery, timeout)
        while len(_PROVIDERS) > _PROVIDERS_KEPT:
            _PROVIDERS.popitem(last=False)
    else:
        _PROVIDERS.move_to_end(key)
    return found


def describe(provider: Any) -> str:
    return provider.last_error or "no key set could be fetched yet"
