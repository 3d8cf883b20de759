"""Route matching, priority and upstream path/host tables from Kong's documentation and source
(traditional router guide, route entity path-handling table, ``kong/router/transform.lua``)."""

from __future__ import annotations

import pytest
from gwtools import config_with_routes, matched

from carbonplane.gateway.runtime.route_match import https_required_response, upstream_uri

# -- which route serves the request -----------------------------------------------------------
# (case id, routes, [(method, host, path, headers, expected route name or None), ...])
MATCH_TABLES = [
    (
        "all fields AND, values OR (Kong guide)",
        [
            {
                "hosts": ["example.com", "foo-service.com"],
                "paths": ["/foo", "/bar"],
                "methods": ["GET"],
            }
        ],
        [
            ("GET", "example.com", "/foo", None, "r0"),
            ("GET", "foo-service.com", "/bar", None, "r0"),
            ("GET", "example.com", "/foo/hello/world", None, "r0"),
            ("GET", "example.com", "/", None, None),
            ("POST", "example.com", "/foo", None, None),
            ("GET", "foo.com", "/foo", None, None),
        ],
    ),
    (
        "leading wildcard host is a suffix match",
        [{"hosts": ["*.example.com", "service.com"]}],
        [
            ("GET", "an.example.com", "/", None, "r0"),
            ("GET", "x.y.example.com", "/", None, "r0"),
            ("GET", "service.com", "/", None, "r0"),
            ("GET", "example.com", "/", None, None),
            ("GET", "badexample.com", "/", None, None),
        ],
    ),
    (
        "trailing wildcard host is a prefix match",
        [{"hosts": ["example.*"]}],
        [
            ("GET", "example.com", "/", None, "r0"),
            ("GET", "example.org", "/", None, "r0"),
            ("GET", "www.example.com", "/", None, None),
        ],
    ),
    (
        "hosts are case-insensitive and the Host port is ignored for plain entries",
        [{"hosts": ["Example.COM"]}],
        [
            ("GET", "EXAMPLE.com", "/", None, "r0"),
            ("GET", "example.com:8000", "/", None, "r0"),
            ("GET", None, "/", None, None),
        ],
    ),
    (
        "a host:port entry also needs the Host header's port",
        [{"hosts": ["example.com:8080"]}],
        [
            ("GET", "example.com:8080", "/", None, "r0"),
            ("GET", "example.com", "/", None, None),
            ("GET", "example.com:9090", "/", None, None),
        ],
    ),
    (
        "header values OR, case-insensitive (Kong guide)",
        [{"headers": {"version": ["v1", "v2"]}}],
        [
            ("GET", "h", "/", {"version": "v1"}, "r0"),
            ("GET", "h", "/", {"version": "V2"}, "r0"),
            ("GET", "h", "/", {"version": "v3"}, None),
            ("GET", "h", "/", {}, None),
            ("GET", "h", "/", [(b"Version", b"v2")], "r0"),
            ("GET", "h", "/", {"version": ["v9", "v1"]}, "r0"),
        ],
    ),
    (
        "header names AND",
        [{"headers": {"region": ["north"], "tier": ["gold"]}}],
        [
            ("GET", "h", "/", {"region": "North", "tier": "gold"}, "r0"),
            ("GET", "h", "/", {"region": "north"}, None),
        ],
    ),
    (
        "~* header values are case-insensitive regexes",
        [{"headers": {"x-version": ["~*^v\\d+$"]}}],
        [
            ("GET", "h", "/", {"x-version": "V12"}, "r0"),
            ("GET", "h", "/", {"x-version": "beta"}, None),
        ],
    ),
    (
        "paths are prefixes of the normalised path (Kong guide)",
        [{"paths": ["/service", "/hello/world"]}],
        [
            ("GET", "example.com", "/service", None, "r0"),
            ("GET", "example.com", "/service/resource?param=value", None, "r0"),
            ("GET", "anything.com", "/hello/world/resource", None, "r0"),
            ("GET", "example.com", "/servicex", None, "r0"),
            ("GET", "example.com", "/hello", None, None),
        ],
    ),
    (
        "a plain path is never a regex",
        [{"paths": ["/users/\\d+/profile"]}],
        [
            ("GET", "h", "/users/\\d+/profile", None, "r0"),
            ("GET", "h", "/users/12/profile", None, None),
        ],
    ),
    (
        "regex paths are anchored at the start",
        [{"paths": ["~/foo/\\d+$"]}],
        [
            ("GET", "h", "/foo/12", None, "r0"),
            ("GET", "h", "/x/foo/12", None, None),
            ("GET", "h", "/foo/12/x", None, None),
        ],
    ),
    (
        "longest prefix first (Kong guide)",
        [{"paths": ["/service"]}, {"paths": ["/service/resource"]}],
        [
            ("GET", "h", "/service/resource/1", None, "r1"),
            ("GET", "h", "/service/other", None, "r0"),
        ],
    ),
    (
        "regex evaluation order (Kong guide): regex_priority, then age, then prefixes",
        [
            {"paths": ["~/status/\\d+"], "regex_priority": 0},
            {"paths": ["~/version/\\d+/status/\\d+"], "regex_priority": 6},
            {"paths": ["/version"]},
            {"paths": ["~/version/any/"]},
        ],
        [
            ("GET", "h", "/version/1/status/2", None, "r1"),
            ("GET", "h", "/status/7", None, "r0"),
            ("GET", "h", "/version/any/thing", None, "r3"),
            ("GET", "h", "/version/other", None, "r2"),
        ],
    ),
    (
        "regex before prefix even when the prefix is longer",
        [{"paths": ["/foo/bar/baz"]}, {"paths": ["~/foo"]}],
        [("GET", "h", "/foo/bar/baz/x", None, "r1")],
    ),
    (
        "more matching fields first (Kong guide: hosts vs hosts+methods)",
        [{"hosts": ["example.com"]}, {"hosts": ["example.com"], "methods": ["POST"]}],
        [("GET", "example.com", "/", None, "r0"), ("POST", "example.com", "/", None, "r1")],
    ),
    (
        "weight beats path length",
        [{"paths": ["/a/b/c/d"]}, {"paths": ["/a"], "methods": ["GET"]}],
        [("GET", "h", "/a/b/c/d", None, "r1"), ("POST", "h", "/a/b/c/d", None, "r0")],
    ),
    (
        "plain hosts beat wildcard hosts at equal weight",
        [
            {"hosts": ["*.example.com"], "paths": ["/"]},
            {"hosts": ["a.example.com"], "paths": ["/"]},
        ],
        [("GET", "a.example.com", "/x", None, "r1"), ("GET", "b.example.com", "/x", None, "r0")],
    ),
    (
        "more headers beat fewer at equal weight",
        [
            {"headers": {"x": ["1"]}, "paths": ["/"]},
            {"headers": {"x": ["1"], "y": ["2"]}, "paths": ["/"]},
        ],
        [("GET", "h", "/", {"x": "1", "y": "2"}, "r1"), ("GET", "h", "/", {"x": "1"}, "r0")],
    ),
    (
        "regex_priority only orders regex routes (Kong issue 7687)",
        [
            {"hosts": ["foo.com"], "paths": ["/"], "regex_priority": 1},
            {"hosts": ["foo.com"], "paths": ["/v1"], "regex_priority": 0},
            {"hosts": ["bar.com"], "paths": ["~/.*"]},
        ],
        [
            ("GET", "foo.com", "/v1/x", None, "r1"),
            ("GET", "foo.com", "/v2", None, "r0"),
            ("GET", "bar.com", "/v1", None, "r2"),
        ],
    ),
    (
        "a route's paths are split: each group keeps its own priority",
        [{"paths": ["/a", "~/b/\\d+", "/longer/prefix"]}, {"paths": ["/longer"]}],
        [
            ("GET", "h", "/longer/prefix/x", None, "r0"),
            ("GET", "h", "/longerx", None, "r1"),
            ("GET", "h", "/b/12", None, "r0"),
            ("GET", "h", "/a", None, "r0"),
        ],
    ),
    (
        "same priority: older created_at first",
        [
            {"paths": ["/tie"], "created_at": 1_700_000_500},
            {"paths": ["/tie"], "created_at": 1_700_000_100},
        ],
        [("GET", "h", "/tie", None, "r1")],
    ),
    (
        "same priority and age: configuration order",
        [{"paths": ["/tie"]}, {"paths": ["/tie"]}],
        [("GET", "h", "/tie", None, "r0")],
    ),
    (
        "reserved characters stay percent-encoded in route paths",
        [{"paths": ["/a%2Fb"]}],
        [("GET", "h", "/a%2Fb/c", None, "r0"), ("GET", "h", "/a/b/c", None, None)],
    ),
    (
        "methods are exact and upper case",
        [{"methods": ["GET", "HEAD"]}],
        [
            ("HEAD", "h", "/resource", None, "r0"),
            ("POST", "h", "/", None, None),
            ("get", "h", "/", None, None),
        ],
    ),
]


