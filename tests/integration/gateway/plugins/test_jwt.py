"""The jwt plugin over real sockets: the engine with a jwt (+ acl) chain in front of a local
echo upstream. Each JWT attack is sent as a real request and must come back 401 without
reaching the upstream; accepted tokens reach it with Kong's consumer headers and without the
client's forged ones."""

from __future__ import annotations

import json
import time

import pytest
from gwharness import http
from tests.kits.jwts import EC_KEYS, RSA_KEY, b64url, public_pem
from tests.kits.jwts import sign as sign_jws
from tests.kits.plugins import gateway, handler
from tests.kits.standin import seen

from .proxykit import ChainProxy, raw_exchange

SECRET = b"s3cret-for-hs256-tokens-0123456789"
RSA = RSA_KEY
EC = EC_KEYS["ES256"]


GW = gateway(
    [
        {
            "username": "analyst",
            "custom_id": "emp-7",
            "acls": [{"group": "analysts"}],
            "jwt_secrets": [
                {"key": "hs-app", "secret": SECRET.decode()},
                {"key": "rs-app", "algorithm": "RS256", "rsa_public_key": public_pem(RSA)},
                {"key": "es-app", "algorithm": "ES256", "rsa_public_key": public_pem(EC)},
            ],
        },
        {
            "username": "intern",
            "acls": [{"group": "interns"}],
            "jwt_secrets": [{"key": "intern-app", "secret": "intern-secret-0123456789abcdef"}],
        },
    ]
)


def b64(data: bytes) -> str:
    return b64url(data).decode()


def sign(claims: dict, alg: str = "HS256", key=SECRET, header: dict | None = None) -> str:
    """A token for ``claims``: HS256 with ``SECRET`` unless told, header ``{"alg", "typ"}``."""
    return sign_jws(claims, key, alg, header or {"alg": alg, "typ": "JWT"})


def claims(iss: str, **extra) -> dict:
    return {"iss": iss, "exp": int(time.time()) + 600, **extra}


@pytest.fixture
def proxy(upstream):
    with ChainProxy(
        upstream.port, [handler("jwt", {}, GW), handler("acl", {"deny": ["interns"]}, GW)]
    ) as p:
        yield p


@pytest.mark.parametrize(
    "alg,iss,key", [("HS256", "hs-app", SECRET), ("RS256", "rs-app", RSA), ("ES256", "es-app", EC)]
)
def test_valid_tokens_reach_the_upstream_with_consumer_headers(proxy, upstream, alg, iss, key):
    token = sign(claims(iss), alg, key)
    status, _, doc = http(
        proxy.port,
        "GET",
        "/data",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Consumer-Username": "admin",
            "X_Consumer_ID": "forged",
        },
    )
    assert status == 200
    assert seen(doc, "x-consumer-username") == ["analyst"]
    assert seen(doc, "x-consumer-custom-id") == ["emp-7"]
    assert seen(doc, "x-credential-identifier") == [iss]
    assert seen(doc, "x-consumer-groups") == ["analysts"]
    assert seen(doc, "x_consumer_id") == []


def test_token_in_query_parameter(proxy):
    status, _, doc = http(proxy.port, "GET", f"/q?jwt={sign(claims('hs-app'))}&x=1")
    assert status == 200 and doc["target"].startswith("/q?jwt=")


ATTACKS = {
    "no token": None,
    "alg none": sign(claims("hs-app"), "none", header={"alg": "none", "typ": "JWT"}),
    "algorithm switch": sign(claims("rs-app"), "HS256", SECRET),
    "RS/HS key confusion": sign(claims("rs-app"), "HS256", public_pem(RSA).encode()),
    "tampered claims": (
        lambda t: (
            t.split(".")[0]
            + "."
            + b64(json.dumps(claims("hs-app", admin=True)).encode())
            + "."
            + t.split(".")[2]
        )
    )(sign(claims("hs-app"))),
    "wrong secret": sign(claims("hs-app"), "HS256", b"guess"),
    "expired": sign({"iss": "hs-app", "exp": int(time.time()) - 5}),
    "no exp": sign({"iss": "hs-app"}),
    "unknown issuer": sign(claims("nobody")),
    "garbage": "eyJ.%%%.!!",
    "five parts (JWE)": "a.b.c.d.e",
    "huge header": b64(b'{"alg":"HS256","x":"' + b"A" * 4000 + b'"}') + ".e30.c2ln",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attacks_are_refused_with_401_before_the_upstream(proxy, upstream, attack):
    before = len(upstream.requests)
    token = ATTACKS[attack]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, hdrs, body = http(proxy.port, "GET", "/data", headers=headers)
    assert status == 401, (attack, body)
    assert hdrs["www-authenticate"].startswith("Bearer")
    assert hdrs["content-type"].startswith("application/json")
    assert len(upstream.requests) == before


def test_kong_messages_and_bodies_on_the_wire(proxy):
    _, _, body = http(
        proxy.port, "GET", "/", headers={"Authorization": f"Bearer {ATTACKS['expired']}"}
    )
    assert body == {"exp": "token expired"}
    _, _, body = http(
        proxy.port, "GET", "/", headers={"Authorization": f"Bearer {ATTACKS['alg none']}"}
    )
    assert body["message"] == "Bad token; invalid alg" and body["request_id"]
    _, _, body = http(proxy.port, "GET", "/")
    assert body["message"] == "Unauthorized"


def test_acl_after_jwt_blocks_a_denied_group(proxy, upstream):
    before = len(upstream.requests)
    token = sign(claims("intern-app"), key=b"intern-secret-0123456789abcdef")
    status, _, body = http(proxy.port, "GET", "/data", headers={"Authorization": f"Bearer {token}"})
    assert (status, body["message"]) == (403, "You cannot consume this service")
    assert len(upstream.requests) == before


def test_keep_alive_connection_survives_refusals(proxy):
    import http.client as httpclient

    conn = httpclient.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    good = sign(claims("hs-app"))
    try:
        for i in range(20):
            token = good if i % 2 else "x.y.z"
            status, _, _ = http(
                proxy.port, "GET", "/", conn=conn, headers={"Authorization": f"Bearer {token}"}
            )
            assert status == (200 if i % 2 else 401)
    finally:
        conn.close()


def test_header_with_raw_bytes_is_not_a_server_error(proxy):
    out = raw_exchange(
        proxy.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe.\x80.\x81\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert out.startswith(b"HTTP/1.1 401 ")
