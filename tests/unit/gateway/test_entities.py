"""Every entity schema rule: Kong's defaults, shorthands, validation messages and field paths."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from entitykit import problems_of, valid

# -- defaults -------------------------------------------------------------------------------


def test_service_defaults_are_kongs():
    svc = valid("services", {"host": "example.internal"})
    assert {
        k: svc[k]
        for k in (
            "retries",
            "protocol",
            "port",
            "connect_timeout",
            "write_timeout",
            "read_timeout",
            "enabled",
            "path",
        )
    } == {
        "retries": 5,
        "protocol": "http",
        "port": 80,
        "connect_timeout": 60000,
        "write_timeout": 60000,
        "read_timeout": 60000,
        "enabled": True,
        "path": None,
    }


def test_route_defaults_are_kongs():
    route = valid("routes", {"paths": ["/"]})
    assert {
        k: route[k]
        for k in (
            "protocols",
            "strip_path",
            "preserve_host",
            "regex_priority",
            "https_redirect_status_code",
            "path_handling",
            "request_buffering",
            "response_buffering",
        )
    } == {
        "protocols": ["http", "https"],
        "strip_path": True,
        "preserve_host": False,
        "regex_priority": 0,
        "https_redirect_status_code": 426,
        "path_handling": "v0",
        "request_buffering": True,
        "response_buffering": True,
    }


def test_upstream_defaults_are_kongs():
    up = valid("upstreams", {"name": "pool.internal"})
    assert (
        up["algorithm"],
        up["slots"],
        up["hash_on"],
        up["hash_fallback"],
        up["hash_on_cookie_path"],
    ) == ("round-robin", 10000, "none", "none", "/")
    hc = up["healthchecks"]
    assert hc["threshold"] == 0
    assert hc["active"]["type"] == "http" and hc["active"]["timeout"] == 1
    assert hc["active"]["concurrency"] == 10 and hc["active"]["http_path"] == "/"
    assert hc["active"]["healthy"] == {"interval": 0, "http_statuses": [200, 302], "successes": 0}
    assert hc["active"]["unhealthy"] == {
        "interval": 0,
        "http_statuses": [429, 404, 500, 501, 502, 503, 504, 505],
        "tcp_failures": 0,
        "timeouts": 0,
        "http_failures": 0,
    }
    assert hc["passive"]["unhealthy"]["http_statuses"] == [429, 500, 503]
    assert (
        226 in hc["passive"]["healthy"]["http_statuses"]
        and hc["passive"]["healthy"]["successes"] == 0
    )


def test_target_defaults_weight_100_and_port_8000():
    tgt = valid(
        "targets",
        {"target": "10.0.0.1", "upstream": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}},
    )
    assert (tgt["target"], tgt["weight"]) == ("10.0.0.1:8000", 100)
    assert (
        valid(
            "targets", {"target": "::1", "upstream": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}}
        )["target"]
        == "[::1]:8000"
    )


def test_jwt_secret_default_algorithm_is_hs256():
    assert (
        valid("jwt_secrets", {"consumer": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}})[
            "algorithm"
        ]
        == "HS256"
    )


# -- service url shorthand ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url,expected",
    [
        ("http://h.internal", ("http", "h.internal", 80, None)),
        ("https://h.internal", ("https", "h.internal", 443, None)),
        ("http://h.internal:8081/v1", ("http", "h.internal", 8081, "/v1")),
        ("HTTPS://H.internal:8443/", ("https", "h.internal", 8443, "/")),
    ],
)
def test_service_url_shorthand(url, expected):
    svc = valid("services", {"url": url, "host": "ignored.internal", "port": 1})
    assert (svc["protocol"], svc["host"], svc["port"], svc["path"]) == expected
    assert "url" not in svc


@pytest.mark.parametrize(
    "url,message",
    [
        ("h.internal/path", "missing scheme in url"),
        ("http://", "missing host in url"),
        ("http://h:99999", "could not parse url"),
        (42, "expected a string"),
    ],
)
def test_service_url_errors(url, message):
    assert problems_of("services", {"url": url})["url"].startswith(message)


# -- validation messages, table ------------------------------------------------------------

INVALID = [
    ("services", {}, {"host": "required field missing"}),
    (
        "services",
        {"host": "h", "retries": 40000},
        {"retries": "value should be between 0 and 32767"},
    ),
    ("services", {"host": "h", "port": "80"}, {"port": "expected an integer"}),
    ("services", {"host": "h", "port": 70000}, {"port": "value should be between 0 and 65535"}),
    (
        "services",
        {"host": "h", "protocol": "ftp"},
        {
            "protocol": (
                "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss"
            )
        },
    ),
    (
        "services",
        {"host": "h", "protocol": "grpc"},
        {
            "protocol": "protocol 'grpc' is not supported: the gateway proxies HTTP/1.1 and "
            "WebSocket; use 'http', 'https', 'ws' or 'wss'"
        },
    ),
    (
        "services",
        {"host": "h", "protocol": "ws", "tls_verify": True},
        {"tls_verify": "value must be null (only allowed when 'protocol' is 'https')"},
    ),
    ("services", {"host": "h", "path": "api"}, {"path": "should start with: /"}),
    ("services", {"host": "h", "path": "/a//b"}, {"path": "must not have empty segments"}),
    (
        "services",
        {"host": "h", "path": "/a b"},
        {
            "path": (
                "invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)"
            )
        },
    ),
    ("services", {"host": "h", "path": "/a%zz"}, {"path": "invalid url-encoded value: '%zz'"}),
    (
        "services",
        {"host": "h", "name": "my service"},
        {
            "name": (
                "invalid value 'my service': the only accepted ascii characters are "
                "alphanumerics or ., -, _, and ~"
            )
        },
    ),
    ("services", {"host": "h:80"}, {"host": "must not have a port"}),
    ("services", {"host": "-bad-.x"}, {"host": "invalid value: -bad-.x"}),
    (
        "services",
        {"host": "h", "connect_timeout": 0},
        {"connect_timeout": "value should be between 1 and 2147483646"},
    ),
    (
        "services",
        {"host": "h", "tls_verify": True},
        {"tls_verify": "value must be null (only allowed when 'protocol' is 'https')"},
    ),
    (
        "services",
        {"host": "h", "client_certificate": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}},
        {"client_certificate": "value must be null (only allowed when 'protocol' is 'https')"},
    ),
    ("services", {"host": "h", "hots": "x"}, {"hots": "unknown field"}),
    (
        "services",
        {"host": "h", "tags": ["a,b"]},
        {
            "tags.0": (
                "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or "
                "valid utf-8 sequences"
            )
        },
    ),
    ("services", {"host": "h", "enabled": "yes"}, {"enabled": "expected a boolean"}),
    (
        "routes",
        {},
        {
            "@entity": (
                "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when "
                "'protocols' is 'http'"
            )
        },
    ),
    ("routes", {"methods": ["get"]}, {"methods.0": "invalid value: get"}),
    (
        "routes",
        {"hosts": ["*.a.*"]},
        {"hosts.0": "invalid wildcard: only one wildcard must be specified"},
    ),
    (
        "routes",
        {"hosts": ["a.*.b"]},
        {"hosts.0": "invalid wildcard: must be placed at leftmost or rightmost label"},
    ),
    ("routes", {"hosts": ["bad host"]}, {"hosts.0": "invalid value: bad host"}),
    (
        "routes",
        {"paths": ["api"]},
        {"paths.0": "should start with: / (fixed path) or ~/ (regex path)"},
    ),
    ("routes", {"paths": ["/ok", "//x"]}, {"paths.1": "must not have empty segments"}),
    (
        "routes",
        {"paths": ["/a/../b"]},
        {"paths.0": "non-normalized path, consider use '/b' instead"},
    ),
    (
        "routes",
        {"paths": ["/fo%6f"]},
        {"paths.0": "non-normalized path, consider use '/foo' instead"},
    ),
    ("routes", {"paths": ["/a%2"]}, {"paths.0": "invalid url-encoded value: '%2'"}),
    (
        "routes",
        {"headers": {"Host": ["a"]}},
        {
            "headers": (
                "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
            )
        },
    ),
    ("routes", {"headers": {"x": []}}, {"headers.x": "length must be at least 1"}),
    (
        "routes",
        {"headers": {"bad name": ["1"]}},
        {
            "headers.bad name": (
                "bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
            )
        },
    ),
    (
        "routes",
        {"paths": ["/"], "https_redirect_status_code": 300},
        {"https_redirect_status_code": "expected one of: 426, 301, 302, 307, 308"},
    ),
    (
        "routes",
        {"paths": ["/"], "path_handling": "v2"},
        {"path_handling": "expected one of: v0, v1"},
    ),
    (
        "routes",
        {"paths": ["/"], "protocols": ["tcp"]},
        {
            "protocols": "protocol 'tcp' is not supported: the gateway serves HTTP/1.1 and "
            "WebSocket routes; use 'http'/'https' or 'ws'/'wss'"
        },
    ),
    (
        "routes",
        {"paths": ["/"], "protocols": ["http", "ws"]},
        {"protocols": "these sets are mutually exclusive: ('http', 'https'), ('ws', 'wss')"},
    ),
    (
        "routes",
        {"protocols": ["ws"]},
        {
            "@entity": "must set one of 'methods', 'hosts', 'headers', 'paths' "
            "when 'protocols' is 'ws'"
        },
    ),
    ("routes", {"paths": ["/"], "protocols": []}, {"protocols": "length must be at least 1"}),
    (
        "routes",
        {"paths": ["/"], "protocols": ["http"], "snis": ["a.test"]},
        {
            "snis": (
                "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
                "'tls_passthrough'"
            )
        },
    ),
    (
        "routes",
        {"paths": ["/"], "sources": [{"ip": "10.0.0.1"}]},
        {
            "sources": (
                "'sources' can only be set when 'protocols' is 'tcp', 'tls', "
                "'tls_passthrough' or 'udp'"
            )
        },
    ),
    ("routes", {"paths": ["/"], "regex_priority": "1"}, {"regex_priority": "expected an integer"}),
    (
        "routes",
        {"paths": ["/"], "service": "svc"},
        {"service": 'expected a reference {"id": "<uuid>"}'},
    ),
    (
        "routes",
        {"paths": ["/"], "service": {"id": "nope"}},
        {"service.id": "expected a valid UUID"},
    ),
    ("upstreams", {}, {"name": "required field missing"}),
    (
        "upstreams",
        {"name": "10.0.0.1"},
        {"name": "Invalid name ('10.0.0.1'); no ip addresses allowed"},
    ),
    ("upstreams", {"name": "pool:80"}, {"name": "must not have a port"}),
    ("upstreams", {"name": "p", "hash_on": "header"}, {"hash_on_header": "required field missing"}),
    (
        "upstreams",
        {"name": "p", "hash_on": "cookie", "hash_on_cookie": "c", "hash_fallback": "ip"},
        {"hash_fallback": "expected one of: none (hash_on is 'cookie')"},
    ),
    (
        "upstreams",
        {"name": "p", "hash_on": "ip", "hash_fallback": "ip"},
        {"hash_fallback": "must be different from hash_on"},
    ),
    (
        "upstreams",
        {
            "name": "p",
            "hash_on": "header",
            "hash_on_header": "X-A",
            "hash_fallback": "header",
            "hash_fallback_header": "x-a",
        },
        {"hash_fallback_header": "must be different from hash_on_header"},
    ),
    (
        "upstreams",
        {"name": "p", "hash_on": "ip", "algorithm": "round-robin"},
        {"algorithm": "must be 'consistent-hashing' when 'hash_on' is set"},
    ),
    ("upstreams", {"name": "p", "slots": 5}, {"slots": "value should be between 10 and 65536"}),
    (
        "upstreams",
        {"name": "p", "healthchecks": {"active": {"healthy": {"successes": 300}}}},
        {"healthchecks.active.healthy.successes": "value should be between 0 and 255"},
    ),
    (
        "upstreams",
        {"name": "p", "healthchecks": {"active": {"type": "udp"}}},
        {"healthchecks.active.type": "expected one of: tcp, http, https, grpc, grpcs"},
    ),
    (
        "upstreams",
        {"name": "p", "healthchecks": {"active": {"foo": 1}}},
        {"healthchecks.active.foo": "unknown field"},
    ),
    (
        "upstreams",
        {"name": "p", "healthchecks": {"passive": {"unhealthy": {"http_statuses": [42]}}}},
        {"healthchecks.passive.unhealthy.http_statuses.0": "value should be between 100 and 999"},
    ),
    (
        "targets",
        {"target": "bad host:1", "upstream": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}},
        {"target": "Invalid target ('bad host:1'); not a valid hostname or ip address"},
    ),
    (
        "targets",
        {
            "target": "h:1",
            "upstream": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"},
            "weight": 70000,
        },
        {"weight": "value should be between 0 and 65535"},
    ),
    ("targets", {"target": "h:1"}, {"upstream": "required field missing"}),
    (
        "consumers",
        {},
        {"@entity": "at least one of these fields must be non-empty: 'custom_id', 'username'"},
    ),
    ("keyauth_credentials", {}, {"consumer": "required field missing"}),
    (
        "acls",
        {"consumer": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}},
        {"group": "required field missing"},
    ),
    (
        "basicauth_credentials",
        {"consumer": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}},
        {"username": "required field missing", "password": "required field missing"},
    ),
    (
        "hmacauth_credentials",
        {"consumer": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}},
        {"username": "required field missing"},
    ),
    (
        "jwt_secrets",
        {"consumer": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}, "algorithm": "none"},
        {
            "algorithm": "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, "
            "ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"
        },
    ),
    (
        "jwt_secrets",
        {"consumer": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}, "algorithm": "RS256"},
        {"rsa_public_key": "required field missing"},
    ),
    (
        "plugins",
        {"name": "no-such-plugin"},
        {
            "name": (
                "plugin 'no-such-plugin' not enabled; add it to the 'plugins' "
                "configuration property"
            )
        },
    ),
    ("plugins", {}, {"name": "required field missing"}),
]


@pytest.mark.parametrize(
    "kind,data,expected", INVALID, ids=[f"{k}-{'-'.join(e)}" for k, _, e in INVALID]
)
def test_invalid_entities_are_reported_like_kong(kind, data, expected):
    assert problems_of(kind, data) == expected


def test_jwt_public_keys_are_parsed():
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    base = {"consumer": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}, "algorithm": "ES256"}
    assert valid("jwt_secrets", {**base, "rsa_public_key": pem})["rsa_public_key"] == pem
    assert problems_of("jwt_secrets", {**base, "rsa_public_key": "-----BEGIN PUBLIC KEY-----\nxx"})[
        "rsa_public_key"
    ].startswith("invalid key:")


def test_sets_are_deduplicated_in_order():
    assert valid("routes", {"methods": ["POST", "GET", "POST"]})["methods"] == ["POST", "GET"]


def test_pcre_named_groups_and_unicode_names_are_accepted():
    valid("routes", {"paths": ["~/v/(?<ver>\\d+)$"], "name": "röute~1.a_b-c"})


def test_hashing_implies_consistent_hashing():
    up = valid("upstreams", {"name": "p", "hash_on": "header", "hash_on_header": "x-user"})
    assert up["algorithm"] == "consistent-hashing"