@pytest.mark.parametrize("routes,requests", [pytest.param(r, q, id=i) for i, r, q in MATCH_TABLES])
def test_route_selection(routes, requests):
    cfg = config_with_routes(routes)
    got = [(m, h, p, matched(cfg, m, h, p, hd)) for m, h, p, hd, _ in requests]
    assert got == [(m, h, p, want) for m, h, p, _, want in requests]


def test_snis_only_count_on_https():
    cfg = config_with_routes(
        [{"protocols": ["https"], "snis": ["a.test"], "paths": ["/"]}, {"paths": ["/"]}]
    )
    assert matched(cfg, "GET", "h", "/", scheme="https", sni="a.test") == "r0"
    assert matched(cfg, "GET", "h", "/", scheme="https", sni="b.test") == "r1"
    m = cfg.router.match("GET", "h", "/", scheme="http")
    assert m.route["name"] == "r0" and m.https_redirect_status == 426


def test_route_snis_accept_one_wildcard_label_at_either_end():
    cfg = config_with_routes(
        [
            {"protocols": ["https"], "snis": ["*.a.test"], "paths": ["/"]},
            {"protocols": ["https"], "snis": ["shop.*"], "paths": ["/"]},
            {"paths": ["/"]},
        ]
    )
    assert matched(cfg, "GET", "h", "/", scheme="https", sni="x.a.test") == "r0"
    assert matched(cfg, "GET", "h", "/", scheme="https", sni="X.Y.A.TEST.") == "r0"
    assert matched(cfg, "GET", "h", "/", scheme="https", sni="a.test") == "r2"
    assert matched(cfg, "GET", "h", "/", scheme="https", sni="xa.test") == "r2"
    assert matched(cfg, "GET", "h", "/", scheme="https", sni="shop.example") == "r1"
    assert matched(cfg, "GET", "h", "/", scheme="https", sni="shop") == "r2"
    assert matched(cfg, "GET", "h", "/", scheme="https", sni=None) == "r2"


