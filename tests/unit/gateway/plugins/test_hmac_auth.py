"""The hmac-auth plugin's handler on hand-built request contexts: Kong's signature format and
signing string, every algorithm, the Date/X-Date clock skew (replays), forged signatures,
enforce_headers, the Digest body check (a body altered after signing is refused),
hide_credentials and anonymous."""

from __future__ import annotations

import random
import time

import pytest
from hmackit import body_digest, http_date, signed_headers
from reqkit import refusal, request, upstream_headers
from tests.kits.plugins import gateway, handler
from tests.kits.plugins import problems as problems_of

from carbonplane.gateway.plugins.hmac_auth.handler import MAX_SIGNED_BODY
from carbonplane.gateway.plugins.hmac_auth.params import KONG_PATTERN, groups, parse_params
from carbonplane.gateway.plugins.hmac_auth.signature import parse_http_date
from carbonplane.proxy.app import LocalResponse

GW = gateway(
    [
        {
            "username": "alice",
            "hmacauth_credentials": [{"username": "alice-app", "secret": "alice-secret"}],
        },
        {"username": "bob", "hmacauth_credentials": [{"username": "bob-app"}]},
        {"username": "guest"},
    ]
)
ALICE = GW.get("consumers", "alice")
NO_DATE = (
    "HMAC signature cannot be verified, a valid date or x-date header is required for "
    "HMAC Authentication"
)


def hmac_auth(**config):
    return handler("hmac-auth", config, GW)


def signed(method="GET", target="/", body_framing=None, **kw):
    headers = signed_headers("alice-app", "alice-secret", method=method, target=target, **kw)
    return request(method, target, headers, body_framing=body_framing)


def message(verdict):
    status, body, hdrs = refusal(verdict)
    assert status == 401 and hdrs["www-authenticate"] == "hmac"
    return body["message"]


