"""The oauth2 plugin's grant logic (``grants.Grants``) over a real SQLite token store: every
grant, PKCE, refresh rotation and reuse, and the refusals Kong answers, with Kong's documents."""

from __future__ import annotations

import base64
import hashlib
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonplane.gateway.config.entities.oauth2 import hash_client_secret, verify_client_secret
from carbonplane.gateway.plugins.oauth2 import params as p
from carbonplane.gateway.plugins.oauth2.grants import Grants, requires_pkce
from carbonplane.gateway.plugins.oauth2.store import SQLiteTokenStore

HTTPS = (True, None)
SERVICE = "svc-1"
VERIFIER = "v" * 43 + "erifier-0123456789"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")

CLIENTS = {
    "web": {
        "id": "cred-web",
        "client_id": "web",
        "client_secret": "web-secret",
        "hash_secret": False,
        "client_type": "confidential",
        "redirect_uris": ["https://app.example/cb", "https://app.example/other?x=1"],
    },
    "spa": {
        "id": "cred-spa",
        "client_id": "spa",
        "client_secret": "unused",
        "hash_secret": False,
        "client_type": "public",
        "redirect_uris": ["https://spa.example/cb"],
    },
    "hashed": {
        "id": "cred-hashed",
        "client_id": "hashed",
        "client_secret": hash_client_secret("s3cret"),
        "hash_secret": True,
        "client_type": "confidential",
        "redirect_uris": ["https://h.example/cb"],
    },
}

BASE = {
    "scopes": ["read", "write"],
    "mandatory_scope": False,
    "provision_key": "prov",
    "token_expiration": 7200,
    "enable_authorization_code": True,
    "enable_implicit_grant": True,
    "enable_client_credentials": True,
    "enable_password_grant": True,
    "global_credentials": False,
    "refresh_token_ttl": 1209600,
    "reuse_refresh_token": False,
    "pkce": "lax",
}


@pytest.fixture
def store(tmp_path):
    s = SQLiteTokenStore(tmp_path / "oauth2.db")
    yield s
    s.close()


def grants(store, **conf) -> Grants:
    return Grants({**BASE, **conf}, "plugin-1", CLIENTS.get, store)


def code_for(g: Grants, client_id: str = "web", **extra) -> str:
    params = {
        "provision_key": "prov",
        "authenticated_userid": "user-7",
        "response_type": "code",
        "client_id": client_id,
        "scope": "read",
        **extra,
    }
    status, doc, _ = g.authorize(params, HTTPS, SERVICE)
    assert status == 200, doc
    return parse_qs(urlsplit(doc["redirect_uri"]).query)["code"][0]


def token(g: Grants, **params):
    return g.issue_token(params, None, HTTPS, SERVICE)


def test_client_credentials_issues_a_token_without_refresh(store):
    status, doc, headers = token(
        grants(store), grant_type="client_credentials", client_id="web", client_secret="web-secret"
    )
    assert status == 200 and doc["token_type"] == "bearer" and doc["expires_in"] == 7200
    assert "refresh_token" not in doc and len(doc["access_token"]) == 32
    assert (b"cache-control", b"no-store") in headers
    saved = store.token_by_access(doc["access_token"])
    assert saved["credential_id"] == "cred-web" and saved["service_id"] == SERVICE


def test_wrong_secret_is_invalid_client_and_basic_header_gets_401(store):
    g = grants(store)
    status, doc, _ = token(g, grant_type="client_credentials", client_id="web", client_secret="x")
    assert (status, doc["error"]) == (400, "invalid_client")
    basic = b"Basic " + base64.b64encode(b"web:wrong")
    status, doc, headers = g.issue_token(
        {"grant_type": "password", "provision_key": "prov", "authenticated_userid": "u"},
        basic,
        HTTPS,
        SERVICE,
    )
    assert (status, doc["error_description"]) == (401, "Invalid client authentication")
    assert (b"www-authenticate", b'Basic realm="OAuth2.0"') in headers


def test_hashed_secret_verifies_in_constant_time_form(store):
    assert verify_client_secret("s3cret", CLIENTS["hashed"])
    assert not verify_client_secret("s3cre", CLIENTS["hashed"])
    assert not verify_client_secret(None, CLIENTS["hashed"])
    assert not verify_client_secret(None, {"client_secret": "", "hash_secret": False})
    status, _, _ = token(
        grants(store), grant_type="client_credentials", client_id="hashed", client_secret="s3cret"
    )
    assert status == 200