def test_https_only_route_answers_plain_http_with_426_or_redirect():
    cfg = config_with_routes(
        [
            {"paths": ["/a"], "protocols": ["https"]},
            {"paths": ["/b"], "protocols": ["https"], "https_redirect_status_code": 308},
            {"paths": ["/c"]},
        ]
    )
    m = cfg.router.match("GET", "gw.test", "/a/x")
    status, headers, body = https_required_response(m, "gw.test", "/a/x?q=1")
    assert (status, body) == (426, b'{"message":"Please use HTTPS protocol"}')
    assert (b"upgrade", b"TLS/1.2, HTTP/1.1") in headers
    m = cfg.router.match("GET", "gw.test", "/b/x")
    assert https_required_response(m, "gw.test", "/b/x?q=1") == (
        308,
        ((b"location", b"https://gw.test/b/x?q=1"),),
        b"",
    )
    assert cfg.router.match("GET", "gw.test", "/a/x", scheme="https").https_redirect_status is None
    assert cfg.router.match("GET", "gw.test", "/c").https_redirect_status is None


def test_routes_of_a_disabled_service_are_not_served():
    cfg = config_with_routes(
        [{"paths": ["/on"]}, {"paths": ["/off"], "service": "off"}],
        services=[
            {"name": "svc", "host": "a.internal"},
            {"name": "off", "host": "b.internal", "enabled": False},
        ],
    )
    assert matched(cfg, "GET", "h", "/on") == "r0"
    assert matched(cfg, "GET", "h", "/off") is None


