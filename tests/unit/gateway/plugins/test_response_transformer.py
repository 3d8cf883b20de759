"""The response-transformer plugin on hand-built responses: Kong's header operation order, the
security-header set the original platform intended, JSON body operations with json_types,
non-JSON and oversized bodies, and which configs touch bodies at all."""

from __future__ import annotations

import json

import pytest
from reqkit import request
from tests.kits.plugins import handler, problems

from carbonplane.gateway.plugins.response_transformer import handler as rt_handler
from carbonplane.http.model import ResponseHead
from carbonplane.proxy.app import Filter

SECURITY = {
    "add": {
        "headers": [
            "X-Content-Type-Options:nosniff",
            "X-Frame-Options:DENY",
            "X-XSS-Protection:1; mode=block",
            "Strict-Transport-Security:max-age=31536000; includeSubDomains",
        ]
    },
    "remove": {"headers": ["Server", "X-Powered-By"]},
}


def rt(**config):
    return handler("response-transformer", config)


def respond(h, headers: list[tuple[str, str]], chunks: list[bytes] = ()):
    ctx = request()
    ctx.response = ResponseHead(
        200, b"OK", b"1.1", [(k.lower().encode(), v.encode()) for k, v in headers]
    )
    h.on_response_head(ctx)
    body = b""
    if type(h).on_response_body is not Filter.on_response_body:
        body = b"".join(h.on_response_body(ctx, c, False) for c in chunks)
        body += h.on_response_body(ctx, b"", True)
    out: dict[str, list[str]] = {}
    for name, value in ctx.response.headers:
        out.setdefault(name.decode(), []).append(value.decode())
    return out, body


def test_security_headers_of_the_original_platform():
    headers, _ = respond(
        rt(**SECURITY),
        [
            ("Server", "nginx/1.25"),
            ("X-Powered-By", "Express"),
            ("X-Frame-Options", "SAMEORIGIN"),
            ("Content-Type", "text/html"),
        ],
    )
    assert "server" not in headers and "x-powered-by" not in headers
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["x-frame-options"] == ["SAMEORIGIN"]  # add never overrides the upstream
    assert headers["x-xss-protection"] == ["1; mode=block"]
    assert headers["strict-transport-security"] == ["max-age=31536000; includeSubDomains"]
    forced = dict(SECURITY, replace={"headers": ["X-Frame-Options:DENY"]})
    assert respond(rt(**forced), [("X-Frame-Options", "SAMEORIGIN")])[0]["x-frame-options"] == [
        "DENY"
    ]


def test_header_operations_in_kong_order():
    headers, _ = respond(
        rt(
            remove={"headers": ["x-gone"]},
            rename={"headers": ["X-Old:X-New"]},
            replace={"headers": ["X-Dup:one", "X-Absent:no"]},
            add={"headers": ["X-Dup:no", "X-Added:yes"]},
            append={"headers": ["X-Dup:two", "Set-Cookie:b=2"]},
        ),
        [
            ("X-Gone", "1"),
            ("X-Old", "v"),
            ("X-New", "lost"),
            ("X-Dup", "a"),
            ("X-Dup", "b"),
            ("Set-Cookie", "a=1"),
        ],
    )
    assert "x-gone" not in headers and "x-old" not in headers and "x-absent" not in headers
    assert headers["x-new"] == ["v"]
    assert headers["x-dup"] == ["one", "two"]
    assert headers["x-added"] == ["yes"]
    assert headers["set-cookie"] == ["a=1", "b=2"]


JSON_OPS = {
    "remove": {"json": ["secret"]},
    "rename": {"json": ["old:new"]},
    "replace": {"json": ["count:5", "flag:true", "absent:x"], "json_types": ["number", "boolean"]},
    "add": {"json": ["version:2", "count:9"], "json_types": ["number"]},
    "append": {"json": ["tags:b", "list:1.5"], "json_types": ["string", "number"]},
}


def test_json_body_operations_with_types():
    raw = json.dumps(
        {"secret": "s", "old": 1, "count": 1, "flag": False, "tags": "a", "list": [1]}
    ).encode()
    headers, body = respond(
        rt(**JSON_OPS), [("Content-Type", "application/json")], [raw[:7], raw[7:]]
    )
    assert json.loads(body) == {
        "new": 1,
        "count": 5,
        "flag": True,
        "tags": ["a", "b"],
        "list": [1, 1.5],
        "version": 2,
    }


@pytest.mark.parametrize(
    "content_type", ["application/problem+json", "Application/JSON; charset=utf-8"]
)
def test_json_content_types(content_type):
    _, body = respond(rt(**JSON_OPS), [("Content-Type", content_type)], [b'{"secret":1}'])
    assert json.loads(body) == {"version": 2, "count": "9", "tags": ["b"], "list": [1.5]}


@pytest.mark.parametrize(
    "headers,raw",
    [
        ([("Content-Type", "text/plain")], b'{"secret":1}'),
        ([], b'{"secret":1}'),
        ([("Content-Type", "application/json")], b"[1,2]"),
        ([("Content-Type", "application/json")], b"{oops"),
    ],
)
def test_other_bodies_pass_unchanged(headers, raw):
    assert respond(rt(**JSON_OPS), headers, [raw[:3], raw[3:]])[1] == raw


def test_oversized_json_bodies_pass_through(monkeypatch):
    monkeypatch.setattr(rt_handler, "MAX_BUFFERED", 10)
    raw = json.dumps({"secret": "x" * 30}).encode()
    assert (
        respond(
            rt(**JSON_OPS), [("Content-Type", "application/json")], [raw[:6], raw[6:20], raw[20:]]
        )[1]
        == raw
    )


def test_only_json_configs_get_a_body_hook():
    from carbonplane.proxy.app import FilterChain

    assert FilterChain([rt(**SECURITY)]).response_body == ()
    assert len(FilterChain([rt(remove={"json": ["a"]})]).response_body) == 1


def test_schema_checks():
    assert problems(
        "response-transformer", {"add": {"json": ["n:x"], "json_types": ["number"]}}
    ) == ["config.add.json: 'n:x': the value is not a number"]
    assert problems(
        "response-transformer", {"add": {"json": ["b:yes"], "json_types": ["boolean"]}}
    ) == ["config.add.json: 'b:yes': a boolean value is true or false"]
    assert problems("response-transformer", {"add": {"json_types": ["object"]}}) == [
        "config.add.json_types.0: expected one of: boolean, number, string"
    ]
    assert problems("response-transformer", {"add": {"headers": ["X-A:1\nX-B:2"]}})[0].endswith(
        "has a control character in its value"
    )
    assert problems("response-transformer", {"remove": {"headers": ["a b"]}}) == [
        "config.remove.headers.0: 'a b' is not a valid header"
    ]
    assert problems("response-transformer", {"remove": {"json_types": []}}) == [
        "config.remove.json_types: unknown field"
    ]
