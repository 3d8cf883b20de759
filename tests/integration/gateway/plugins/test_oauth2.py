"""The oauth2 plugin in a real gateway over real sockets: every grant through the token and
authorization endpoints, PKCE, refresh rotation, bearer authentication with Kong's headers and
errors, the Admin API's credentials and token revocation, and an adversary's attempts."""

from __future__ import annotations

import base64
import socket

import pytest
from gwharness import InProcessGateway, admin, http, write_config
from tests.kits.standin import seen as seen_header

from .oauth2kit import (
    CHALLENGE,
    FORM,
    PROVISION,
    VERIFIER,
    authorize,
    call,
    client_token,
    config,
    password_token,
    post,
)


@pytest.fixture
def gateway(upstream, tmp_path, cp_home):
    from carbonplane.gateway.plugins.oauth2.stores import forget_stores

    path = write_config(tmp_path / "kong.yml", config(upstream.address))
    with InProcessGateway(path, proxy={"trusted_ips": ["127.0.0.1/32"]}) as gw:
        yield gw
    forget_stores()


def test_client_credentials_token_authenticates_with_kongs_headers(gateway):
    port = gateway.proxy_port
    doc = client_token(port, scope="read write", state="s1")
    assert doc["token_type"] == "bearer" and doc["expires_in"] == 7200 and doc["state"] == "s1"
    assert "refresh_token" not in doc
    status, _, seen = call(
        port, doc["access_token"], headers={"x-authenticated-userid": "admin", "x-consumer-id": "x"}
    )
    assert status == 200
    assert seen_header(seen, "x-consumer-username") == ["ana"]
    assert seen_header(seen, "x-consumer-custom-id") == ["ana-42"]
    assert seen_header(seen, "x-credential-identifier") == ["web"]
    assert seen_header(seen, "x-authenticated-scope") == ["read write"]
    assert seen_header(seen, "x-authenticated-userid") == []  # the spoofed one is gone
    assert (
        len(seen_header(seen, "x-consumer-id")) == 1
        and seen_header(seen, "x-consumer-id")[0] != "x"
    )


def test_token_endpoint_answers_keep_alive_and_never_reach_the_upstream(gateway, upstream):
    import http.client as httpclient

    conn = httpclient.HTTPConnection("127.0.0.1", gateway.proxy_port, timeout=10)
    body = b"grant_type=client_credentials&client_id=web&client_secret=web-secret"
    for _ in range(3):
        conn.request(
            "POST", "/api/oauth2/token", body=body, headers={**FORM, "x-forwarded-proto": "https"}
        )
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("cache-control") == "no-store"
        assert resp.getheader("pragma") == "no-cache"
        resp.read()
    conn.close()
    status, hdrs, doc = http(gateway.proxy_port, "GET", "/api/oauth2/token")
    assert status == 405 and doc["error"] == "invalid_method"
    assert doc["error_description"] == "The HTTP method GET is invalid for the token endpoint"
    assert hdrs["www-authenticate"].startswith('Bearer realm="platform", error="invalid_method"')


def test_plain_http_is_refused_without_a_trusted_forwarded_proto(gateway):
    status, _, doc = http(
        gateway.proxy_port,
        "POST",
        "/api/oauth2/token",
        headers=FORM,
        body=b"grant_type=client_credentials&client_id=web&client_secret=web-secret",
    )
    assert (status, doc) == (
        400,
        {"error": "access_denied", "error_description": "You must use HTTPS"},
    )


def test_missing_and_invalid_tokens_get_401_with_bearer_challenge(gateway):
    status, hdrs, doc = http(gateway.proxy_port, "GET", "/api/data")
    assert status == 401 and doc["error_description"] == "The access token is missing"
    assert hdrs["www-authenticate"] == 'Bearer realm="platform"'
    status, hdrs, doc = call(gateway.proxy_port, "not-a-token")
    assert (status, doc["error"]) == (401, "invalid_token")
    assert hdrs["www-authenticate"] == (
        'Bearer realm="platform", error="invalid_token", '
        'error_description="The access token is invalid or has expired"'
    )


def test_token_is_bound_to_its_service(gateway):
    token = client_token(gateway.proxy_port)["access_token"]
    assert call(gateway.proxy_port, token, "/other/x")[0] == 401
    assert call(gateway.proxy_port, token, "/api/x")[0] == 200


