"""cors handler logic against Kong's behaviour: preflight answers, origin matching (literal,
regex by host or by domain, default ports, '*'), credentials, Vary, exposed headers,
private network, preflight_continue and allow_origin_absent."""

from __future__ import annotations

import pytest
from reqkit import all_headers, request, respond
from tests.kits.plugins import config, handler, problem_at

from carbonplane.gateway.plugins.cors.handler import normalize_origin
from carbonplane.proxy.app import LocalResponse

PREFLIGHT = {"Origin": "https://app.254carbon.com", "Access-Control-Request-Method": "POST"}


def preflight(conf: dict, headers: dict | None = None) -> LocalResponse | None:
    return handler("cors", conf).on_request(request("OPTIONS", "/api", headers or PREFLIGHT))


def simple(
    conf: dict, origin: str | None = "https://app.254carbon.com", upstream: list | None = None
) -> dict[str, str]:
    """Headers of a proxied GET response after the header filter (Vary values joined)."""
    h = handler("cors", conf)
    ctx = request("GET", "/api", {"Origin": origin} if origin else {})
    assert h.on_request(ctx) is None
    respond(ctx, 200, upstream or [])
    h.on_response_head(ctx)
    out: dict[str, str] = {}
    for n, v in ctx.response.headers:
        key = n.decode()
        out[key] = f"{out[key]}, {v.decode()}" if key in out else v.decode()
    return out


def test_defaults_are_kongs():
    conf = config("cors", {})
    assert conf["methods"] == [
        "GET",
        "HEAD",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
        "OPTIONS",
        "TRACE",
        "CONNECT",
    ]
    assert conf["credentials"] is False and conf["preflight_continue"] is False
    assert conf["private_network"] is False and conf["allow_origin_absent"] is True


def test_invalid_origin_regex_and_method_are_rejected():
    assert (
        problem_at("cors", {"origins": ["https://(a"]}, "config.origins.0")
        == "'https://(a' is not a valid regex"
    )
    assert problem_at("cors", {"methods": ["FETCH"]}, "config.methods.0").startswith(
        "expected one of: GET"
    )


def test_cors_cannot_be_scoped_to_a_consumer():
    from carbonplane.gateway.config.entities import validate_plugin

    _, found = validate_plugin(
        {"name": "cors", "consumer": {"id": "6d0e6bd5-45d9-4f42-9b6a-6f1b3c1f4b0a"}}
    )
    assert any(path == ("consumer",) for path, _ in found)


def test_preflight_with_defaults_answers_200_allowing_everything():
    verdict = preflight(
        {}, {**PREFLIGHT, "Access-Control-Request-Headers": "X-Token, Content-Type"}
    )
    headers = all_headers(verdict.headers)
    assert verdict.status == 200 and verdict.render(b"id")[1] == b""
    assert headers == {
        "access-control-allow-origin": "*",
        "access-control-allow-headers": "X-Token, Content-Type",
        "access-control-allow-methods": "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT",
    }


def test_preflight_with_254carbon_config():
    conf = {
        "origins": ["https://254carbon.com", r"https://.*\.254carbon\.com"],
        "methods": ["GET", "POST", "OPTIONS"],
        "headers": ["Accept", "Authorization"],
        "exposed_headers": ["X-Request-Id"],
        "credentials": True,
        "max_age": 3600,
    }
    headers = all_headers(preflight(conf).headers)
    assert headers == {
        "vary": "Origin",
        "access-control-allow-origin": "https://app.254carbon.com",
        "access-control-allow-credentials": "true",
        "access-control-allow-headers": "Accept,Authorization",
        "access-control-allow-methods": "GET,POST,OPTIONS",
        "access-control-max-age": "3600",
    }
    denied = all_headers(preflight(conf, {**PREFLIGHT, "Origin": "https://evil.example"}).headers)
    assert "access-control-allow-origin" not in denied and denied["vary"] == "Origin"


def test_options_without_request_method_is_not_a_preflight():
    h = handler("cors", {})
    ctx = request("OPTIONS", "/api", {"Origin": "https://a.test"})
    assert h.on_request(ctx) is None
    respond(ctx)
    h.on_response_head(ctx)
    assert all_headers(ctx.response.headers)["access-control-allow-origin"] == "*"