def test_unsupported_grant_and_https(store):
    g = grants(store, enable_password_grant=False)
    creds = {"client_id": "web", "client_secret": "web-secret"}
    status, doc, _ = token(g, grant_type="password", **creds)
    assert doc["error"] == "unsupported_grant_type" and status == 400
    # Kong's order: a client failure found later replaces the grant type's error
    assert token(g, grant_type="password")[1]["error"] == "invalid_client"
    status, doc, _ = grants(store).issue_token({"state": "s"}, None, (False, None), SERVICE)
    assert doc == {
        "error": "access_denied",
        "error_description": "You must use HTTPS",
        "state": "s",
    }


def test_password_grant_needs_provision_key_and_user(store):
    g = grants(store)
    base = {"grant_type": "password", "client_id": "web", "client_secret": "web-secret"}
    assert token(g, **base, provision_key="nope")[1]["error"] == "invalid_provision_key"
    assert token(g, **base, provision_key="prov")[1]["error"] == "invalid_authenticated_userid"
    status, doc, _ = token(g, **base, provision_key="prov", authenticated_userid="u1", scope="read")
    assert status == 200 and doc["refresh_token"]
    assert store.token_by_access(doc["access_token"])["scope"] == "read"
    doc = token(g, **base, provision_key="prov", authenticated_userid="u1", scope="admin")[1]
    assert doc == {"error": "invalid_scope", "error_description": '"admin" is an invalid scope'}


def test_authorization_code_flow_spends_the_code_once(store):
    g = grants(store)
    code = code_for(g, state="xyz")
    params = {
        "grant_type": "authorization_code",
        "client_id": "web",
        "client_secret": "web-secret",
        "code": code,
    }
    status, doc, _ = token(g, **params)
    assert status == 200 and doc["refresh_token"]
    saved = store.token_by_access(doc["access_token"])
    assert (saved["authenticated_userid"], saved["scope"]) == ("user-7", "read")
    assert token(g, **params)[1] == {
        "error": "invalid_request",
        "error_description": "Invalid code",
    }


def test_code_is_bound_to_client_service_and_redirect(store):
    g = grants(store)
    code = code_for(g)
    other = {"grant_type": "authorization_code", "client_id": "hashed", "client_secret": "s3cret"}
    assert token(g, **other, code=code)[1]["error_description"] == "Invalid code"
    web = {"grant_type": "authorization_code", "client_id": "web", "client_secret": "web-secret"}
    doc = g.issue_token({**web, "code": code}, None, HTTPS, "another-service")[1]
    assert doc["error_description"] == "Invalid code"
    doc = token(g, **web, code=code, redirect_uri="https://evil.example/cb")[1]
    assert doc["error"] == "invalid_request" and "redirect_uri" in doc["error_description"]
    assert token(g, **web, code=code)[0] == 200  # none of the refusals spent it


def test_pkce_s256_success_and_mismatch(store):
    g = grants(store)
    code = code_for(g, "spa", code_challenge=CHALLENGE.decode(), code_challenge_method="S256")
    base = {"grant_type": "authorization_code", "client_id": "spa", "code": code}
    doc = token(g, **base, code_verifier="w" * 43)[1]
    assert doc == {"error": "invalid_grant", "error_description": "Invalid code"}
    doc = token(g, **base, code_verifier="short")[1]
    assert doc["error_description"] == "code_verifier must be between 43 and 128 characters"
    doc = token(g, **base)[1]
    assert doc["error_description"] == "code_verifier is required for PKCE authorization requests"
    assert token(g, **base, code_verifier=VERIFIER)[0] == 200


def test_pkce_rules_for_public_clients_and_methods(store):
    g = grants(store)
    status, doc, _ = g.authorize(
        {
            "provision_key": "prov",
            "authenticated_userid": "u",
            "response_type": "code",
            "client_id": "spa",
        },
        HTTPS,
        SERVICE,
    )
    assert status == 400
    query = parse_qs(urlsplit(doc["redirect_uri"]).query)
    assert query["error_description"] == ["code_challenge is required for public clients"]
    assert p.code_challenge({"code_challenge": "abc", "code_challenge_method": "plain"})[1] == (
        "code_challenge_method is not supported, must be S256"
    )
    public_secret = token(g, grant_type="authorization_code", client_id="spa", client_secret="x")
    assert public_secret[1]["error_description"] == "client_secret is disallowed for public clients"
    assert requires_pkce({"pkce": "strict"}, CLIENTS["web"], False)
    assert not requires_pkce({"pkce": "lax"}, CLIENTS["web"], False)
    assert not requires_pkce({"pkce": "none"}, CLIENTS["spa"], False)


