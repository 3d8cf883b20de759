"""The openid-connect plugin against a real OpenID provider (npm ``oidc-provider``, started
locally by ``oidckit``): real client_credentials tokens - JWTs (resource indicator) verified
with the discovered JWKS, opaque ones by introspection - sent through the engine to an echo
upstream. Also: key rotation on the provider while the gateway runs, the provider down (cached
keys keep working, a cold cache answers 503), expired tokens, the wrong audience, missing
scopes, a token signed by another key under the same ``kid``, a flood of unknown ``kid``s."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from gwharness import GatewayProcess, http, write_config
from tests.kits.plugins import gateway, handler
from tests.kits.standin import seen as seen_header

from .oidckit import (
    JWT_API,
    OPAQUE_API,
    SHORT_API,
    OidcProvider,
    b64url,
    rsa_key,
    segment,
)
from .proxykit import ChainProxy

GW = gateway([{"username": "gateway-test", "custom_id": "svc-1"}, {"username": "guest"}])
KEY1, JWK1 = rsa_key("k1")


@pytest.fixture
def idp(tmp_path):
    provider = OidcProvider(tmp_path).start([JWK1])
    try:
        yield provider
    finally:
        provider.stop()


def plugin(idp: OidcProvider, **extra):
    config = {
        "issuer": idp.issuer,
        "client_id": ["gateway-test"],
        "client_secret": ["gateway-secret"],
        "audience_required": [JWT_API, OPAQUE_API],
        "consumer_claim": ["client_id"],
        "upstream_headers_claims": ["tenant", "scope"],
        "upstream_headers_names": ["x-tenant", "x-token-scope"],
        # a unique TTL gives each test its own provider cache (they are shared per settings)
        "cache_ttl": 300 + uuid.uuid4().int % 1000,
        **extra,
    }
    return handler("openid-connect", config, GW)


def call(port: int, token: str | None, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http(port, "GET", "/data", headers=headers)


def forge(claims: dict, header: dict, key) -> str:
    data = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    sig = key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{data}.{b64url(sig)}"


def test_jwt_from_the_provider_reaches_upstream_as_its_consumer(idp, upstream):
    token = idp.token(JWT_API)
    assert segment(token, 0)["kid"] == "k1"
    with ChainProxy(upstream.port, [plugin(idp, hide_credentials=True)]) as proxy:
        for _ in range(2):  # verified, then admitted again from what was remembered
            spoof = {"X-Tenant": "evil", "X-Consumer-ID": "x"}
            status, _, doc = call(proxy.port, token, **spoof)
            assert status == 200, doc
            assert seen_header(doc, "x-consumer-username") == ["gateway-test"]
            assert seen_header(doc, "x-consumer-custom-id") == ["svc-1"]
            assert seen_header(doc, "x-tenant") == ["acme"]
            assert seen_header(doc, "x-token-scope") == ["read write"]
            assert seen_header(doc, "authorization") == []
            assert "x" not in seen_header(doc, "x-consumer-id")


def test_refusals_without_a_good_token(idp, upstream):
    good = idp.token(JWT_API)
    claims, header = segment(good, 1), segment(good, 0)
    attacker, _ = rsa_key("k1")
    same_kid = forge(claims, header, attacker)  # another key, the provider's kid
    none_head = b64url(json.dumps({"alg": "none", "kid": "k1"}).encode())
    none_alg = f"{none_head}.{good.split('.')[1]}."
    hs = forge(claims, {**header, "alg": "HS256"}, attacker).split(".")
    with ChainProxy(upstream.port, [plugin(idp, auth_methods=["bearer"])]) as proxy:
        status, headers, doc = call(proxy.port, None)
        assert (status, doc["message"], headers["www-authenticate"]) == (
            401,
            "Unauthorized",
            "Bearer",
        )
        for token, why in [
            (same_kid, "invalid signature"),
            (forge(claims, {**header, "crit": ["x-unknown"]}, KEY1), "critical extensions"),
            (none_alg, "not a JWT"),
            (".".join(hs), "not a JWT"),
            (good[:-4] + "AAAA", "invalid signature"),
            (idp.token(SHORT_API), "audience"),
        ]:
            status, headers, doc = call(proxy.port, token)
            assert status == 401, (why, doc)
            assert why in headers["www-authenticate"]
            assert 'error="invalid_token"' in headers["www-authenticate"]
    assert len(upstream.requests) == 0


def test_scopes_required_answers_403(idp, upstream):
    with ChainProxy(upstream.port, [plugin(idp, scopes_required=["admin", "read write"])]) as p:
        assert call(p.port, idp.token(JWT_API, "read write"))[0] == 200
        assert call(p.port, idp.token(JWT_API, "admin"))[0] == 200
        status, headers, doc = call(p.port, idp.token(JWT_API, "read"))
        assert (status, doc["message"]) == (403, "Forbidden")
        assert 'error="insufficient_scope"' in headers["www-authenticate"]


def test_expired_token_is_refused(idp, upstream):
    token = idp.token(SHORT_API)  # lives 2 s
    config = {"audience_required": [SHORT_API]}
    with ChainProxy(upstream.port, [plugin(idp, **config)]) as proxy:
        assert call(proxy.port, token)[0] == 200
        time.sleep(max(0.0, segment(token, 1)["exp"] - time.time()) + 1.1)
        status, headers, _ = call(proxy.port, token)
        assert status == 401 and "expired" in headers["www-authenticate"]


def test_opaque_tokens_by_introspection_cached(idp, upstream):
    token = idp.token(OPAQUE_API, "read")
    assert token.count(".") == 0
    oidc = plugin(idp)
    with ChainProxy(upstream.port, [oidc]) as proxy:
        for _ in range(3):
            status, _, doc = call(proxy.port, token)
            assert status == 200, doc
            assert seen_header(doc, "x-consumer-username") == ["gateway-test"]
        assert oidc.introspection.calls == 1
        for _ in range(3):
            status, headers, _ = call(proxy.port, "not-a-token-the-provider-issued")
            assert status == 401 and "not active" in headers["www-authenticate"]
        assert oidc.introspection.calls == 2  # the inactive answer is cached too
        idp.stop()
        assert call(proxy.port, token)[0] == 200  # cached while the provider is down
        assert call(proxy.port, "another-unknown-token")[0] == 503


def test_key_rotation_while_the_gateway_runs(idp, upstream):
    key2, jwk2 = rsa_key("k2")
    old = idp.token(JWT_API)
    oidc = plugin(idp, rediscovery_lifetime=0, cache_ttl=3)
    with ChainProxy(upstream.port, [oidc]) as proxy:
        assert call(proxy.port, old)[0] == 200
        idp.restart([jwk2, JWK1])  # k2 signs now, k1 still published
        new = idp.token(JWT_API)
        assert segment(new, 0)["kid"] == "k2"
        assert call(proxy.port, new)[0] == 200  # unknown kid: one refetch
        assert call(proxy.port, old)[0] == 200
        idp.restart([jwk2])  # k1 withdrawn upstream
        assert call(proxy.port, old)[0] == 200  # still within the cache TTL
        time.sleep(3.2)
        status, headers, _ = call(proxy.port, old)
        assert status == 401 and "kid" in headers["www-authenticate"]
        assert call(proxy.port, new)[0] == 200


def test_unknown_kid_flood_is_rate_limited(idp, upstream):
    good = idp.token(JWT_API)
    oidc = plugin(idp, rediscovery_lifetime=60)
    with ChainProxy(upstream.port, [oidc]) as proxy:
        assert call(proxy.port, good)[0] == 200
        fetched = oidc.provider.fetches
        attacker, _ = rsa_key("x")
        claims = segment(good, 1)
        for i in range(30):
            bogus = forge(claims, {"alg": "RS256", "kid": f"bogus-{i}"}, attacker)
            assert call(proxy.port, bogus)[0] == 401
        assert oidc.provider.fetches - fetched <= 1
        assert call(proxy.port, good)[0] == 200


def test_provider_down_cached_keys_work_cold_cache_503(idp, upstream):
    token = idp.token(JWT_API)
    warm, cold = plugin(idp), plugin(idp, timeout=2000)
    with ChainProxy(upstream.port, [warm]) as proxy:
        assert call(proxy.port, token)[0] == 200
        idp.stop()
        assert call(proxy.port, token)[0] == 200
    with ChainProxy(upstream.port, [cold]) as proxy:
        status, _, doc = call(proxy.port, token)
        assert (status, doc["message"]) == (503, "The identity provider could not be reached")


def test_anonymous_fallback_only_on_401(idp, upstream):
    oidc = plugin(idp, anonymous="guest", scopes_required=["admin"])
    with ChainProxy(upstream.port, [oidc]) as proxy:
        status, _, doc = call(proxy.port, "garbage.token.here")
        assert status == 200
        assert seen_header(doc, "x-consumer-username") == ["guest"]
        assert seen_header(doc, "x-anonymous-consumer") == ["true"]
        assert call(proxy.port, idp.token(JWT_API, "read"))[0] == 403


def test_from_kong_yml_in_a_two_worker_gateway(idp, upstream, tmp_path):
    doc = {
        "_format_version": "3.0",
        "consumers": [{"username": "gateway-test"}],
        "services": [
            {
                "name": "api",
                "url": f"http://127.0.0.1:{upstream.port}/",
                "routes": [{"name": "api", "paths": ["/"]}],
                "plugins": [
                    {
                        "name": "openid-connect",
                        "config": {
                            "issuer": idp.issuer,
                            "client_id": ["gateway-test"],
                            "client_secret": ["gateway-secret"],
                            "audience_required": [JWT_API, OPAQUE_API],
                            "consumer_claim": ["client_id"],
                        },
                    }
                ],
            }
        ],
    }
    jwt_token, opaque = idp.token(JWT_API), idp.token(OPAQUE_API, "read")
    with GatewayProcess(write_config(tmp_path / "kong.yml", doc), workers=2) as gw:
        for _ in range(6):  # new connections: both workers answer, each with its own cache
            for token in (jwt_token, opaque):
                status, _, doc = call(gw.proxy_port, token)
                assert status == 200, doc
                assert seen_header(doc, "x-consumer-username") == ["gateway-test"]
        assert call(gw.proxy_port, None)[0] == 401
        assert call(gw.proxy_port, idp.token(SHORT_API))[0] == 401