def test_authorization_code_with_pkce_success_mismatch_and_replay(gateway):
    port = gateway.proxy_port
    status, doc, query = authorize(port, "spa", code_challenge=CHALLENGE.decode(), state="st")
    assert status == 200 and query["state"] == ["st"]
    assert doc["redirect_uri"].startswith("https://spa.example/cb?")
    code = query["code"][0]
    exchange = {"grant_type": "authorization_code", "client_id": "spa", "code": code}
    status, _, doc = post(port, "/api/oauth2/token", exchange | {"code_verifier": "y" * 50})
    assert (status, doc["error"]) == (400, "invalid_grant")
    status, _, doc = post(port, "/api/oauth2/token", exchange | {"code_verifier": VERIFIER})
    assert status == 200 and doc["refresh_token"]
    status, _, seen = call(port, doc["access_token"])
    assert seen_header(seen, "x-authenticated-userid") == ["user-9"]
    status, _, doc = post(port, "/api/oauth2/token", exchange | {"code_verifier": VERIFIER})
    assert (status, doc["error_description"]) == (400, "Invalid code")  # replay refused


def test_code_of_one_client_cannot_be_spent_by_another(gateway):
    port = gateway.proxy_port
    code = authorize(port, "web")[2]["code"][0]
    stolen = {"grant_type": "authorization_code", "code": code}
    status, _, doc = post(
        port, "/api/oauth2/token", stolen | {"client_id": "bob", "client_secret": "bob-secret"}
    )
    assert (status, doc["error_description"]) == (400, "Invalid code")
    status, _, doc = post(
        port,
        "/api/oauth2/token",
        stolen
        | {
            "client_id": "web",
            "client_secret": "web-secret",
            "redirect_uri": "https://evil.example/cb",
        },
    )
    assert (
        status == 400
        and doc["error"] == "invalid_request"
        and "redirect_uri" in doc["error_description"]
    )
    basic = base64.b64encode(b"web:web-secret").decode()
    status, _, doc = post(port, "/api/oauth2/token", stolen, {"authorization": f"Basic {basic}"})
    assert status == 200, doc


def test_authorize_refuses_unknown_redirects_and_bad_provision_keys(gateway):
    port = gateway.proxy_port
    status, doc, query = authorize(port, "web", redirect_uri="https://evil.example/steal")
    assert status == 400 and doc["redirect_uri"].startswith("https://app.example/cb?")
    assert query["error"] == ["invalid_request"]
    status, doc, _ = authorize(port, "web", provision_key="guess")
    assert (status, doc["error"]) == (400, "invalid_provision_key")
    status, doc, _ = authorize(port, "nobody")
    assert (status, doc["error"]) == (400, "invalid_client")


def test_password_grant_and_refresh_rotation_without_scope_escalation(gateway):
    port = gateway.proxy_port
    first = password_token(port)
    status, _, second = post(
        port,
        "/api/oauth2/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": "web",
            "client_secret": "web-secret",
            "scope": "read write",
        },
    )
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    assert call(port, first["access_token"])[0] == 401
    status, _, seen = call(port, second["access_token"])
    assert seen_header(seen, "x-authenticated-scope") == ["read"]
    status, _, doc = post(
        port,
        "/api/oauth2/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": "web",
            "client_secret": "web-secret",
        },
    )
    assert (status, doc["error_description"]) == (400, "Invalid refresh_token")


def test_admin_api_credentials_and_token_revocation(gateway):
    port, admin_port = gateway.proxy_port, gateway.admin_port
    status, _, cred = admin(
        admin_port,
        "POST",
        "/consumers/bob/oauth2",
        {
            "name": "cli",
            "client_secret": "cli-secret",
            "hash_secret": True,
            "redirect_uris": ["https://cli.example/cb"],
        },
    )
    assert status == 201 and cred["client_secret"].startswith("$pbkdf2-sha512$")
    status, _, doc = admin(
        admin_port, "POST", "/consumers/bob/oauth2", {"name": "x", "redirect_uris": ["nope"]}
    )
    assert status == 400 and "cannot parse 'nope'" in str(doc)
    assert admin(admin_port, "GET", f"/oauth2/{cred['client_id']}")[0] == 200
    token = client_token(port, cred["client_id"], "cli-secret")["access_token"]
    assert call(port, token)[0] == 200
    status, _, listing = admin(admin_port, "GET", "/oauth2_tokens")
    row = next(t for t in listing["data"] if t["access_token"] == token)
    assert row["credential"] == {"id": cred["id"]} and row["token_type"] == "bearer"
    assert admin(admin_port, "GET", f"/oauth2_tokens/{row['id']}")[2]["access_token"] == token
    assert admin(admin_port, "DELETE", f"/oauth2_tokens/{token}")[0] == 204
    assert call(port, token)[0] == 401
    assert admin(admin_port, "GET", f"/oauth2_tokens/{row['id']}")[0] == 404


