"""basic-auth, hmac-auth and bot-detection inside the real gateway (declarative kong.yml ->
``GatewayNode``, routes with request buffering on, the Admin API) over real sockets:
credentials declared in the file and added through ``/consumers/{c}/basic-auth`` and
``/consumers/{c}/hmac-auth`` authenticate; a signed body altered in transit is refused before
the upstream sees it; known bots get Kong's 403 while browsers pass."""

from __future__ import annotations

import base64

import pytest
from gwharness import InProcessGateway, admin, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import seen as seen_header
from tests.unit.gateway.plugins.hmackit import body_digest, signed_headers

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def gateway(upstream, tmp_path):
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "reports",
                "url": f"http://{upstream.address}",
                "plugins": [{"name": "bot-detection", "config": {"deny": ["^BadClient/"]}}],
                "routes": [
                    {
                        "name": "basic",
                        "paths": ["/basic"],
                        "plugins": [{"name": "basic-auth", "config": {"hide_credentials": True}}],
                    },
                    {
                        "name": "signed",
                        "paths": ["/signed"],
                        "plugins": [
                            {
                                "name": "hmac-auth",
                                "config": {
                                    "validate_request_body": True,
                                    "enforce_headers": ["date", "digest"],
                                },
                            }
                        ],
                    },
                    {"name": "open", "paths": ["/open"]},
                ],
            }
        ],
        "consumers": [
            {
                "username": "ops",
                "basicauth_credentials": [{"username": "ops-user", "password": "ops-pass"}],
                "hmacauth_credentials": [{"username": "ops-hmac", "secret": "ops-secret"}],
            }
        ],
    }
    with InProcessGateway(write_config(tmp_path / "kong.yml", doc)) as gw:
        yield gw


def test_declared_basic_auth_credentials(gateway):
    status, _, doc = http(
        gateway.proxy_port,
        "GET",
        "/basic/r",
        headers={"Authorization": basic("ops-user", "ops-pass")},
    )
    assert status == 200 and seen_header(doc, "x-consumer-username") == ["ops"]
    assert seen_header(doc, "authorization") == []
    status, hdrs, body = http(
        gateway.proxy_port, "GET", "/basic/r", headers={"Authorization": basic("ops-user", "x")}
    )
    assert (status, body["message"]) == (401, "Unauthorized")
    assert hdrs["www-authenticate"] == 'Basic realm="service"'


def test_credentials_added_through_the_admin_api(gateway):
    port = gateway.admin_port
    status, _, _ = admin(port, "POST", "/consumers", {"username": "late"})
    assert status == 201
    status, _, cred = admin(
        port, "POST", "/consumers/late/basic-auth", {"username": "late-user", "password": "pw-1"}
    )
    assert status == 201 and cred["password"] != "pw-1" and len(cred["password"]) == 40
    status, _, hcred = admin(port, "POST", "/consumers/late/hmac-auth", {"username": "late-hmac"})
    assert status == 201 and len(hcred["secret"]) == 32
    status, _, listed = admin(port, "GET", "/hmac-auths")
    assert status == 200 and {c["username"] for c in listed["data"]} == {"ops-hmac", "late-hmac"}
    status, _, _ = admin(port, "POST", "/consumers/late/hmac-auth", {"username": "ops-hmac"})
    assert status == 409  # usernames are unique

    def basic_ok():
        headers = {"Authorization": basic("late-user", "pw-1")}
        return http(gateway.proxy_port, "GET", "/basic/r", headers=headers)[0] == 200

    wait_until(basic_ok, what="the new basic-auth credential to be served")
    body = b"{}"
    headers = signed_headers(
        "late-hmac",
        hcred["secret"],
        method="POST",
        target="/signed/r",
        headers={"Digest": body_digest(body)},
        names=["date", "digest", "request-line"],
    )
    status, _, doc = http(gateway.proxy_port, "POST", "/signed/r", headers=headers, body=body)
    assert status == 200 and seen_header(doc, "x-consumer-username") == ["late"]


def test_signed_body_altered_in_transit_is_refused_before_the_upstream(gateway, upstream):
    body = b'{"transfer": 10}'
    headers = signed_headers(
        "ops-hmac",
        "ops-secret",
        method="POST",
        target="/signed/r",
        headers={"Digest": body_digest(body)},
        names=["date", "digest"],
    )
    status, _, doc = http(gateway.proxy_port, "POST", "/signed/r", headers=headers, body=body)
    assert status == 200 and doc["body"] == body.decode()
    before = len(upstream.requests)
    status, _, answer = http(
        gateway.proxy_port, "POST", "/signed/r", headers=headers, body=b'{"transfer": 99}'
    )
    assert (status, answer["message"]) == (401, "HMAC signature does not match")
    unsigned_digest = signed_headers("ops-hmac", "ops-secret", target="/signed/r")
    status, _, answer = http(gateway.proxy_port, "GET", "/signed/r", headers=unsigned_digest)
    assert (status, answer["message"]) == (401, "HMAC signature cannot be verified")
    assert len(upstream.requests) == before


def test_bot_detection_on_the_service(gateway):
    for agent in ("Mozilla/5.0 (compatible; Googlebot/2.1)", "BadClient/1.0", "okhttp/4.9.0"):
        status, _, body = http(gateway.proxy_port, "GET", "/open/x", headers={"User-Agent": agent})
        assert (status, body["message"]) == (403, "Forbidden"), agent
    status, _, _ = http(gateway.proxy_port, "GET", "/open/x", headers={"User-Agent": CHROME})
    assert status == 200
