"""Kong's balancer hash input: ``hash_on`` first, then ``hash_fallback``, a cookie generated when
asked for and missing."""

from __future__ import annotations

import pytest

from carbonplane.gateway.config.entities import validate_entity
from carbonplane.gateway.runtime.balancing import hash_value


def upstream(**fields):
    up, problems = validate_entity("upstreams", {"name": "pool.internal", **fields})
    assert problems == []
    return up


HASH_CASES = [
    ({"hash_on": "consumer"}, {"consumer_id": "c1"}, ("c1", None)),
    ({"hash_on": "ip"}, {"client_ip": "10.1.1.1"}, ("10.1.1.1", None)),
    ({"hash_on": "path"}, {"path": "/a/b"}, ("/a/b", None)),
    (
        {"hash_on": "header", "hash_on_header": "X-User"},
        {"headers": {"x-user": "bob"}},
        ("bob", None),
    ),
    (
        {"hash_on": "query_arg", "hash_on_query_arg": "tenant"},
        {"query": {"tenant": ["t1", "t2"]}},
        ("t1,t2", None),
    ),
    (
        {"hash_on": "uri_capture", "hash_on_uri_capture": "id"},
        {"uri_captures": {"id": "42"}},
        ("42", None),
    ),
    ({"hash_on": "consumer", "hash_fallback": "ip"}, {"client_ip": "10.2.2.2"}, ("10.2.2.2", None)),
    (
        {
            "hash_on": "header",
            "hash_on_header": "x-a",
            "hash_fallback": "header",
            "hash_fallback_header": "x-b",
        },
        {"headers": {"X-B": "fb"}},
        ("fb", None),
    ),
    (
        {"hash_on": "cookie", "hash_on_cookie": "sticky"},
        {"cookies": {"sticky": "s1"}},
        ("s1", None),
    ),
    (
        {"hash_on": "cookie", "hash_on_cookie": "sticky", "hash_on_cookie_path": "/app"},
        {},
        ("new", "sticky=new; Path=/app"),
    ),
    ({}, {"client_ip": "10.0.0.1"}, (None, None)),
]


@pytest.mark.parametrize("fields,request_info,expected", HASH_CASES)
def test_hash_value_follows_hash_on_and_fallback(fields, request_info, expected):
    assert hash_value(upstream(**fields), new_cookie=lambda: "new", **request_info) == expected
