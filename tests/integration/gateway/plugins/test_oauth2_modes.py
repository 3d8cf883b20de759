"""The oauth2 plugin's settings over real sockets: ``pkce: strict``, PKCE ``plain`` refused (as
Kong), ``global_credentials`` across services, the implicit grant, token expiry, the
authorize endpoint answering 405 to GET, and ``X-Forwarded-Proto`` believed only from trusted
peers."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from gwharness import InProcessGateway, http, write_config

from .oauth2kit import CHALLENGE, VERIFIER, authorize, call, client_token, config, post


@pytest.fixture
def start(upstream, tmp_path, cp_home):
    from carbonplane.gateway.plugins.oauth2.stores import forget_stores

    running = []

    def make(trusted: bool = True, **plugin) -> InProcessGateway:
        path = write_config(
            tmp_path / f"kong{len(running)}.yml", config(upstream.address, **plugin)
        )
        proxy = {"trusted_ips": ["127.0.0.1/32"] if trusted else []}
        gw = InProcessGateway(path, proxy=proxy).start()
        running.append(gw)
        return gw

    yield make
    for gw in running:
        gw.stop()
    forget_stores()


def test_strict_pkce_binds_confidential_clients_too(start):
    port = start(pkce="strict").proxy_port
    status, doc, query = authorize(port, "web")
    assert status == 400
    assert query["error_description"] == ["code_challenge is required for confidential clients"]
    status, doc, query = authorize(port, "web", code_challenge=CHALLENGE.decode())
    code = query["code"][0]
    creds = {"grant_type": "authorization_code", "client_id": "web", "client_secret": "web-secret"}
    status, _, doc = post(port, "/api/oauth2/token", creds | {"code": code})
    assert (status, doc["error"]) == (400, "invalid_request")  # verifier missing
    status, _, doc = post(
        port, "/api/oauth2/token", creds | {"code": code, "code_verifier": VERIFIER}
    )
    assert status == 200, doc


def test_plain_pkce_method_is_refused(start):
    port = start().proxy_port
    status, doc, query = authorize(
        port, "spa", code_challenge=VERIFIER, code_challenge_method="plain"
    )
    assert status == 400
    assert query["error_description"] == ["code_challenge_method is not supported, must be S256"]


def test_global_credentials_work_on_every_service_that_allows_them(start):
    port = start(global_credentials=True).proxy_port
    token = client_token(port)["access_token"]
    assert call(port, token, "/api/x")[0] == 200
    assert call(port, token, "/other/x")[0] == 200


def test_implicit_grant_returns_the_token_in_the_fragment(start):
    port = start().proxy_port
    status, doc, _ = authorize(port, "web", response_type="token", state="s9")
    fragment = parse_qs(urlsplit(doc["redirect_uri"]).fragment)
    assert status == 200 and fragment["state"] == ["s9"] and "refresh_token" not in fragment
    assert call(port, fragment["access_token"][0])[0] == 200


def test_expired_tokens_are_refused(start):
    port = start(token_expiration=1).proxy_port
    token = client_token(port)["access_token"]
    assert call(port, token)[0] == 200
    time.sleep(2.1)
    status, _, doc = call(port, token)
    assert (status, doc["error"]) == (401, "invalid_token")


def test_authorize_is_post_only(start):
    port = start().proxy_port
    status, hdrs, doc = http(port, "GET", "/api/oauth2/authorize?client_id=web")
    assert status == 405
    assert doc["error_description"] == (
        "The HTTP method GET is invalid for the authorization endpoint"
    )


def test_forwarded_proto_from_an_untrusted_peer_is_not_https(start):
    port = start(trusted=False).proxy_port
    status, _, doc = post(
        port,
        "/api/oauth2/token",
        {"grant_type": "client_credentials", "client_id": "web", "client_secret": "web-secret"},
    )
    assert (status, doc["error"]) == (400, "access_denied")
