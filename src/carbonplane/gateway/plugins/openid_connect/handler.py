"""The openid-connect plugin's handler: access tokens issued by an OpenID provider, as a
resource server validates them (RFC 6750 bearer tokens; PRIORITY 1050, Kong's).

Access phase:
1. the token: ``Authorization: Bearer <token>`` (the first such header) - none: 401
   "Unauthorized" with a ``WWW-Authenticate: Bearer`` challenge;
2. a compact JWS whose ``alg`` is in ``signing_algs`` goes the ``bearer`` way (when enabled):
   its ``kid`` picks a key of the provider's cached JWKS, the signature is verified, then the
   claims (``claims.TokenRules``). Anything else - an opaque token, or a JWT with
   ``bearer`` disabled - goes to introspection (when enabled), cached; neither way: 401;
3. no fresh key set, or an unknown ``kid`` while the rate limit allows a fetch: the request
   waits on the (single-flight) refresh - the event loop keeps serving others; the provider
   unreachable with no key set, or introspection failing: 503 "Service Unavailable" (never
   500); with a key set (even stale) an unknown ``kid`` is a 401;
4. success: the consumer named by ``consumer_claim`` (matched by ``consumer_by``; not found:
   403 unless ``consumer_optional``), identity headers (``authn.authenticate``), the configured
   claims as upstream headers (client-sent copies removed first), the token removed with
   ``hide_credentials``; ``ctx.vars["oidc_claims"]`` holds the claims;
5. a 401 with ``anonymous`` set: the anonymous consumer instead; 403 and 503 stay.
Refusals carry Kong's bodies (``Unauthorized``, ``Forbidden``) and the reason in the RFC 6750
``error_description`` of the challenge. Cost: a JWT admitted once is remembered with the key
set that verified it (``admitted.Admission``: its identity and upstream headers ready), so a
resent token costs a dict lookup and its time window; a refetched key set, or the window
closing, sends it through the steps again. Introspected tokens go through their cache.
"""

from __future__ import annotations

import re
import time
from typing import Any

from carbonplane.gateway.plugins.jwt.remembered import plain_bearer
from carbonplane.gateway.plugins.jwt.tokens import parse_token
from carbonplane.gateway.plugins.openid_connect.admitted import ADMITTED_KEPT, Admission
from carbonplane.gateway.plugins.openid_connect.claims import TokenRules
from carbonplane.gateway.plugins.openid_connect.fetch import ProviderError
from carbonplane.gateway.plugins.openid_connect.introspection import INACTIVE, IntrospectionCache
from carbonplane.gateway.plugins.openid_connect.keys import KeySet
from carbonplane.gateway.plugins.openid_connect.provider import provider_for
from carbonplane.gateway.plugins.pdk.authn import (
    Anonymous,
    AuthHandler,
    Identity,
    authenticate,
    credentials_of,
    header_value,
)
from carbonplane.proxy.app import LocalResponse

_BEARER = re.compile(rb"\s*[Bb]earer\s+(\S+)\s*$")
_AUTHORIZATION = b"authorization"
CLAIMS_VAR = "oidc_claims"


