"""The key-auth plugin's handler on hand-built request contexts: key locations and order,
Kong 3's refusals, hide_credentials, anonymous, duplicate keys and spoofed identity headers."""

from __future__ import annotations

import pytest
from reqkit import refusal, request, upstream_headers
from tests.kits.plugins import gateway, handler, problems

from carbonplane.gateway.plugins.pdk.credentials import hash_key

GW = gateway(
    [
        {
            "username": "alice",
            "keyauth_credentials": [{"key": "alice-key-1"}, {"key": "clé-ünïcode"}],
        },
        {"custom_id": "svc-9", "keyauth_credentials": [{"key": "svc-key"}]},
        {"username": "guest"},
    ]
)
ALICE = GW.get("consumers", "alice")


def key_auth(**config):
    return handler("key-auth", config, GW)


def test_key_in_header_authenticates_and_sets_identity():
    ctx = request(headers={"apikey": "alice-key-1"})
    assert key_auth().on_request(ctx) is None
    up = upstream_headers(ctx)
    cred = GW.get("keyauth_credentials", "alice-key-1")
    assert up["x-consumer-id"] == [ALICE["id"]]
    assert up["x-consumer-username"] == ["alice"]
    assert up["x-credential-identifier"] == [cred["id"]]
    assert up["apikey"] == ["alice-key-1"]  # not hidden by default
    assert ctx.vars["credential"]["id"] == cred["id"]


def test_key_in_query_and_non_ascii_keys():
    ctx = request(target="/x?apikey=svc-key")
    assert key_auth().on_request(ctx) is None
    assert upstream_headers(ctx)["x-consumer-custom-id"] == ["svc-9"]
    ctx = request(target="/x?apikey=cl%C3%A9-%C3%BCn%C3%AFcode")
    assert key_auth().on_request(ctx) is None
    ctx = request(headers=[("apikey", "clé-ünïcode".encode().decode("latin-1"))])
    assert key_auth().on_request(ctx) is None


def test_key_names_in_order_and_location_switches():
    h = key_auth(key_names=["x-api-key", "api-key"])
    assert h.on_request(request(headers={"API-Key": "alice-key-1"})) is None
    assert h.on_request(request(target="/?x-api-key=svc-key")) is None
    _, body, _ = refusal(
        key_auth(key_in_query=False).on_request(request(target="/?apikey=svc-key"))
    )
    assert body["message"] == "No API key found in request"
    _, body, _ = refusal(
        key_auth(key_in_header=False).on_request(request(headers={"apikey": "svc-key"}))
    )
    assert body["message"] == "No API key found in request"


def test_refusals_use_kong_3_wording_and_a_key_challenge():
    status, body, headers = refusal(key_auth().on_request(request()))
    assert (status, body["message"]) == (401, "No API key found in request")
    assert headers["www-authenticate"] == "Key"
    status, body, headers = refusal(
        key_auth(realm="data").on_request(request(headers={"apikey": "nope"}))
    )
    assert (status, body["message"]) == (401, "Unauthorized")
    assert headers["www-authenticate"] == 'Key realm="data"'
    for empty in (
        request(headers={"apikey": ""}),
        request(target="/?apikey"),
        request(target="/?apikey="),
    ):
        assert refusal(key_auth().on_request(empty))[1]["message"] == "No API key found in request"


@pytest.mark.parametrize(
    "ctx",
    [
        lambda: request(headers=[("apikey", "alice-key-1"), ("apikey", "svc-key")]),
        lambda: request(target="/?apikey=alice-key-1&apikey=svc-key"),
        lambda: request(target="/?apikey=alice-key-1&api%6Bey=alice-key-1"),
    ],
)
def test_duplicate_keys_are_refused(ctx):
    status, body, _ = refusal(key_auth().on_request(ctx()))
    assert (status, body["message"]) == (401, "Duplicate API key found")


def test_hide_credentials_strips_header_and_query_parameter():
    ctx = request(target="/p?a=1&apikey=svc-key&b=%2F&apikey2=x", headers={"apikey": "alice-key-1"})
    assert key_auth(hide_credentials=True).on_request(ctx) is None
    assert "apikey" not in upstream_headers(ctx)
    assert ctx.upstream_target == b"/p?a=1&b=%2F&apikey2=x"
    ctx = request(target="/p?api%6bey=svc-key")  # an encoded name is the same parameter
    assert key_auth(hide_credentials=True).on_request(ctx) is None
    assert ctx.upstream_target == b"/p"


def test_hidden_even_when_the_key_is_wrong():
    ctx = request(headers={"apikey": "guess"})
    assert refusal(key_auth(hide_credentials=True).on_request(ctx))[0] == 401
    assert "apikey" not in upstream_headers(ctx)


def test_spoofed_identity_headers_are_replaced():
    ctx = request(
        headers={
            "apikey": "svc-key",
            "X-Consumer-Username": "alice",
            "X_Consumer_ID": ALICE["id"],
            "X-Anonymous-Consumer": "true",
        }
    )
    assert key_auth().on_request(ctx) is None
    up = upstream_headers(ctx)
    assert "x-consumer-username" not in up and "x_consumer_id" not in up
    assert "x-anonymous-consumer" not in up
    assert up["x-consumer-custom-id"] == ["svc-9"]


def test_anonymous_and_chaining():
    ctx = request(headers={"apikey": "wrong"})
    assert key_auth(anonymous=GW.get("consumers", "guest")["id"]).on_request(ctx) is None
    assert upstream_headers(ctx)["x-anonymous-consumer"] == ["true"]
    assert "credential" not in ctx.vars
    done = request()
    done.vars["credential"] = {"id": "jwt-cred"}
    assert key_auth(anonymous="guest").on_request(done) is None
    assert refusal(key_auth(anonymous="nobody").on_request(request()))[0] == 500


def test_preflight_switch():
    assert key_auth(run_on_preflight=False).on_request(request("OPTIONS")) is None
    assert refusal(key_auth().on_request(request("OPTIONS")))[0] == 401


def test_keys_are_indexed_by_digest_only():
    h = key_auth()
    assert hash_key("alice-key-1") in h.index.api_keys
    assert all(isinstance(k, bytes) and len(k) == 32 for k in h.index.api_keys)


def test_config_schema():
    h = key_auth()
    assert h.names == (("apikey", b"apikey"),) and h.in_header and h.in_query and not h.hide
    assert problems("key-auth", {"key_in_body": True})[0].startswith(
        "config.key_in_body: not supported"
    )
    assert problems("key-auth", {"key_names": ["bad name"]}) == [
        "config.key_names.0: bad header name 'bad name', "
        "allowed characters are A-Z, a-z, 0-9, '_', and '-'"
    ]
    assert problems("key-auth", {"key_names": []}) == [
        "config.key_names: length must be at least 1"
    ]
