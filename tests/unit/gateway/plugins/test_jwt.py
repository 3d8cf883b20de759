"""The jwt plugin's handler on hand-built request contexts: every algorithm, token locations,
Kong's refusals and messages, claims, anonymous fallback, and the attacks (alg none, algorithm
switch, RS/HS key confusion, tampering, malformed tokens, spoofed identity headers)."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reqkit import refusal, request, upstream_headers
from tests.kits.jwts import EC_KEYS, ED_KEY, RSA_KEY, b64url, private_key_for, public_pem, sign
from tests.kits.plugins import gateway, handler, problems

from carbonplane.errors import ConfigError
from carbonplane.gateway.plugins.jwt import handler as jwt_handler

SECRET = b"correct horse battery staple 0123"
ASYMMETRIC = [
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
]


def credentials() -> list[dict]:
    out = [
        {"key": "hs-issuer", "secret": SECRET.decode(), "algorithm": "HS256"},
        {"key": "hs384", "secret": SECRET.decode(), "algorithm": "HS384"},
        {"key": "hs512", "secret": SECRET.decode(), "algorithm": "HS512"},
    ]
    for alg in ASYMMETRIC:
        out.append(
            {
                "key": f"{alg.lower()}-issuer",
                "algorithm": alg,
                "rsa_public_key": public_pem(private_key_for(alg)),
            }
        )
    return out


GW = gateway(
    [
        {"username": "alice", "custom_id": "a-1", "jwt_secrets": credentials()},
        {"username": "guest"},
        {
            "custom_id": "only-custom",
            "jwt_secrets": [
                {"key": "b64-issuer", "secret": base64.b64encode(b"\x00binary\xffsecret").decode()},
                {
                    "key": "mismatched-key",
                    "algorithm": "ES256",
                    "rsa_public_key": public_pem(RSA_KEY),
                },
            ],
        },
    ]
)
ALICE = GW.get("consumers", "alice")


def jwt(**config):
    return handler("jwt", config, GW)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def future(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


def token(iss: str = "hs-issuer", alg: str = "HS256", key=SECRET, **claims) -> str:
    claims = {"iss": iss, "exp": future(), **claims}
    return sign(claims, key, alg)


# -- success -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alg,iss",
    [("HS256", "hs-issuer"), ("HS384", "hs384"), ("HS512", "hs512")]
    + [(a, f"{a.lower()}-issuer") for a in ASYMMETRIC],
)
def test_every_supported_algorithm_authenticates(alg, iss):
    key = SECRET if alg.startswith("HS") else private_key_for(alg)
    ctx = request(headers=bearer(token(iss, alg, key)))
    assert jwt().on_request(ctx) is None
    up = upstream_headers(ctx)
    assert up["x-consumer-id"] == [ALICE["id"]]
    assert up["x-consumer-username"] == ["alice"]
    assert up["x-consumer-custom-id"] == ["a-1"]
    assert up["x-credential-identifier"] == [iss]
    assert "x-anonymous-consumer" not in up
    assert ctx.vars["consumer"]["username"] == "alice"
    assert ctx.vars["credential"]["key"] == iss


@pytest.mark.parametrize("where", ["query", "cookie", "lowercase bearer", "custom header"])
def test_token_locations(where):
    tok = token()
    config, target, headers = {}, "/", {}
    if where == "query":
        target = f"/x?a=1&jwt={tok}"
    elif where == "cookie":
        config = {"cookie_names": ["session"]}
        headers = {"Cookie": f"theme=dark; session={tok}"}
    elif where == "lowercase bearer":
        headers = {"Authorization": f"bearer   {tok}"}
    else:
        config = {"header_names": ["x-token"]}
        headers = {"X-Token": f"Bearer {tok}"}
    ctx = request(target=target, headers=headers)
    assert jwt(**config).on_request(ctx) is None
    assert ctx.vars["consumer"]["id"] == ALICE["id"]


@pytest.mark.parametrize("target", ["/x?j%77t={tok}", "/x?a=b+c&jwt={tok}", "/x?q=1&jwt={tok}"])
def test_encoded_query_parameters_still_carry_the_token(target):
    ctx = request(target=target.format(tok=token()))
    assert jwt().on_request(ctx) is None and ctx.vars["consumer"]["id"] == ALICE["id"]


@pytest.mark.parametrize(
    "value",
    ["Bearer {tok}", "Bearer  {tok}", "Bearer\t{tok}", " Bearer {tok}", "Basic x, Bearer {tok}"],
)
def test_bearer_spellings_yield_the_same_token(value):
    tok = token()
    ctx = request(headers={"Authorization": value.format(tok=tok)})
    assert jwt().on_request(ctx) is None
    assert ctx.vars["authenticated_jwt_token"] == tok


def test_key_claim_may_come_from_the_header_and_be_renamed():
    tok = sign({"exp": future()}, SECRET, "HS256", {"alg": "HS256", "kid": "hs-issuer"})
    assert jwt(key_claim_name="kid").on_request(request(headers=bearer(tok))) is None


def test_base64_secret():
    tok = token("b64-issuer", key=b"\x00binary\xffsecret")
    ctx = request(headers=bearer(tok))
    assert jwt(secret_is_base64=True).on_request(ctx) is None
    assert upstream_headers(ctx)["x-consumer-custom-id"] == ["only-custom"]
    assert "x-consumer-username" not in upstream_headers(ctx)
    status, body, _ = refusal(jwt().on_request(request(headers=bearer(tok))))
    assert (status, body["message"]) == (401, "Invalid signature")


# -- refusals ----------------------------------------------------------------------------------


def test_no_token_is_unauthorized_with_a_bearer_challenge():
    status, body, headers = refusal(jwt().on_request(request()))
    assert (status, body["message"]) == (401, "Unauthorized")
    assert headers["www-authenticate"] == "Bearer"
    assert body["request_id"] == "req-1"
    _, _, headers = refusal(jwt(realm="trino").on_request(request(headers=bearer("x.y.z"))))
    assert headers["www-authenticate"] == 'Bearer realm="trino", error="invalid_token"'


def test_basic_authorization_is_not_a_token():
    status, body, _ = refusal(jwt().on_request(request(headers={"Authorization": "Basic YTpi"})))
    assert (status, body["message"]) == (401, "Unauthorized")


def test_multiple_and_unrecognizable_tokens():
    tok = token()
    _, body, _ = refusal(jwt().on_request(request(target=f"/?jwt={tok}&jwt={tok}")))
    assert body["message"] == "Multiple tokens provided"
    _, body, _ = refusal(jwt().on_request(request(target="/?jwt")))
    assert body["message"] == "Unrecognizable token"


def header_only(header: dict) -> str:
    return (
        b64url(str(header).replace("'", '"').encode())
        + b"."
        + b64url(b'{"iss":"hs-issuer"}')
        + b"."
        + b64url(b"sig")
    ).decode()


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("abc", "invalid JSON"),
        ("abc.def", "invalid JSON"),
        ("!!!.???.***", "invalid JSON"),
        (b64url(b"not json").decode() + ".e30.c2ln", "invalid JSON"),
        (b64url(b"[1,2]").decode() + ".e30.c2ln", "invalid JSON"),
        (header_only({"typ": "JWT"}), "invalid alg"),
        (header_only({"alg": "none"}), "invalid alg"),
        (header_only({"alg": "None"}), "invalid alg"),
        (header_only({"alg": 256}), "invalid alg"),
        (header_only({"alg": "HS256 "}), "invalid alg"),
        (
            b64url(b'{"alg":"HS256"}').decode() + "." + b64url(b"[]").decode() + ".c2ln",
            "invalid claims",
        ),
        (
            b64url(b'{"alg":"HS256"}').decode() + "." + b64url(b"42").decode() + ".c2ln",
            "invalid claims",
        ),
        (header_only({"alg": "HS256"}) + ".extra.parts", "invalid signature"),
        (header_only({"alg": "HS256"})[:-4] + "c2l=x", "invalid signature"),
    ],
)
def test_malformed_tokens_are_401_bad_token(bad, reason):
    status, body, headers = refusal(jwt().on_request(request(headers=bearer(bad))))
    assert (status, body["message"]) == (401, f"Bad token; {reason}")
    assert headers["www-authenticate"] == 'Bearer error="invalid_token"'


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _flip_unused_bits(tok: str) -> str:
    """The same signature bytes spelled differently: a set bit the decoder ignores."""
    last = _ALPHABET.index(tok[-1])
    return tok[:-1] + _ALPHABET[last | 1]


@pytest.mark.parametrize(
    "respell,reason",
    [
        (lambda t: t + "=", "invalid signature"),
        (lambda t: t + "==", "invalid signature"),
        (lambda t: t + "===", "invalid signature"),
        (_flip_unused_bits, "invalid signature"),
        (lambda t: t.replace(".", "=.", 1), "invalid JSON"),
        (lambda t: t.replace(".", "==.", 2).replace("==.", ".", 1), "invalid JSON"),
        (lambda t: t[:-2] + "+/", "invalid signature"),  # base64, not base64url
    ],
)
def test_a_signed_token_has_exactly_one_spelling(respell, reason):
    good = token()
    assert len(good.rsplit(".", 1)[1]) % 4 == 3  # 32 bytes: two unused bits in the last char
    assert jwt().on_request(request(headers=bearer(good))) is None
    status, body, _ = refusal(jwt().on_request(request(headers=bearer(respell(good)))))
    assert (status, body["message"]) == (401, f"Bad token; {reason}")


@given(st.binary(min_size=1, max_size=300).filter(lambda b: b"\r" not in b and b"\n" not in b))
@settings(max_examples=300, deadline=None)
def test_garbage_tokens_never_raise(garbage):
    ctx = request()
    ctx.request.headers.append((b"authorization", b"Bearer " + garbage.strip() + b"x"))
    verdict = jwt().on_request(ctx)
    assert refusal(verdict)[0] == 401


def test_key_claim_problems():
    _, body, _ = refusal(
        jwt().on_request(request(headers=bearer(sign({"exp": future()}, SECRET, "HS256"))))
    )
    assert body["message"] == "No mandatory 'iss' in claims"
    for iss in ("", 42, ["hs-issuer"]):
        _, body, _ = refusal(jwt().on_request(request(headers=bearer(token(iss)))))
        assert body["message"] == "Invalid 'iss' in claims"
    _, body, _ = refusal(jwt().on_request(request(headers=bearer(token("nobody")))))
    assert body["message"] == "No credentials found for given 'iss'"


# -- attacks -----------------------------------------------------------------------------------


def test_algorithm_is_pinned_by_the_credential():
    # same secret, stronger/weaker HMAC: still refused - the token does not choose
    for alg in ("HS384", "HS512"):
        _, body, _ = refusal(jwt().on_request(request(headers=bearer(token(alg=alg)))))
        assert body["message"] == "Invalid algorithm"
    _, body, _ = refusal(
        jwt().on_request(request(headers=bearer(token("rs256-issuer", "PS256", RSA_KEY))))
    )
    assert body["message"] == "Invalid algorithm"


def test_alg_none_is_rejected_even_with_an_empty_signature():
    unsigned = sign({"iss": "hs-issuer", "exp": future()}, None, "none")
    assert unsigned.endswith(".")
    _, body, _ = refusal(jwt().on_request(request(headers=bearer(unsigned))))
    assert body["message"] == "Bad token; invalid alg"


def test_rs_hs_key_confusion_is_rejected():
    pem = public_pem(RSA_KEY).encode()
    forged = token("rs256-issuer", "HS256", pem)  # HMAC keyed with the public key text
    _, body, _ = refusal(jwt().on_request(request(headers=bearer(forged))))
    assert body["message"] == "Invalid algorithm"
    # even claiming RS256 in the header, an HMAC made with the PEM is not an RSA signature
    claims = {"iss": "rs256-issuer", "exp": future()}
    hs = sign(claims, pem, "HS256").split(".")
    head = b64url(b'{"alg":"RS256","typ":"JWT"}').decode()
    import hmac

    mac = hmac.digest(pem, f"{head}.{hs[1]}".encode(), "sha256")
    _, body, _ = refusal(
        jwt().on_request(request(headers=bearer(f"{head}.{hs[1]}.{b64url(mac).decode()}")))
    )
    assert body["message"] == "Invalid signature"


def test_tampered_claims_and_wrong_keys_fail_the_signature():
    good = token().split(".")
    evil = b64url(b'{"iss":"hs-issuer","exp":9999999999,"admin":true}').decode()
    for bad in (
        f"{good[0]}.{evil}.{good[2]}",
        token(key=b"wrong secret"),
        token("es256-issuer", "ES256", EC_KEYS["ES256"])[:-6] + "AAAAAA",
        token("eddsa-issuer", "EdDSA", ED_KEY)[:-4] + "AAAA",
    ):
        _, body, _ = refusal(jwt().on_request(request(headers=bearer(bad))))
        assert body["message"] == "Invalid signature"


def test_a_key_of_the_wrong_family_is_an_invalid_key():
    _, body, _ = refusal(
        jwt().on_request(
            request(headers=bearer(token("mismatched-key", "ES256", EC_KEYS["ES256"])))
        )
    )
    assert body["message"] == "Invalid key/secret"


def test_ecdsa_signature_of_wrong_length_or_der_form_fails():
    tok = token("es256-issuer", "ES256", EC_KEYS["ES256"])
    head, claims, _ = tok.split(".")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    der = EC_KEYS["ES256"].sign(f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    _, body, _ = refusal(
        jwt().on_request(request(headers=bearer(f"{head}.{claims}.{b64url(der).decode()}")))
    )
    assert body["message"] == "Invalid signature"


def test_client_identity_headers_are_replaced_including_underscore_spellings():
    ctx = request(
        headers={
            **bearer(token()),
            "X-Consumer-ID": "admin",
            "X_Consumer_Username": "root",
            "x-consumer_custom-id": "0",
            "X-Anonymous-Consumer": "false",
            "X-Credential-Identifier": "forged",
            "X-Consumer-Groups": "admins",
            "X-Other": "kept",
        }
    )
    assert jwt().on_request(ctx) is None
    up = upstream_headers(ctx)
    assert up["x-consumer-id"] == [ALICE["id"]]
    assert up["x-credential-identifier"] == ["hs-issuer"]
    for spoof in (
        "x_consumer_username",
        "x-consumer_custom-id",
        "x-anonymous-consumer",
        "x-consumer-groups",
    ):
        assert spoof not in up
    assert up["x-other"] == ["kept"]


# -- claims --------------------------------------------------------------------------------------


def test_exp_is_checked_by_default_with_kongs_body():
    status, body, headers = refusal(
        jwt().on_request(request(headers=bearer(token(exp=int(time.time()) - 1))))
    )
    assert (status, body) == (401, {"exp": "token expired"})
    assert headers["content-type"].startswith("application/json")
    _, body, _ = refusal(
        jwt().on_request(request(headers=bearer(sign({"iss": "hs-issuer"}, SECRET, "HS256"))))
    )
    assert body == {"exp": "must be a number"}


def test_kong_default_is_available_explicitly():
    expired = token(exp=int(time.time()) - 100)
    assert jwt(claims_to_verify=[]).on_request(request(headers=bearer(expired))) is None


def test_nbf_and_maximum_expiration():
    h = jwt(claims_to_verify=["exp", "nbf"])
    _, body, _ = refusal(h.on_request(request(headers=bearer(token(nbf=future(60))))))
    assert body == {"nbf": "token not valid yet"}
    _, body, _ = refusal(h.on_request(request(headers=bearer(token(nbf="yesterday", exp=1)))))
    assert body == {"exp": "token expired", "nbf": "must be a number"}
    assert h.on_request(request(headers=bearer(token(nbf=int(time.time()) - 5)))) is None
    capped = jwt(maximum_expiration=600)
    _, body, _ = refusal(capped.on_request(request(headers=bearer(token(exp=future(3600))))))
    assert body == {"exp": "exceeds maximum allowed expiration"}
    assert capped.on_request(request(headers=bearer(token(exp=future(300))))) is None


def test_a_remembered_token_still_expires(monkeypatch):
    h = jwt()
    tok = token(exp=int(time.time()) + 30)
    assert h.on_request(request(headers=bearer(tok))) is None
    assert tok.encode() in h.verified
    later = time.time() + 60
    monkeypatch.setattr(jwt_handler.time, "time", lambda: later)
    _, body, _ = refusal(h.on_request(request(headers=bearer(tok))))
    assert body == {"exp": "token expired"}


def test_failed_tokens_are_not_remembered():
    h = jwt()
    for i in range(50):
        h.on_request(request(headers=bearer(token(key=b"wrong", jti=i))))
        h.on_request(request(headers=bearer(token(f"unknown-{i}"))))
    assert not h.verified and list(h.credentials) == ["hs-issuer"]  # only real credentials


# -- anonymous, preflight, chaining ------------------------------------------------------------


def test_anonymous_fallback_by_username():
    ctx = request(headers={"X-Consumer-Username": "spoof"})
    assert jwt(anonymous="guest").on_request(ctx) is None
    up = upstream_headers(ctx)
    assert up["x-anonymous-consumer"] == ["true"]
    assert up["x-consumer-username"] == ["guest"]
    assert "x-credential-identifier" not in up
    assert ctx.vars["consumer"]["username"] == "guest" and "credential" not in ctx.vars


def test_anonymous_that_does_not_exist_is_a_server_error():
    status, body, _ = refusal(jwt(anonymous="ghost").on_request(request()))
    assert (status, body["message"]) == (500, "An unexpected error occurred")


def test_already_authenticated_request_skips_when_anonymous_is_set():
    ctx = request()
    ctx.vars["credential"] = {"id": "from-key-auth"}
    assert jwt(anonymous="guest").on_request(ctx) is None
    assert ctx.vars["credential"] == {"id": "from-key-auth"}
    assert refusal(jwt().on_request(ctx))[0] == 401  # without anonymous: AND semantics


def test_preflight_can_skip_authentication():
    assert jwt(run_on_preflight=False).on_request(request("OPTIONS")) is None
    assert refusal(jwt().on_request(request("OPTIONS")))[0] == 401


# -- config --------------------------------------------------------------------------------------


def test_config_schema_defaults_and_checks():
    h = jwt()
    assert h.params == ("jwt",) and h.headers == (b"authorization",) and h.check_exp
    assert problems("jwt", {"maximum_expiration": 60, "claims_to_verify": ["nbf"]}) == [
        "config.claims_to_verify: expected to contain: exp (maximum_expiration is set)"
    ]
    assert problems("jwt", {"claims_to_verify": ["iat"]}) == [
        "config.claims_to_verify.0: expected one of: exp, nbf"
    ]
    assert problems("jwt", {"realm": 'a"b'})[0].startswith("config.realm: must be printable")
    assert problems("jwt", {"algorithm": "HS256"}) == ["config.algorithm: unknown field"]
    assert problems("jwt", {"maximum_expiration": -1}) == [
        "config.maximum_expiration: value should be between 0 and 31536000"
    ]


def test_handler_needs_the_gateway_config():
    with pytest.raises(ConfigError, match="needs the consumers and credentials"):
        handler("jwt", {})


# -- remembered tokens (remembered.py) against the handler's own steps --------------------------


def _outcome(verdict, ctx):
    return (
        refusal(verdict) if verdict is not None else None,
        upstream_headers(ctx),
        {k: v for k, v in ctx.vars.items()},
    )


@pytest.mark.parametrize(
    "config,answers",
    [
        ({}, True),
        ({"claims_to_verify": ["exp"]}, True),
        ({"uri_param_names": []}, True),
        ({"run_on_preflight": False}, True),
        ({"cookie_names": ["jwt"]}, False),
        ({"claims_to_verify": ["exp", "nbf"]}, False),
        ({"anonymous": "guest"}, False),
    ],
)
def test_remembered_tokens_get_the_same_answer_as_the_handlers_steps(config, answers):
    from carbonplane.gateway.plugins.jwt.remembered import RememberedTokens
    from carbonplane.gateway.plugins.pdk.authn import AuthHandler

    fast, plain = jwt(**config), jwt(**config)
    assert (type(fast.remembered) is RememberedTokens) == answers
    assert "on_request" not in vars(fast)
    good, old = token(nbf=int(time.time()) - 10), token(exp=int(time.time()) - 5)
    spoof = {"X-Consumer-ID": "mallory", "X-Credential-Identifier": "x"}
    cases = [
        ("GET", "/", {**bearer(good), **spoof}),
        ("GET", "/", bearer(good)),  # remembered
        ("GET", "/?jwt=" + good, {}),
        ("GET", "/?a=1", bearer(good)),
        ("OPTIONS", "/", bearer(good)),
        ("GET", "/", {"Authorization": f"bearer  {good}"}),
        ("GET", "/", bearer(old)),
        ("GET", "/", bearer(old)),
        ("GET", "/", {}),
        ("GET", "/", {"Cookie": f"jwt={good}"}),
        ("GET", "/", bearer(good + "x")),
        ("GET", "/", bearer(good + "=")),
        ("GET", "/", bearer(good + "==")),
    ]
    answered = 0
    for method, target, headers in cases:
        results = []
        if fast.remembered is not None:
            probe = request(method, target, headers)
            if fast.remembered.answer(probe):  # what the handler would answer on that path
                answered += 1
                assert _outcome(None, probe) == _outcome(
                    fast.on_request(ctx := request(method, target, headers)), ctx
                )
        for h, step in (
            (fast, fast.on_request),
            (plain, lambda c: AuthHandler.on_request(plain, c)),
        ):
            ctx = request(method, target, headers)
            results.append(_outcome(step(ctx), ctx))
        assert results[0] == results[1], (config, method, target, headers)
    assert (answered > 0) == answers  # the remembered path answered some itself
