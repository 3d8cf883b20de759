"""The basic-auth plugin's handler on hand-built request contexts: Kong's header order
(Proxy-Authorization first), its parsing of Basic credentials, the 401 body and challenge,
hide_credentials, anonymous, Kong's salted SHA-1 storage and spoofed identity headers."""

from __future__ import annotations

import base64
import random
import time

from reqkit import refusal, request, upstream_headers
from tests.kits.plugins import gateway, handler
from tests.kits.plugins import problems as problems_of

from carbonplane.gateway.config.loader import hash_basicauth_password
from carbonplane.gateway.plugins.basic_auth.handler import (
    KONG_PAIR,
    KONG_SCHEME,
    parse_basic,
    password_digest,
    scheme_token,
    split_pair,
)

GW = gateway(
    [
        {
            "username": "alice",
            "basicauth_credentials": [
                {"username": "alice-app", "password": "s3cret:with:colons"},
                {"username": "ålice", "password": "pässword"},
            ],
        },
        {"custom_id": "svc-9", "basicauth_credentials": [{"username": "svc", "password": ""}]},
        {"username": "guest"},
    ]
)
ALICE = GW.get("consumers", "alice")


def basic(user: str, password: str, scheme: str = "Basic") -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"{scheme} {token}"


def basic_auth(**config):
    return handler("basic-auth", config, GW)


def test_valid_credentials_authenticate_and_set_identity():
    ctx = request(headers={"Authorization": basic("alice-app", "s3cret:with:colons")})
    assert basic_auth().on_request(ctx) is None
    up = upstream_headers(ctx)
    assert up["x-consumer-id"] == [ALICE["id"]]
    assert up["x-consumer-username"] == ["alice"]
    assert up["x-credential-identifier"] == ["alice-app"]
    assert "x-anonymous-consumer" not in up
    assert up["authorization"]  # kept by default
    assert ctx.vars["credential"]["username"] == "alice-app"


def test_passwords_are_stored_as_kongs_salted_sha1():
    stored = GW.get("basicauth_credentials", "alice-app")["password"]
    assert stored == hash_basicauth_password("s3cret:with:colons", ALICE["id"])
    assert stored == password_digest(b"s3cret:with:colons", ALICE["id"])
    assert len(stored) == 40 and "s3cret" not in stored


def test_refusals_are_kongs_401_with_the_basic_challenge():
    for headers in (
        {},
        {"Authorization": basic("alice-app", "wrong")},
        {"Authorization": basic("nobody", "s3cret:with:colons")},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b":empty-user").decode()},
        {"Authorization": "Bearer abc"},
        {"Authorization": basic("alice-app", "s3cret:with:colon")},  # one char short
    ):
        status, body, hdrs = refusal(basic_auth().on_request(request(headers=headers)))
        assert (status, body["message"]) == (401, "Unauthorized"), headers
        assert hdrs["www-authenticate"] == 'Basic realm="service"'
    _, _, hdrs = refusal(basic_auth(realm="data").on_request(request()))
    assert hdrs["www-authenticate"] == 'Basic realm="data"'


def test_parsing_follows_kongs_patterns():
    assert parse_basic(b"Basic " + base64.b64encode(b"u:p:q")) == ("u", b"p:q")
    assert parse_basic(b"basic " + base64.b64encode(b"u:")) == ("u", b"")
    assert parse_basic(b"  Basic" + base64.b64encode(b"u:p")) == ("u", b"p")  # no space needed
    assert parse_basic(b"Basic " + base64.b64encode(b"u:pw").rstrip(b"=")) == ("u", b"pw")
    assert parse_basic(b"BASIC " + base64.b64encode(b"u:p")) is None  # only [Bb]asic
    assert parse_basic(b"Basic " + base64.b64encode(b"\xff:p")) is None  # not UTF-8
    assert parse_basic(b"Basic") is None


def test_empty_and_non_ascii_passwords():
    ctx = request(headers={"Authorization": basic("svc", "")})
    assert basic_auth().on_request(ctx) is None
    assert upstream_headers(ctx)["x-consumer-custom-id"] == ["svc-9"]
    raw = "Basic " + base64.b64encode("ålice:pässword".encode()).decode()
    assert basic_auth().on_request(request(headers=[("Authorization", raw)])) is None