def test_secret_comparison_refuses_prefixes_and_oversized_bodies(gateway):
    port = gateway.proxy_port
    for secret in ("web-secre", "web-secret ", "", "web-secret" * 50):
        status, _, doc = post(
            port,
            "/api/oauth2/token",
            {"grant_type": "client_credentials", "client_id": "web", "client_secret": secret},
        )
        assert (status, doc["error"]) == (400, "invalid_client"), secret
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")


def test_provision_key_is_required_for_password_grant(gateway):
    status, _, doc = post(
        gateway.proxy_port,
        "/api/oauth2/token",
        {
            "grant_type": "password",
            "client_id": "web",
            "client_secret": "web-secret",
            "provision_key": PROVISION[:-1],
            "authenticated_userid": "u",
        },
    )
    assert (status, doc["error"]) == (400, "invalid_provision_key")


def test_hide_credentials_and_anonymous_fallback(upstream, tmp_path, cp_home):
    from carbonplane.gateway.plugins.oauth2.stores import forget_stores

    doc = config(upstream.address, hide_credentials=True, anonymous="guest")
    doc["consumers"].append({"username": "guest"})
    path = write_config(tmp_path / "kong.yml", doc)
    try:
        with InProcessGateway(path, proxy={"trusted_ips": ["127.0.0.1/32"]}) as gw:
            port = gw.proxy_port
            token = client_token(port, scope="read")["access_token"]
            status, _, seen = call(port, token, "/api/data?x=1")
            assert status == 200 and seen_header(seen, "authorization") == []
            status, _, seen = http(port, "GET", f"/api/data?access_token={token}&x=1")
            assert status == 200 and seen["target"] == "/data?x=1"
            assert seen_header(seen, "x-credential-identifier") == ["web"]
            status, _, seen = http(
                port,
                "GET",
                "/api/data",
                headers={"authorization": "Bearer forged", "x-authenticated-scope": "admin"},
            )
            assert status == 200 and seen_header(seen, "x-consumer-username") == ["guest"]
            assert seen_header(seen, "x-anonymous-consumer") == ["true"]
            assert seen_header(seen, "x-authenticated-scope") == []
    finally:
        forget_stores()


def test_a_stalled_redis_fails_bearer_requests_without_blocking_the_worker(
    upstream, tmp_path, cp_home
):
    import threading
    import time

    from carbonplane.gateway.plugins.oauth2.stores import forget_stores

    blackhole = socket.socket()  # accepts connections (kernel backlog), never answers
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(16)
    redis = {"host": "127.0.0.1", "port": blackhole.getsockname()[1], "timeout": 1500}
    doc = config(upstream.address, token_store="redis", redis=redis)
    doc["services"].append(
        {"name": "plain", "url": f"http://{upstream.address}", "routes": [{"paths": ["/plain"]}]}
    )
    path = write_config(tmp_path / "kong.yml", doc)
    try:
        with InProcessGateway(path, proxy={"trusted_ips": ["127.0.0.1/32"]}) as gw:
            stalled: list = []
            waiting = threading.Thread(
                target=lambda: stalled.append(call(gw.proxy_port, "some-token")[0])
            )
            started = time.monotonic()
            waiting.start()
            time.sleep(0.2)  # the bearer lookup is now waiting on the silent Redis
            status, _, _ = http(gw.proxy_port, "GET", "/plain/x")
            answered = time.monotonic() - started
            waiting.join(10)
            assert status == 200 and answered < 1.2  # served while the lookup waited
            assert stalled == [500]
    finally:
        blackhole.close()
        forget_stores()