class Handler(AuthHandler):
    NAME = "openid-connect"
    PRIORITY = 1050
    VERSION = "1.0.0"

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.index = credentials_of(services, self.NAME)
        self.anonymous = Anonymous(self.index, config.get("anonymous"), self.NAME)
        self.preflight = config["run_on_preflight"]
        self.issuer = config["issuer"]
        timeout = config["timeout"] / 1000.0
        self.provider = provider_for(
            self.issuer,
            config.get("jwks_uri"),
            float(config["cache_ttl"]),
            float(config["rediscovery_lifetime"]),
            timeout,
        )
        methods = config["auth_methods"]
        self.bearer = "bearer" in methods
        self.introspection: IntrospectionCache | None = None
        if "introspection" in methods:
            self.introspection = IntrospectionCache(
                config["client_id"][0],
                config["client_secret"][0],
                config["introspection_endpoint_auth_method"],
                float(config["cache_ttl"]),
                float(config["cache_ttl_neg"]),
                timeout,
            )
        self.introspection_endpoint = config.get("introspection_endpoint")
        self.algs = frozenset(config["signing_algs"])
        self.rules = TokenRules(
            self.issuer, config["leeway"], config["audience_required"], config["scopes_required"]
        )
        self.consumer_claim = tuple(config["consumer_claim"])
        self.consumer_by = tuple(config["consumer_by"])
        self.consumer_optional = config["consumer_optional"]
        self.custom_ids = {
            c["custom_id"]: c for c in self.index.consumers.values() if c.get("custom_id")
        }
        self.claim_headers = tuple(
            (claim, name.lower().encode("latin-1"))
            for claim, name in zip(
                config["upstream_headers_claims"], config["upstream_headers_names"]
            )
        )
        # removed from the upstream request on success: client copies of the claim headers,
        # and the token itself with hide_credentials
        hidden = (_AUTHORIZATION,) if config["hide_credentials"] else ()
        self.stripped = frozenset(name for _, name in self.claim_headers).union(hidden)
        self.leeway = config["leeway"]
        self.key_ttl = float(config["cache_ttl"])
        self.admitted: dict[bytes, Admission] = {}
        realm = config.get("realm")
        self.realm = f'realm="{realm}", ' if realm else ""

    # -- access -------------------------------------------------------------------------
    def on_request(self, ctx: Any) -> Any:
        """AuthHandler's steps, with an authentication that may have to wait on the provider;
        a token admitted before, under the current key set and inside its time window, is
        admitted again at once (the common case)."""
        request = ctx.request
        if not self.preflight and request.method == b"OPTIONS":
            return None
        if self.anonymous.ref and ctx.vars.get("credential") is not None:
            return None  # another auth plugin already authenticated: logical OR
        token = self.find_token(request.headers)
        if token is not None:
            admitted = self.admitted.get(token)
            if admitted is not None:
                keyset = self.provider.keyset
                now = time.time()
                if (
                    admitted.keyset is keyset
                    and time.monotonic() - keyset.fetched_at < self.key_ttl
                    and admitted.not_before <= now < admitted.expires
                ):
                    self.apply(ctx, admitted)
                    return None
        result = self.authenticate(ctx, token)
        if result is None or type(result) is LocalResponse:
            return self.fallback(ctx, result)
        return self._settle(ctx, result)

    async def _settle(self, ctx: Any, pending: Any) -> LocalResponse | None:
        return self.fallback(ctx, await pending)

    def fallback(self, ctx: Any, refusal: LocalResponse | None) -> LocalResponse | None:
        if refusal is not None and refusal.status == 401 and self.anonymous.ref:
            return self.anonymous.apply(ctx)
        return refusal

    def authenticate(self, ctx: Any, token: bytes | None) -> Any:  # type: ignore[override]
        """None (authenticated), a refusal, or an awaitable of either."""
        if token is None:
            return self.refuse(401, None, None)
        if self.bearer:
            parsed = parse_token(token)
            if type(parsed) is not str and parsed.alg in self.algs:
                return self.bearer_token(ctx, token, parsed)
            if self.introspection is None:
                return self.refuse(
                    401, "invalid_token", "the token is not a JWT this gateway accepts"
                )
        return self.introspected_token(ctx, token)

    def find_token(self, headers: list) -> bytes | None:
        for name, value in headers:
            if name == _AUTHORIZATION:
                token = plain_bearer(value)
                if token is not None and b" " not in token:
                    return token
                found = _BEARER.match(value)
                return found.group(1) if found is not None else None
        return None

    # -- JWT access tokens ---------------------------------------------------------------
    def bearer_token(self, ctx: Any, token: bytes, parsed: Any) -> Any:
        provider = self.provider
        now = time.monotonic()
        keyset = provider.keys(now)
        if keyset is None or (
            token not in keyset.verified
            and keyset.key_for(parsed.header.get("kid")) is None
            and provider.may_refetch(now)
        ):
            return self._bearer_after_refresh(ctx, token, parsed)
        return self.verified(ctx, token, parsed, keyset)

    async def _bearer_after_refresh(self, ctx: Any, token: bytes, parsed: Any) -> Any:
        keyset = await self.provider.refresh()
        if keyset is None:
            return self.unavailable()
        return self.verified(ctx, token, parsed, keyset)

    def verified(self, ctx: Any, token: bytes, parsed: Any, keyset: KeySet) -> Any:
        claims = keyset.verified.get(token)
        if claims is None:
            if "crit" in parsed.header:  # RFC 7515 §4.1.11: no extension is understood here
                return self.refuse(401, "invalid_token", "the token has critical extensions")
            key = keyset.key_for(parsed.header.get("kid"))
            if key is None:
                return self.refuse(
                    401, "invalid_token", "no key of the provider matches the token's kid"
                )
            verify = key.verifier(parsed.alg)
            if type(verify) is str:
                return self.refuse(
                    401, "invalid_token", "the token's algorithm does not fit its key"
                )
            if not verify(parsed.signing_input, parsed.signature):
                return self.refuse(401, "invalid_token", "invalid signature")
            claims = parsed.claims
            keyset.remember(token, claims)
        return self.accept(ctx, token, claims, keyset)

    # -- opaque tokens -------------------------------------------------------------------
    def introspected_token(self, ctx: Any, token: bytes) -> Any:
        cache = self.introspection
        if cache is None:
            return self.refuse(401, "invalid_token", "the token is not a JWT")
        claims = cache.cached(token)
        if claims is None:
            return self._introspect(ctx, token, cache)
        return self.accept(ctx, token, claims, None)

    async def _introspect(self, ctx: Any, token: bytes, cache: IntrospectionCache) -> Any:
        endpoint = self.introspection_endpoint
        if endpoint is None:
            await self.provider.discovered()
            endpoint = self.provider.endpoint("introspection_endpoint")
            if endpoint is None:
                return self.unavailable()
        try:
            claims = await cache.introspect(endpoint, token)
        except ProviderError:
            return self.unavailable()
        return self.accept(ctx, token, claims, None)

    # -- the verdict ---------------------------------------------------------------------
    def accept(self, ctx: Any, token: bytes, claims: dict, keyset: KeySet | None) -> Any:
        """Check ``claims`` (verified with ``keyset``, or introspected when None) and admit."""
        if claims is INACTIVE:
            return self.refuse(401, "invalid_token", "the token is not active")
        refusal = self.rules.check(claims, time.time(), keyset is None)
        if refusal is not None:
            return self.refuse(*refusal)
        consumer = None
        if self.consumer_claim:
            consumer = self.consumer_of(claims)
            if consumer is None and not self.consumer_optional:
                return LocalResponse.error(403, "Forbidden")
        subject = str(claims.get("sub") or claims.get("client_id") or claims.get("jti") or "-")
        credential = {"id": subject, "issuer": self.issuer}
        identity = Identity(consumer, credential, subject)
        admitted = Admission(keyset, claims, identity, self.claims_upstream(claims), self.leeway)
        if keyset is not None:
            remembered = self.admitted
            if len(remembered) >= ADMITTED_KEPT:
                del remembered[next(iter(remembered))]
            remembered[token] = admitted
        self.apply(ctx, admitted)
        return None

    def apply(self, ctx: Any, admitted: Admission) -> None:
        authenticate(ctx, admitted.identity)
        ctx.vars[CLAIMS_VAR] = admitted.claims
        if self.stripped:
            request = ctx.request
            kept = [h for h in request.headers if h[0] not in self.stripped]
            kept.extend(admitted.headers)
            request.headers = kept

    def consumer_of(self, claims: dict) -> Any:
        value: Any = claims
        for step in self.consumer_claim:
            value = value.get(step) if type(value) is dict else None
        if type(value) is not str or not value:
            return None
        for field in self.consumer_by:
            if field == "id":
                found = self.index.consumers.get(value)
            elif field == "username":
                found = self.index.usernames.get(value)
            else:
                found = self.custom_ids.get(value)
            if found is not None:
                return found
        return None

    def claims_upstream(self, claims: dict) -> tuple[tuple[bytes, bytes], ...]:
        """The configured claims as upstream header lines (absent claims are left out)."""
        lines = []
        for claim, name in self.claim_headers:
            value = claims.get(claim)
            if value is None:
                continue
            if type(value) is list:
                text = " ".join(str(v) for v in value)
            elif type(value) is bool:
                text = "true" if value else "false"
            else:
                text = str(value)
            lines.append((name, header_value(text)))
        return tuple(lines)

    def refuse(self, status: int, error: str | None, description: str | None) -> LocalResponse:
        challenge = f"Bearer {self.realm}".rstrip(", ")
        if error is not None:
            challenge = f'Bearer {self.realm}error="{error}", error_description="{description}"'
        message = "Forbidden" if status == 403 else "Unauthorized"
        return LocalResponse.error(status, message, [(b"www-authenticate", challenge.encode())])

    def unavailable(self) -> LocalResponse:
        return LocalResponse.error(503, "The identity provider could not be reached")
