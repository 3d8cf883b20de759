"""The engine's public surface (the seam other packages build on) is pinned."""

import carbonplane.proxy as proxy
from carbonplane.proxy import Filter, FilterChain


def test_all_is_pinned():
    assert sorted(proxy.__all__) == sorted(
        [
            "EMPTY_CHAIN",
            "FAILURE_CONNECT",
            "FAILURE_RESET",
            "FAILURE_TIMEOUT",
            "Client",
            "Filter",
            "FilterChain",
            "FixedTarget",
            "LocalResponse",
            "ProxyApp",
            "ProxyConfig",
            "ProxyServer",
            "RequestContext",
            "RouteDecision",
            "StaticApp",
            "Target",
            "TargetPicker",
            "Upstream",
            "listening_socket",
        ]
    )
    for name in proxy.__all__:
        assert hasattr(proxy, name), name


def test_chain_calls_only_overridden_hooks_and_knows_when_bodies_reframe():
    class Observer(Filter):
        request_body_keeps_length = True

        def on_request_body(self, ctx, data, end):
            return data

    class Rewriter(Filter):
        def on_request_body(self, ctx, data, end):
            return data.upper()

        def on_log(self, ctx):
            return None

    plain = FilterChain([Filter()])
    assert not (plain.request or plain.request_body or plain.response_head or plain.log)
    observed = FilterChain([Observer()])
    assert len(observed.request_body) == 1 and not observed.request_body_reframes
    mixed = FilterChain([Observer(), Rewriter()])
    assert len(mixed.request_body) == 2 and mixed.request_body_reframes and len(mixed.log) == 1


def test_slow_body_settings_are_checked_and_named():
    import pytest

    from carbonplane.errors import ConfigError

    app = proxy.StaticApp({"/": "127.0.0.1:9"})
    assert proxy.ProxyConfig(app=app).client_body_min_rate == 1024.0
    assert proxy.ProxyConfig(app=app, client_body_min_rate=0).client_body_min_rate == 0  # off
    for field, value in (("client_body_min_rate", -1), ("request_buffer_bytes", 0)):
        with pytest.raises(ConfigError, match=field):
            proxy.ProxyConfig(app=app, **{field: value})
