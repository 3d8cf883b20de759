"""Kong's ``headers`` / ``headers_upstream`` / ``error_default_type`` -> the engine's settings,
and the header lines the engine compiles from them (``proxy/config.py``)."""

from __future__ import annotations

import pytest

from carbonplane import __version__
from carbonplane.errors import ConfigError
from carbonplane.gateway.runtime.headers import gateway_defaults, proxy_header_settings
from carbonplane.proxy.app import Client, RequestContext
from carbonplane.proxy.config import ProxyConfig

PRODUCT = f"carbonplane/{__version__}"


def compiled(**fields):
    return ProxyConfig(app=None, **fields).compiled


def ctx_at(started: float, upstream_started: float, answered: float) -> RequestContext:
    ctx = RequestContext(
        None, Client("127.0.0.1", 1, False, b"http", 8000), "127.0.0.1", b"R" * 32, started, 0
    )
    ctx.upstream_started, ctx.upstream_answered = upstream_started, answered
    return ctx


def test_kongs_defaults():
    settings = gateway_defaults()
    assert settings["server_tokens"] == PRODUCT and settings["via"] == f"1.1 {PRODUCT}"
    assert settings["via_downstream"] and settings["request_id_header"] == "x-kong-request-id"
    assert settings["request_id_upstream"] and settings["request_id_downstream"]
    assert settings["latency_headers"] == ["upstream", "proxy", "response"]
    assert settings["latency_header_prefix"] == "x-kong"
    assert settings["error_default_type"] == "text/plain"


def test_default_lines_of_a_relayed_and_a_local_response():
    s = compiled(**gateway_defaults())
    lines = s.response_lines(ctx_at(10.0, 10.125, 10.5))
    assert (
        lines
        == (
            f"via: 1.1 {PRODUCT}\r\nx-kong-upstream-latency: 375\r\n"
            f"x-kong-proxy-latency: 125\r\nx-kong-request-id: {'R' * 32}\r\n"
        ).encode()
    )
    assert s.local_lines(ctx_at(10.0, 0, 0), 10.25) == (
        b"x-kong-response-latency: 250\r\nx-kong-request-id: " + b"R" * 32 + b"\r\n"
    )
    assert s.server_line == f"server: {PRODUCT}\r\n".encode()
    assert (
        s.upstream_template % b"id" == f"via: 1.1 {PRODUCT}\r\nx-kong-request-id: id\r\n".encode()
    )
    # only our own request-id field is replaced; X-Request-ID passes both ways
    assert b"x-kong-request-id" in s.request_drop and b"x-request-id" not in s.request_drop
    assert b"x-request-id" not in s.response_drop
    # an upstream's own X-Kong-* latency or id fields are replaced by ours, not doubled
    for name in (b"x-kong-upstream-latency", b"x-kong-proxy-latency", b"x-kong-request-id"):
        assert name in s.response_drop and name in s.response_drop_reframed


def test_off_sends_nothing_downstream_but_via_still_goes_upstream():
    s = compiled(**proxy_header_settings("off", "off"))
    assert s.response_lines(ctx_at(1, 2, 3)) == b"" and s.local_lines(ctx_at(1, 0, 0), 2) == b""
    assert s.server_line == b""
    assert s.upstream_template == f"via: 1.1 {PRODUCT}\r\n".encode()
    assert not s.upstream_request_id
    # the client's own X-Kong-Request-Id is then not ours to replace
    assert b"x-kong-request-id" not in s.request_drop | s.response_drop


@pytest.mark.parametrize(
    ("headers", "relayed", "local"),
    [
        ("X-Kong-Proxy-Latency", [b"x-kong-proxy-latency"], []),
        ("x-kong-upstream-latency,Via", [b"via", b"x-kong-upstream-latency"], []),
        ("X-Kong-Response-Latency", [], [b"x-kong-response-latency"]),
        ("server", [], []),
        (
            "latency_tokens",
            [b"x-kong-upstream-latency", b"x-kong-proxy-latency"],
            [b"x-kong-response-latency"],
        ),
        ("X-Kong-Request-Id", [b"x-kong-request-id"], [b"x-kong-request-id"]),
    ],
)
def test_single_headers(headers, relayed, local):
    s = compiled(**proxy_header_settings(headers))
    names = [line.split(b":")[0] for line in s.response_lines(ctx_at(1, 2, 3)).splitlines()]
    assert names == relayed
    names = [line.split(b":")[0] for line in s.local_lines(ctx_at(1, 0, 0), 2).splitlines()]
    assert names == local
    assert bool(s.server_line) == (headers == "server")


@pytest.mark.parametrize(
    ("headers", "upstream", "where", "says"),
    [
        ("server_tokens, X-Powered-By", "off", "headers", "'x-powered-by' is not one of"),
        ("X-Kong-Upstream-Status", "off", "headers", "X-Kong-Upstream-Status is not sent"),
        ("off", "Via", "headers_upstream", "'via' is not one of x-kong-request-id"),
    ],
)
def test_unknown_names_are_refused_naming_the_setting(headers, upstream, where, says):
    with pytest.raises(ConfigError) as err:
        proxy_header_settings(headers, upstream)
    assert err.value.where == where and says in str(err.value)


def test_error_default_type_is_one_of_four():
    assert (
        proxy_header_settings(error_default_type="Text/HTML")["error_default_type"] == "text/html"
    )
    with pytest.raises(ConfigError) as err:
        proxy_header_settings(error_default_type="image/png")
    assert err.value.where == "error_default_type"


def test_request_ids_look_like_nginx_request_id():
    s = compiled(**gateway_defaults())
    assert len(s.request_id_prefix) == 24 and int(s.request_id_prefix, 16) >= 0