def test_route_without_service_matches_with_no_service():
    cfg = config_with_routes([{"paths": ["/lonely"], "service": None}])
    m = cfg.router.match("GET", "h", "/lonely")
    assert m.service is None and m.upstream_scheme is None


def test_regex_captures_are_exposed():
    cfg = config_with_routes([{"paths": ["~/version/(?<version>\\d+)/users/(?<user>\\S+)"]}])
    m = cfg.router.match("GET", "h", "/version/1/users/john")
    assert m.uri_captures == {
        0: "/version/1/users/john",
        1: "1",
        2: "john",
        "version": "1",
        "user": "john",
    }


# -- how the upstream path and Host are built ------------------------------------------------
# Kong's path-handling table (route entity docs) plus the edge rules of get_upstream_uri_v0.
# (service path, route path, strip_path, path_handling, request path, upstream path)
JOIN_TABLE = [
    ("/s", "/fv0", False, "v0", "/fv0req", "/s/fv0req"),
    ("/s", "/fv1", False, "v1", "/fv1req", "/sfv1req"),
    ("/s", "/tv0", True, "v0", "/tv0req", "/s/req"),
    ("/s", "/tv1", True, "v1", "/tv1req", "/sreq"),
    ("/s", "/fv0/", False, "v0", "/fv0/req", "/s/fv0/req"),
    ("/s", "/fv1/", False, "v1", "/fv1/req", "/sfv1/req"),
    ("/s", "/tv0/", True, "v0", "/tv0/req", "/s/req"),
    ("/s", "/tv1/", True, "v1", "/tv1/req", "/sreq"),
    ("/s", "/fv0", False, "v0", "/fv0", "/s/fv0"),
    ("/s", "/tv0", True, "v0", "/tv0", "/s"),
    ("/s", "/tv0", True, "v0", "/tv0/", "/s/"),
    ("/s", "/tv1", True, "v1", "/tv1/req", "/s/req"),
    ("/s/", "/fv0/", False, "v0", "/fv0/", "/s/fv0/"),
    ("/s/", "/tv0", True, "v0", "/tv0/req", "/s/req"),
    ("/s/", "/tv0", True, "v0", "/tv0", "/s"),
    ("/s/", "/tv0", True, "v0", "/tv0/", "/s/"),
    ("/s/", "/tv0", True, "v0", "/tv0req", "/s/req"),
    (None, "/notify", True, "v0", "/notify", "/"),
    (None, "/notify", True, "v0", "/notify/x", "/x"),
    (None, "/ledger", False, "v0", "/ledger/entries/9", "/ledger/entries/9"),
    ("/api", "/notify", True, "v0", "/notify", "/api"),
    ("/v2", "~/reports/\\d{4}", True, "v0", "/reports/2026/q3", "/v2/q3"),
    ("/v2", "~/reports/\\d{4}", False, "v0", "/reports/2026/q3", "/v2/reports/2026/q3"),
    (
        "/api",
        "/billing/v1",
        True,
        "v0",
        "/billing/v1/invoices/42?status=paid",
        "/api/invoices/42?status=paid",
    ),
    ("/s", "/dot", True, "v0", "/dot../x", "/s/x"),
]