def test_refresh_rotates_and_keeps_the_scope(store):
    g = grants(store)
    creds = {"client_id": "web", "client_secret": "web-secret"}
    first = token(
        g,
        grant_type="password",
        provision_key="prov",
        authenticated_userid="u",
        scope="read",
        **creds,
    )[1]
    second = token(
        g,
        grant_type="refresh_token",
        refresh_token=first["refresh_token"],
        scope="read write",
        **creds,
    )[1]
    assert second["refresh_token"] != first["refresh_token"]
    assert store.token_by_access(first["access_token"]) is None  # the old token is gone
    assert store.token_by_access(second["access_token"])["scope"] == "read"  # no escalation
    again = token(g, grant_type="refresh_token", refresh_token=first["refresh_token"], **creds)
    assert again[1]["error_description"] == "Invalid refresh_token"
    stolen = token(
        g,
        grant_type="refresh_token",
        refresh_token=second["refresh_token"],
        client_id="hashed",
        client_secret="s3cret",
    )
    assert stolen[1]["error"] == "invalid_client"


def test_reuse_refresh_token_replaces_only_the_access_token(store):
    g = grants(store, reuse_refresh_token=True)
    creds = {"client_id": "web", "client_secret": "web-secret"}
    first = token(g, grant_type="password", provision_key="prov", authenticated_userid="u", **creds)
    first = first[1]
    second = token(g, grant_type="refresh_token", refresh_token=first["refresh_token"], **creds)[1]
    assert second["refresh_token"] == first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert store.token_by_access(first["access_token"]) is None


def test_concurrent_code_exchanges_issue_one_token(store):
    g = grants(store)
    code = code_for(g)
    params = {
        "grant_type": "authorization_code",
        "client_id": "web",
        "client_secret": "web-secret",
        "code": code,
    }
    results, start = [], threading.Barrier(8)

    def exchange():
        start.wait()
        results.append(token(g, **params)[0])

    threads = [threading.Thread(target=exchange) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [400] * 7


def test_implicit_grant_puts_the_token_in_the_fragment(store):
    g = grants(store)
    status, doc, _ = g.authorize(
        {
            "provision_key": "prov",
            "authenticated_userid": "u",
            "response_type": "token",
            "client_id": "web",
            "redirect_uri": "https://app.example/other?x=1",
            "state": "st",
        },
        HTTPS,
        SERVICE,
    )
    parts = urlsplit(doc["redirect_uri"])
    assert status == 200 and parts.query == "x=1"
    frag = parse_qs(parts.fragment)
    assert frag["state"] == ["st"] and frag["token_type"] == ["bearer"]
    assert "refresh_token" not in frag and store.token_by_access(frag["access_token"][0])


def test_expired_rows_are_gone_and_purged(store):
    g = grants(store, token_expiration=1, refresh_token_ttl=5)
    doc = token(g, grant_type="client_credentials", client_id="web", client_secret="web-secret")[1]
    assert store.token_by_access(doc["access_token"])
    assert store.purge(now=10**10) == 1
    assert store.token_by_access(doc["access_token"]) is None


def test_https_check_reads_the_scheme_then_trusted_forwarded_proto():
    fwd = [(b"x-forwarded-proto", b"https")]
    assert p.is_https(b"https", False, [], False) == (True, None)
    assert p.is_https(b"http", True, fwd, False) == (False, None)
    assert p.is_https(b"http", False, fwd, True) == (False, None)  # untrusted peer
    assert p.is_https(b"http", True, fwd, True) == (True, None)
    two = fwd + [(b"x-forwarded-proto", b"https")]
    assert p.is_https(b"http", True, two, True) == (
        False,
        "Only one X-Forwarded-Proto header allowed",
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=300),
    ctype=st.sampled_from([b"application/x-www-form-urlencoded", b"application/json", b""]),
    auth=st.one_of(st.none(), st.binary(max_size=80)),
)
def test_garbage_requests_get_kong_errors_never_exceptions(store, body, ctype, auth):
    g = grants(store)
    params = p.body_params(body, ctype)
    status, doc, _ = g.issue_token(params, auth, HTTPS, SERVICE)
    assert status in (200, 400, 401) and ("error" in doc or "access_token" in doc)
    status, doc, _ = g.authorize(params, HTTPS, SERVICE)
    assert status in (200, 400)
