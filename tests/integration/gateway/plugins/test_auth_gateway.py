"""The auth and transformation plugins inside the real gateway (declarative config ->
``GatewayNode`` with its router, Kong's plugin precedence and chains) over real sockets: a
public route with the security response headers, a JWT-secured route limited to a group, a
key-auth route hiding its key, and a consumer-less request refused by the acl."""

from __future__ import annotations

import time

import pytest
from gwharness import InProcessGateway, http, write_config
from tests.kits.jwts import sign
from tests.kits.standin import seen

SECRET = "platform-jwt-secret-0123456789abcdef"


def token(iss: str, secret: str = SECRET, **claims) -> str:
    body = {"iss": iss, "exp": int(time.time()) + 300, **claims}
    return sign(body, secret.encode(), "HS256", {"alg": "HS256", "typ": "JWT"})


@pytest.fixture
def gateway(upstream, tmp_path):
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "trino",
                "url": f"http://{upstream.address}",
                "routes": [
                    {"name": "public", "paths": ["/public"]},
                    {
                        "name": "secured",
                        "paths": ["/api/trino"],
                        "plugins": [
                            {"name": "jwt"},
                            {"name": "acl", "config": {"allow": ["analysts"]}},
                            {
                                "name": "request-transformer",
                                "config": {"add": {"headers": ["X-Platform:254carbon"]}},
                            },
                        ],
                    },
                    {
                        "name": "keyed",
                        "paths": ["/api/keyed"],
                        "plugins": [{"name": "key-auth", "config": {"hide_credentials": True}}],
                    },
                ],
            }
        ],
        "consumers": [
            {
                "username": "ana",
                "acls": [{"group": "analysts"}],
                "jwt_secrets": [{"key": "ana-app", "secret": SECRET}],
                "keyauth_credentials": [{"key": "ana-key"}],
            },
            {"username": "bot", "jwt_secrets": [{"key": "bot-app", "secret": SECRET}]},
        ],
        "plugins": [
            {
                "name": "response-transformer",
                "config": {
                    "add": {"headers": ["X-Content-Type-Options:nosniff", "X-Frame-Options:DENY"]},
                    "remove": {"headers": ["X-Powered-By"]},
                },
            }
        ],
    }
    with InProcessGateway(write_config(tmp_path / "kong.yml", doc)) as gw:
        yield gw


def test_public_route_gets_security_headers(gateway):
    status, hdrs, doc = http(gateway.proxy_port, "GET", "/public/x")
    assert status == 200 and doc["target"] == "/x"
    assert hdrs["x-frame-options"] == "DENY" and "x-powered-by" not in hdrs


def test_secured_route_jwt_then_acl_then_transformer(gateway):
    status, hdrs, doc = http(
        gateway.proxy_port,
        "GET",
        "/api/trino/v1/statement",
        headers={"Authorization": f"Bearer {token('ana-app')}"},
    )
    assert status == 200 and doc["target"] == "/v1/statement"
    assert seen(doc, "x-consumer-username") == ["ana"]
    assert seen(doc, "x-consumer-groups") == ["analysts"]
    assert seen(doc, "x-platform") == ["254carbon"]
    assert hdrs["x-content-type-options"] == "nosniff"
    status, hdrs, body = http(
        gateway.proxy_port,
        "GET",
        "/api/trino/v1/statement",
        headers={"Authorization": f"Bearer {token('bot-app')}"},
    )
    assert (status, body["message"]) == (403, "You cannot consume this service")
    assert hdrs["x-frame-options"] == "DENY"  # global response headers on refusals too
    status, _, body = http(gateway.proxy_port, "GET", "/api/trino/x")
    assert (status, body["message"]) == (401, "Unauthorized")


def test_keyed_route_hides_the_key(gateway):
    status, _, doc = http(gateway.proxy_port, "GET", "/api/keyed/r?apikey=ana-key&x=1")
    assert status == 200 and doc["target"] == "/r?x=1"
    assert seen(doc, "x-consumer-username") == ["ana"]