@pytest.mark.parametrize("algorithm", ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"])
def test_each_algorithm_authenticates(algorithm):
    ctx = signed("POST", "/orders?id=7&x=%20", algorithm=algorithm)
    assert hmac_auth().on_request(ctx) is None
    up = upstream_headers(ctx)
    assert up["x-consumer-id"] == [ALICE["id"]]
    assert up["x-credential-identifier"] == ["alice-app"]
    assert ctx.vars["credential"]["username"] == "alice-app"


def test_signing_string_parts_as_kong():
    names = ["x-date", "@request-target", "Content-MD5", "X_Custom", "absent", "request-line"]
    headers = {"X-Date": http_date(), "Content-MD5": "abc", "X-Custom": "v1"}
    ctx = signed("PUT", "/a/b?q=1", headers=headers, names=names)
    assert hmac_auth().on_request(ctx) is None
    # the generated secret of bob-app works too
    bob = GW.get("hmacauth_credentials", "bob-app")
    assert len(bob["secret"]) == 32
    ctx = request(headers=signed_headers("bob-app", bob["secret"]))
    assert hmac_auth().on_request(ctx) is None


def test_forged_and_altered_requests_are_refused():
    h = hmac_auth()
    headers = signed_headers("alice-app", "wrong-secret")
    assert message(h.on_request(request(headers=headers))) == "HMAC signature does not match"
    # signed for one target, sent to another
    headers = signed_headers("alice-app", "alice-secret", target="/a")
    assert message(h.on_request(request(target="/b", headers=headers))) == (
        "HMAC signature does not match"
    )
    # a signed header changed after signing
    headers = signed_headers(
        "alice-app", "alice-secret", headers={"X-Amount": "10"}, names=["date", "x-amount"]
    )
    headers["X-Amount"] = "1000"
    assert message(h.on_request(request(headers=headers))) == "HMAC signature does not match"
    # a signature that is not base64, and one for another username
    headers = signed_headers("alice-app", "alice-secret")
    headers["Authorization"] = headers["Authorization"].replace('signature="', 'signature="%')
    assert message(h.on_request(request(headers=headers))) == "HMAC signature does not match"
    headers = signed_headers("alice-app", "alice-secret")
    headers["Authorization"] = headers["Authorization"].replace("alice-app", "bob-app")
    assert message(h.on_request(request(headers=headers))) == "HMAC signature does not match"


def test_replays_outside_the_clock_skew_are_refused():
    h = hmac_auth(clock_skew=60)
    for offset in (-61 - 5, 61 + 5):
        ctx = request(headers=signed_headers("alice-app", "alice-secret", headers=_date(offset)))
        assert message(h.on_request(ctx)) == NO_DATE
    replayed = signed_headers("alice-app", "alice-secret", headers=_date(-50))
    assert h.on_request(request(headers=replayed)) is None
    assert h.on_request(request(headers=replayed)) is None  # within the window: no nonce, as Kong
    # X-Date wins when valid; a valid Date still rescues a stale X-Date (Kong's "or")
    stale_x = {"X-Date": http_date(-3600), "Date": http_date()}
    ctx = request(headers=signed_headers("alice-app", "alice-secret", headers=stale_x))
    assert h.on_request(ctx) is None
    for bad in ({"Date": "yesterday"}, {"Date": "Sun, 06 Nov 1994 08:49:37 GMT"}, None):
        headers = signed_headers("alice-app", "alice-secret", headers=bad)
        if bad is None:
            del headers["Date"]
        assert message(h.on_request(request(headers=headers))) == NO_DATE


def _date(offset):
    return {"Date": http_date(offset)}


def test_http_dates_in_the_three_forms():
    stamp = 784111777
    assert parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT") == stamp
    assert parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT") == stamp
    assert parse_http_date(b"Sun Nov  6 08:49:37 1994") == stamp
    for bad in (
        b"",
        b"1994-11-06T08:49:37Z",
        b"Sun, 06 Foo 1994 08:49:37 GMT",
        b"Sun, 36 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 25:49:37 GMT",
    ):
        assert parse_http_date(bad) is None, bad


def test_missing_or_malformed_parameters():
    h = hmac_auth()
    assert message(h.on_request(request())) == "Unauthorized"
    for value in (
        "hmac garbage",
        'hmac username="alice-app", algorithm="hmac-sha256", signature="x"',
        "Basic abc",
    ):
        ctx = request(headers={"Authorization": value, "Date": http_date()})
        assert message(h.on_request(ctx)) == "HMAC signature cannot be verified"
    headers = signed_headers("nobody", "alice-secret")
    assert message(h.on_request(request(headers=headers))) == "HMAC signature cannot be verified"
    assert parse_params(b'Hmac username="u",algorithm="a",headers="date",signature="s"')


def test_algorithms_and_enforce_headers():
    h = hmac_auth(algorithms=["hmac-sha512"])
    assert message(h.on_request(signed())) == "HMAC signature cannot be verified"
    assert h.on_request(signed(algorithm="hmac-sha512")) is None
    h = hmac_auth(enforce_headers=["date", "x-request-id"])
    assert message(h.on_request(signed())) == "HMAC signature cannot be verified"
    ctx = signed(headers={"X-Request-Id": "r1"}, names=["date", "x-request-id"])
    assert h.on_request(ctx) is None
    headers = signed_headers("alice-app", "alice-secret")
    headers["Authorization"] = headers["Authorization"].replace("hmac-sha256", "hmac-md5")
    assert message(hmac_auth().on_request(request(headers=headers))) == (
        "HMAC signature cannot be verified"
    )


def test_proxy_authorization_first_and_hide_credentials():
    headers = signed_headers("alice-app", "alice-secret", header_name="Proxy-Authorization")
    headers["Authorization"] = "Bearer for-the-upstream"
    ctx = request(headers=headers)
    assert hmac_auth(hide_credentials=True).on_request(ctx) is None
    up = upstream_headers(ctx)
    assert "proxy-authorization" not in up and up["authorization"] == ["Bearer for-the-upstream"]
    ctx = signed()
    assert hmac_auth(hide_credentials=True).on_request(ctx) is None
    assert "authorization" not in upstream_headers(ctx)
    ctx = signed()
    assert hmac_auth().on_request(ctx) is None
    assert "authorization" in upstream_headers(ctx)


def test_realm_anonymous_and_logical_or():
    _, _, hdrs = refusal(hmac_auth(realm="api").on_request(request()))
    assert hdrs["www-authenticate"] == 'hmac realm="api"'
    ctx = request(headers={"Authorization": "hmac nope", "X-Consumer-Username": "admin"})
    assert hmac_auth(anonymous="guest").on_request(ctx) is None
    up = upstream_headers(ctx)
    assert up["x-consumer-username"] == ["guest"] and up["x-anonymous-consumer"] == ["true"]
    ctx = request()
    ctx.vars["credential"] = {"id": "other"}
    assert hmac_auth(anonymous="guest").on_request(ctx) is None


def run_body(h, ctx, pieces):
    """Feed ``pieces`` to the body hook like the engine does; what it passes on, or the
    refusal."""
    out = []
    for i, piece in enumerate(pieces):
        verdict = h.on_request_body(ctx, piece, i == len(pieces) - 1)
        if isinstance(verdict, LocalResponse):
            return verdict
        out.append(verdict)
    return out


def test_body_digest_is_checked_and_the_body_held_until_verified():
    h = hmac_auth(validate_request_body=True)
    body = b'{"amount": 10}'
    headers = {"Digest": body_digest(body)}
    ctx = signed(
        "POST",
        "/pay",
        headers=headers,
        names=["date", "digest"],
        body_framing=f"length:{len(body)}",
    )
    assert h.on_request(ctx) is None
    assert run_body(h, ctx, [body[:5], body[5:], b""]) == [b"", b"", body]
    # the same signed head with an altered body
    ctx = signed(
        "POST",
        "/pay",
        headers=headers,
        names=["date", "digest"],
        body_framing=f"length:{len(body)}",
    )
    assert h.on_request(ctx) is None
    verdict = run_body(h, ctx, [b'{"amount": 99}', b""])
    assert message(verdict) == "HMAC signature does not match"


def test_body_rules_without_digest_and_without_body():
    h = hmac_auth(validate_request_body=True)
    assert h.on_request(signed()) is None  # no body, no digest
    ctx = signed(headers={"Digest": body_digest(b"")})
    assert h.on_request(ctx) is None
    ctx = signed(headers={"Digest": body_digest(b"x")})
    assert message(h.on_request(ctx)) == "HMAC signature does not match"
    ctx = signed("POST", body_framing="length:3")  # a body but no Digest
    assert h.on_request(ctx) is None
    assert message(run_body(h, ctx, [b"abc", b""])) == "HMAC signature does not match"
    ctx = signed("POST", body_framing="chunked")  # an empty chunked body and no Digest
    assert h.on_request(ctx) is None
    assert run_body(h, ctx, [b""]) == [b""]


def test_oversized_bodies_are_refused_and_unchecked_configs_stream():
    h = hmac_auth(validate_request_body=True)
    ctx = signed("POST", body_framing="chunked", headers={"Digest": body_digest(b"")})
    assert h.on_request(ctx) is None
    piece = b"x" * (1024 * 1024)
    out = run_body(h, ctx, [piece] * (MAX_SIGNED_BODY // len(piece) + 1) + [b""])
    assert message(out) == "HMAC signature does not match"
    assert not hasattr(hmac_auth(), "on_request_body")  # no body hook unless validating
    # a request authenticated by another plugin passes through untouched
    ctx = request("POST", body_framing="length:3")
    assert run_body(h, ctx, [b"abc", b""]) == [b"abc", b""]


def test_config_schema_is_kongs():
    h = hmac_auth()
    assert h.PRIORITY == 1030
    assert h.config["clock_skew"] == 300 and h.config["enforce_headers"] == ()
    assert h.config["algorithms"] == ("hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512")
    assert problems_of("hmac-auth", {"clock_skew": 0}) == [
        "config.clock_skew: value must be greater than 0"
    ]
    assert problems_of("hmac-auth", {"algorithms": ["hmac-md5"]})


_TOKENS = [
    b'hmac username="',
    b'Hmac  username="',
    b"username=",
    b'",algorithm="',
    b'", algorithm="',
    b'",headers="',
    b'",\theaders="',
    b'",signature="',
    b'",  signature="',
    b'"',
    b'",',
    b"a",
    b"hmac-sha256",
    b" ",
    b",",
    b"=",
    b"date request-line",
    b"c2ln",
    b"\r",
]


def test_the_linear_parser_reads_exactly_what_kongs_pattern_reads():
    rng = random.Random(71)
    values = [
        b'hmac username="u", algorithm="hmac-sha1", headers="date", signature="c2ln"',
        b'x hmac username="u",algorithm="a",headers="h",signature="s"" trailing"',
        b'hmac username="u",algorithm="a",headers="h",signature=""',
        b'hmac username="",algorithm="a",headers="h",signature="s"',
    ]
    values += [
        b"".join(rng.choice(_TOKENS) for _ in range(rng.randint(1, 16))) for _ in range(3000)
    ]

    def filler() -> bytes:
        return b"".join(rng.choice(_TOKENS) for _ in range(rng.randint(0, 3)))

    for _ in range(3000):  # a credentials skeleton, its parts sometimes missing or doubled
        parts = [b'hmac username="', b'",algorithm="', b'", headers="', b'",signature="', b'"']
        if rng.random() < 0.2:
            del parts[rng.randrange(len(parts))]
        if rng.random() < 0.3:
            parts.insert(rng.randrange(len(parts)), rng.choice(parts))
        values.append(filler() + b"".join(p + filler() for p in parts))
    matched = 0
    for value in values:
        found = KONG_PATTERN.search(value)
        assert groups(value) == (found.groups() if found else None), value
        matched += found is not None
    assert matched > 300  # the generator does produce matching values


def test_hostile_credentials_parse_in_linear_time():
    value = b'hmac username="' + b'",algorithm="' * 1000 + b'",headers="' * 1000
    start = time.process_time()
    assert parse_params(value + b'",signature' * 1000) is None
    assert parse_params(value + b'",signature="x"') is not None
    assert time.process_time() - start < 0.5  # Kong's pattern in Python's re: seconds