def test_preflight_continue_proxies_and_adds_nothing():
    h = handler("cors", {"preflight_continue": True})
    ctx = request("OPTIONS", "/api", PREFLIGHT)
    assert h.on_request(ctx) is None
    respond(ctx, 204, [("Allow", "GET")])
    h.on_response_head(ctx)
    assert all_headers(ctx.response.headers) == {"allow": "GET"}


def test_private_network_only_when_asked_and_enabled():
    asked = {**PREFLIGHT, "Access-Control-Request-Private-Network": "true"}
    assert "access-control-allow-private-network" not in all_headers(preflight({}, asked).headers)
    on = all_headers(preflight({"private_network": True}, asked).headers)
    assert on["access-control-allow-private-network"] == "true"
    assert "access-control-allow-private-network" not in all_headers(
        preflight({"private_network": True}).headers
    )


@pytest.mark.parametrize(
    "origins, request_origin, allowed",
    [
        (["https://a.test"], "https://evil.test", "https://a.test"),  # single literal: sent as is
        (["https://a.test", "https://b.test"], "https://b.test", "https://b.test"),
        (
            ["https://a.test", "https://b.test"],
            "https://b.test:443",
            "https://b.test",
        ),  # default port
        (["https://a.test", "https://b.test"], "https://c.test", None),
        (["http://a.test:8080", "https://b.test"], "http://a.test:8080", "http://a.test:8080"),
        (
            [r".*\.254carbon\.com", "https://x.test"],
            "https://api.254carbon.com",
            "https://api.254carbon.com",
        ),
        ([r".*\.254carbon\.com", "https://x.test"], "https://api.254carbon.com.evil.test", None),
        (
            [r"https://.*\.254carbon\.com", "https://x.test"],
            "http://api.254carbon.com",
            None,
        ),  # by domain
        (["^https://a\\.test$", "https://x.test"], "https://a.test", "https://a.test"),
        (["https://x.test", "*"], "https://anything.test", "*"),
    ],
)
def test_origin_matching(origins, request_origin, allowed):
    headers = simple({"origins": origins}, request_origin)
    assert headers.get("access-control-allow-origin") == allowed
    assert ("vary" in headers) is (origins != ["*"])


def test_simple_request_adds_vary_beside_upstreams_and_replaces_acao():
    headers = simple(
        {
            "origins": ["https://a.test", "https://b.test"],
            "exposed_headers": ["X-Request-Id", "X-Auth-Token"],
        },
        "https://a.test",
        upstream=[("Vary", "Accept-Encoding"), ("Access-Control-Allow-Origin", "*")],
    )
    assert headers["vary"] == "Accept-Encoding, Origin"
    assert headers["access-control-allow-origin"] == "https://a.test"
    assert headers["access-control-expose-headers"] == "X-Request-Id,X-Auth-Token"


def test_upstream_acao_is_removed_when_origin_not_allowed():
    headers = simple(
        {"origins": ["https://a.test", "https://b.test"]},
        "https://evil.test",
        upstream=[("Access-Control-Allow-Origin", "*")],
    )
    assert "access-control-allow-origin" not in headers


def test_credentials_with_wildcard_echo_the_request_origin():
    headers = simple({"credentials": True}, "https://app.test")
    assert headers["access-control-allow-origin"] == "https://app.test"
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["vary"] == "Origin"


def test_missing_origin_with_and_without_allow_origin_absent():
    assert simple({}, None) == {"access-control-allow-origin": "*"}
    assert simple({"allow_origin_absent": False}, None) == {}
    assert simple({"origins": ["https://a.test", "https://b.test"], "credentials": True}, None) == {
        "vary": "Origin",
        "access-control-allow-credentials": "true",
    }


def test_normalize_origin():
    assert normalize_origin("https://A.test:443/path") == ("https://A.test", "A.test")
    assert normalize_origin("http://a.test:80") == ("http://a.test", "a.test")
    assert normalize_origin("http://[::1]:8080") == ("http://[::1]:8080", "::1")
    assert normalize_origin("null") == ("null", "null")