def test_proxy_authorization_first_then_authorization():
    h = basic_auth()
    both = {
        "Proxy-Authorization": basic("svc", ""),
        "Authorization": basic("alice-app", "s3cret:with:colons"),
    }
    ctx = request(headers=both)
    assert h.on_request(ctx) is None
    assert upstream_headers(ctx)["x-credential-identifier"] == ["svc"]
    # an unknown proxy user falls through to Authorization
    ctx = request(
        headers={
            "Proxy-Authorization": basic("nobody", "x"),
            "Authorization": basic("alice-app", "s3cret:with:colons"),
        }
    )
    assert h.on_request(ctx) is None
    assert upstream_headers(ctx)["x-credential-identifier"] == ["alice-app"]
    # a known proxy user with the wrong password is refused, Authorization is not tried
    ctx = request(
        headers={
            "Proxy-Authorization": basic("svc", "wrong"),
            "Authorization": basic("alice-app", "s3cret:with:colons"),
        }
    )
    assert refusal(h.on_request(ctx))[0] == 401
    ctx = request(headers={"Proxy-Authorization": basic("svc", "")})
    assert h.on_request(ctx) is None


def test_hide_credentials_removes_the_header_read():
    ctx = request(headers={"Authorization": basic("alice-app", "s3cret:with:colons")})
    assert basic_auth(hide_credentials=True).on_request(ctx) is None
    assert "authorization" not in upstream_headers(ctx)
    ctx = request(
        headers={"Proxy-Authorization": basic("svc", ""), "Authorization": "Bearer other"}
    )
    assert basic_auth(hide_credentials=True).on_request(ctx) is None
    up = upstream_headers(ctx)
    assert "proxy-authorization" not in up and up["authorization"] == ["Bearer other"]


def test_anonymous_fallback_and_spoofed_identity_headers():
    ctx = request(
        headers={
            "Authorization": basic("alice-app", "wrong"),
            "X-Consumer-Username": "admin",
            "X_Credential_Identifier": "forged",
        }
    )
    assert basic_auth(anonymous="guest").on_request(ctx) is None
    up = upstream_headers(ctx)
    assert up["x-consumer-username"] == ["guest"]
    assert up["x-anonymous-consumer"] == ["true"]
    assert "x-credential-identifier" not in up and "x_credential_identifier" not in up
    assert "credential" not in ctx.vars
    ctx = request(headers={"Authorization": basic("alice-app", "wrong")})
    status, body, _ = refusal(basic_auth(anonymous="no-such-consumer").on_request(ctx))
    assert status == 500


def test_already_authenticated_with_anonymous_is_a_logical_or():
    ctx = request(headers={})
    ctx.vars["credential"] = {"id": "from-another-plugin"}
    assert basic_auth(anonymous="guest").on_request(ctx) is None
    assert ctx.vars["credential"] == {"id": "from-another-plugin"}


def test_config_schema_is_kongs():
    h = basic_auth()
    assert h.config == {"anonymous": None, "hide_credentials": False, "realm": "service"}
    assert h.PRIORITY == 1100
    assert problems_of("basic-auth", {"realm": 'a"b'})
    assert problems_of("basic-auth", {"realm": None}) == ["config.realm: required field missing"]


def test_credentials_exported_from_kong_authenticate_unchanged():
    """A kong.yml dumped from Kong carries the stored SHA-1 hashes with ``_transform: false``."""
    consumer_id = "6b4f5e0a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
    kong_hash = hash_basicauth_password("from-kong", consumer_id)
    gw = gateway(
        [
            {
                "id": consumer_id,
                "username": "imported",
                "basicauth_credentials": [{"username": "imp", "password": kong_hash}],
            }
        ],
        _transform=False,
    )
    h = handler("basic-auth", {}, gw)
    assert h.on_request(request(headers={"Authorization": basic("imp", "from-kong")})) is None
    ctx = request(headers={"Authorization": basic("imp", kong_hash)})  # the hash is no password
    assert refusal(h.on_request(ctx))[0] == 401


_PIECES = [b"Basic", b"basic", b"BASIC", b" ", b"\t", b"\n", b":", b"a", b"dTpw", b"=", b"\xff"]


def test_the_linear_parsers_read_exactly_what_kongs_patterns_read():
    rng = random.Random(11)
    values = [b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 12))) for _ in range(8000)]
    matched = pairs = 0
    for value in values:
        found = KONG_SCHEME.search(value)
        assert scheme_token(value) == (found.group(1) if found else None), value
        pair = KONG_PAIR.search(value)
        assert split_pair(value) == (pair.groups() if pair else None), value
        matched += found is not None
        pairs += pair is not None
    assert matched > 1000 and pairs > 1000


def test_hostile_headers_parse_in_linear_time():
    start = time.process_time()
    for value in (b" " * 32000 + b"x", b"Basic " + base64.b64encode(b"a" * 24000)):
        assert parse_basic(value) is None
    assert time.process_time() - start < 0.5  # Kong's patterns in Python's re: seconds