@pytest.mark.parametrize("service_path,route_path,strip,handling,request_path,expected", JOIN_TABLE)
def test_upstream_path_joining(service_path, route_path, strip, handling, request_path, expected):
    service = {"name": "svc", "host": "up.internal"}
    if service_path:
        service["path"] = service_path
    cfg = config_with_routes(
        [{"paths": [route_path], "strip_path": strip, "path_handling": handling}],
        services=[service],
    )
    m = cfg.router.match("GET", "gw", request_path)
    assert m is not None
    assert m.upstream_path == expected


def test_route_without_paths_forwards_the_whole_path():
    cfg = config_with_routes(
        [{"hosts": ["gw.test"]}], services=[{"name": "svc", "url": "http://u/base"}]
    )
    assert cfg.router.match("GET", "gw.test", "/a/b").upstream_path == "/base/a/b"


def test_upstream_uri_sanitises_dot_postfixes():
    assert upstream_uri("/s", "/p..", "/p", True) == "/s"
    assert upstream_uri("/s", "/p./x", "/p", True) == "/s/x"


@pytest.mark.parametrize(
    "service,preserve,client_host,expected",
    [
        ({"url": "http://up.internal"}, False, "gw.test", "up.internal"),
        ({"url": "http://up.internal:8080"}, False, "gw.test", "up.internal:8080"),
        ({"url": "https://up.internal"}, False, "gw.test", "up.internal"),
        ({"url": "https://up.internal:80"}, False, "gw.test", "up.internal:80"),
        ({"host": "::1", "port": 81}, False, "gw.test", "[::1]:81"),
        ({"url": "http://up.internal"}, True, "gw.test:8000", "gw.test:8000"),
    ],
)
def test_upstream_host_header(service, preserve, client_host, expected):
    cfg = config_with_routes(
        [{"paths": ["/"], "preserve_host": preserve}], services=[{"name": "svc", **service}]
    )
    assert cfg.router.match("GET", client_host, "/").upstream_host == expected


def test_service_on_an_upstream_leaves_host_to_the_balancer():
    cfg = config_with_routes(
        [{"paths": ["/"]}],
        services=[{"name": "svc", "host": "pool.internal"}],
        upstreams=[{"name": "pool.internal", "targets": [{"target": "10.0.0.1:80"}]}],
    )
    m = cfg.router.match("GET", "gw", "/x")
    assert m.upstream is not None and m.upstream["name"] == "pool.internal"
    assert m.upstream_host is None


def test_bucketed_index_agrees_with_a_linear_scan():
    """Many overlapping prefixes, regexes and a catch-all: the bucketed router must pick what a
    plain priority-ordered scan picks, for every request."""
    routes = [
        {"paths": [p]}
        for p in ("/", "/a", "/ab", "/abc", "/api", "/api/v1", "/api/v2", "/b/c", "/zz", "/apix")
    ]
    routes += [{"paths": ["~/api/v\\d+/special"]}, {"paths": ["/api/v1/x"], "methods": ["GET"]}]
    cfg = config_with_routes(routes)
    requests = [
        "/",
        "/a",
        "/ab",
        "/abcd",
        "/api",
        "/api/v1/x",
        "/api/v3/special",
        "/api/v1/y",
        "/b",
        "/b/c/d",
        "/zz",
        "/apixy",
        "/q",
    ]
    for path in requests:
        for method in ("GET", "POST"):
            linear = next(
                (
                    m.route["name"]
                    for m in cfg.router.matchers
                    if (m.methods is None or method in m.methods)
                    and (
                        any(path.startswith(p) for p in m.prefixes)
                        or any(r.match(path) for r in m.regexes)
                    )
                ),
                None,
            )
            assert matched(cfg, method, "h", path) == linear, (method, path)
