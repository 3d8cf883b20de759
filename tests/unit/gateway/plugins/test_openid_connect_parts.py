"""The openid-connect plugin's parts, each against real inputs: the config schema, JWKS parsing
(keys that must be left out), the claims rules (leeway, audience, scopes), and the provider
cache and introspection client over a real socket to a small stand-in provider whose answers
the test controls (single flight, rate limit, issuer mismatch, oversized and slow answers,
client authentication, cache lifetimes)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.parse

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from tests.kits.plugins import problems as problems_of

from carbonplane.gateway.plugins.openid_connect import introspection
from carbonplane.gateway.plugins.openid_connect.claims import TokenRules, token_scopes
from carbonplane.gateway.plugins.openid_connect.fetch import ProviderError, get_json
from carbonplane.gateway.plugins.openid_connect.introspection import INACTIVE, IntrospectionCache
from carbonplane.gateway.plugins.openid_connect.keys import KeySet
from carbonplane.gateway.plugins.openid_connect.provider import IdentityProvider

RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())


def jwk(key, **extra) -> dict:
    algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    doc = json.loads(algo.to_jwk(key.public_key()))
    doc.update(extra)
    return doc


# -- schema ----------------------------------------------------------------------------------


def test_schema_refuses_what_would_weaken_validation():
    assert problems_of("openid-connect", {}) == ["config.issuer: required field missing"]
    base = {"issuer": "https://idp.test/realms/a", "auth_methods": ["bearer"]}
    assert problems_of("openid-connect", base) == []
    assert problems_of("openid-connect", {**base, "issuer": "idp.test"}) == [
        "config.issuer: must be an http:// or https:// URL with a host"
    ]
    for alg in ("HS256", "none"):
        [problem] = problems_of("openid-connect", {**base, "signing_algs": [alg]})
        assert problem.startswith("config.signing_algs")
    assert problems_of("openid-connect", {"issuer": base["issuer"]}) == [
        "config.client_id: introspection needs client_id and client_secret"
    ]
    assert problems_of("openid-connect", {**base, "upstream_headers_claims": ["sub"]}) == [
        "config.upstream_headers_names: expected 1 names, one per claim"
    ]


# -- keys ------------------------------------------------------------------------------------


def test_key_set_keeps_only_public_signing_keys():
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    doc = {
        "keys": [
            jwk(RSA, kid="r1", alg="RS256"),
            jwk(EC, kid="e1"),
            {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"},
            jwk(RSA, kid="enc", use="enc"),
            jwk(short, kid="short"),
            {**jwk(EC, kid="bad-curve"), "crv": "P-192"},
            jwk(RSA, kid="r1"),
            "garbage",
        ]
    }
    keys = KeySet(doc, 0.0)
    assert sorted(keys.keys) == ["e1", "r1"]
    assert len(keys.skipped) == 6, keys.skipped
    assert keys.key_for(None) is None  # two keys: a token without kid names none
    assert keys.key_for(["r1"]) is None
    assert isinstance(keys.key_for("r1").verifier("RS384"), str)  # the key names RS256
    assert isinstance(keys.key_for("e1").verifier("RS256"), str)  # EC key, RSA algorithm
    assert callable(keys.key_for("e1").verifier("ES256"))
    with pytest.raises(ValueError):
        KeySet({"keys": "nope"}, 0.0)


# -- claims ----------------------------------------------------------------------------------


def test_claims_rules_with_leeway_audience_and_scopes():
    rules = TokenRules("https://idp", 5, ["api"], ["read write", "admin"])
    now = 1_000_000.0
    good = {"iss": "https://idp", "exp": now + 60, "aud": ["x", "api"], "scope": "read write"}
    assert rules.check(good, now, False) is None
    assert rules.check({**good, "exp": now - 4}, now, False) is None  # within the leeway
    assert rules.check({**good, "exp": now - 5}, now, False)[2] == "the token expired"
    assert rules.check({**good, "exp": "soon"}, now, False)[0] == 401
    assert rules.check({k: v for k, v in good.items() if k != "exp"}, now, False)[0] == 401
    assert rules.check({**good, "nbf": now + 6}, now, False)[0] == 401
    assert rules.check({**good, "nbf": now + 5}, now, False) is None
    assert rules.check({**good, "iat": now + 60}, now, False)[0] == 401
    assert rules.check({**good, "iss": "https://other"}, now, False)[0] == 401
    assert rules.check({**good, "aud": "other"}, now, False)[2].endswith("audience")
    assert rules.check({**good, "aud": [{"x": 1}]}, now, False)[0] == 401
    assert rules.check({**good, "scope": "read"}, now, False)[:2] == (403, "insufficient_scope")
    assert rules.check({**good, "scope": None, "scp": ["admin"]}, now, False) is None
    # an introspection answer may omit iss and exp: the provider said active
    assert rules.check({"aud": "api", "scope": "admin"}, now, True) is None
    assert token_scopes({"scope": ["a", 1]}) == {"a"}


# -- a stand-in provider on a real socket ----------------------------------------------------


class StandInProvider:
    """Answers discovery, JWKS and introspection; counts what it was asked."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.forms: list[tuple[dict, str | None]] = []
        self.delay = 0.0
        self.issuer_override: str | None = None
        self.jwks: dict = {"keys": [jwk(RSA, kid="r1")]}
        self.active: dict = {"active": True, "exp": int(time.time()) + 3600, "sub": "alice"}
        self.server: asyncio.Server | None = None
        self.issuer = ""

    async def __aenter__(self) -> StandInProvider:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.issuer = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def serve(self, reader, writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        path = lines[0].split()[1]
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        body = await reader.readexactly(int(fields.get("Content-Length", 0)))
        self.hits[path] = self.hits.get(path, 0) + 1
        await asyncio.sleep(self.delay)
        if path == "/.well-known/openid-configuration":
            doc = {
                "issuer": self.issuer_override or self.issuer,
                "jwks_uri": f"{self.issuer}/jwks",
                "introspection_endpoint": f"{self.issuer}/introspect",
            }
        elif path == "/jwks":
            doc = self.jwks
        elif path == "/introspect":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            self.forms.append((form, fields.get("Authorization")))
            doc = self.active if form["token"] == "good" else {"active": False}
        else:
            doc = {}
        payload = json.dumps(doc).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
        await writer.drain()
        writer.close()


def run(coro):
    return asyncio.run(coro)


def test_keys_fetched_once_for_a_burst_then_rate_limited():
    async def scenario():
        async with StandInProvider() as idp:
            idp.delay = 0.05
            provider = IdentityProvider(idp.issuer, None, 300.0, 60.0, 5.0)
            assert provider.keys(time.monotonic()) is None
            sets = await asyncio.gather(*(provider.refresh() for _ in range(20)))
            assert all(s is sets[0] for s in sets) and "r1" in sets[0].keys
            assert idp.hits == {"/.well-known/openid-configuration": 1, "/jwks": 1}
            assert provider.keys(time.monotonic()) is sets[0]
            assert not provider.may_refetch(time.monotonic())
            for _ in range(10):  # unknown kids: the rate limit answers from the cache
                assert await provider.refresh() is sets[0]
            assert idp.hits["/jwks"] == 1

    run(scenario())


def test_expired_set_is_replaced_and_kept_when_the_provider_is_gone():
    async def scenario():
        async with StandInProvider() as idp:
            provider = IdentityProvider(idp.issuer, None, 0.2, 0.0, 2.0)
            first = await provider.refresh()
            idp.jwks = {"keys": [jwk(EC, kid="e2")]}
            await asyncio.sleep(0.25)
            assert provider.keys(time.monotonic()) is None
            second = await provider.refresh()
            assert sorted(second.keys) == ["e2"] and second is not first
        await asyncio.sleep(0.25)  # the provider is closed now
        assert await provider.refresh() is second  # stale, but the last one known
        assert "127.0.0.1" in provider.last_error

    run(scenario())


def test_discovery_for_another_issuer_is_refused():
    async def scenario():
        async with StandInProvider() as idp:
            idp.issuer_override = "https://evil.test"
            provider = IdentityProvider(idp.issuer, None, 300.0, 0.0, 2.0)
            assert await provider.refresh() is None
            assert "evil.test" in provider.last_error
            assert "/jwks" not in idp.hits

    run(scenario())


def test_slow_or_oversized_answers_fail_without_blocking_the_loop():
    async def scenario():
        async with StandInProvider() as idp:
            idp.delay = 5.0
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.get_running_loop().create_task(ticker())
            started = time.monotonic()
            with pytest.raises(ProviderError, match="no answer within 0.3 s"):
                await get_json(f"{idp.issuer}/jwks", 0.3)
            assert time.monotonic() - started < 1.0
            assert ticks >= 10  # the loop kept running while the fetch waited
            task.cancel()
            idp.delay = 0.0
            idp.jwks = {"keys": [], "pad": "x" * (2 << 20)}
            with pytest.raises(ProviderError, match="larger than"):
                await get_json(f"{idp.issuer}/jwks", 2.0)
        with pytest.raises(ProviderError, match="GET http://127.0.0.1"):
            await get_json(f"{idp.issuer}/jwks", 2.0)  # refused connection

    run(scenario())


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_introspection_client_auth_and_cache_lifetimes(method):
    async def scenario():
        async with StandInProvider() as idp:
            cache = IntrospectionCache("gw:1", "s&cret", method, 300.0, 0.3, 2.0)
            endpoint = f"{idp.issuer}/introspect"
            idp.active["exp"] = int(time.time()) + 1
            results = await asyncio.gather(*(cache.introspect(endpoint, b"good") for _ in range(5)))
            assert all(r["sub"] == "alice" for r in results)
            assert cache.calls == 1  # one POST for five concurrent requests
            form, authorization = idp.forms[0]
            assert form["token"] == "good" and form["token_type_hint"] == "access_token"
            if method == "client_secret_basic":
                pair = base64.b64decode(authorization.split()[1]).decode()
                assert pair == "gw%3A1:s%26cret" and "client_secret" not in form
            else:
                assert authorization is None
                assert (form["client_id"], form["client_secret"]) == ("gw:1", "s&cret")
            assert cache.cached(b"good")["sub"] == "alice"
            assert await cache.introspect(endpoint, b"bad") is INACTIVE
            assert cache.cached(b"bad") is INACTIVE
            await asyncio.sleep(0.35)
            assert cache.cached(b"bad") is None  # negative results live cache_ttl_neg
            await asyncio.sleep(max(0.0, idp.active["exp"] - time.time()) + 0.05)
            assert cache.cached(b"good") is None  # never past the token's own exp
            assert all(len(key) == 32 for key in cache.entries)  # digests, not tokens

    run(scenario())


def test_introspection_flood_of_distinct_tokens_is_bounded(monkeypatch):
    monkeypatch.setattr(introspection, "MAX_INFLIGHT", 4)

    async def scenario():
        async with StandInProvider() as idp:
            idp.delay = 0.2
            cache = IntrospectionCache("gw", "s", "client_secret_basic", 300.0, 10.0, 2.0)
            endpoint = f"{idp.issuer}/introspect"
            tokens = [f"made-up-{i}".encode() for i in range(10)]
            results = await asyncio.gather(
                *(cache.introspect(endpoint, t) for t in tokens), return_exceptions=True
            )
            refused = [r for r in results if isinstance(r, ProviderError)]
            assert len(refused) == 6 and "already in flight" in str(refused[0])
            assert idp.hits["/introspect"] == 4 == cache.calls
            assert await cache.introspect(endpoint, b"good") is not INACTIVE  # room again

    run(scenario())
