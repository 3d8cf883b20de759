"""The request-transformer plugin over real sockets: what the upstream receives - method, path,
headers (Host included), query - after Kong's operations and templates; a template cannot
inject a header line; JSON bodies rewritten in flight (the engine's request-body hook)."""

from __future__ import annotations

import json

from gwharness import http
from tests.kits.plugins import handler
from tests.kits.standin import seen

from .proxykit import ChainProxy

CONFIG = {
    "http_method": "POST",
    "remove": {"headers": ["X-Internal-Debug"], "querystring": ["debug"]},
    "rename": {"headers": ["X-Old-Name:X-New-Name"]},
    "replace": {"headers": ["Host:api.internal"], "uri": "/v2$(headers.x_path_suffix)"},
    "add": {
        "headers": [
            "X-Platform:254carbon",
            "X-Environment:production",
            "X-Region:$(query_params.region)",
        ],
        "querystring": ["source:gateway"],
    },
    "append": {"headers": ["X-Trace:gw"]},
}


def test_upstream_sees_the_transformed_request(upstream):
    with ChainProxy(upstream.port, [handler("request-transformer", CONFIG)]) as p:
        status, _, doc = http(
            p.port,
            "GET",
            "/orig?debug=1&region=eu",
            headers={
                "X-Internal-Debug": "1",
                "X-Old-Name": "v",
                "X-Path-Suffix": "/items",
                "X-Trace": "client",
            },
        )
    assert status == 200
    assert doc["method"] == "POST"
    assert doc["target"] == "/v2/items?region=eu&source=gateway"
    assert seen(doc, "host") == ["api.internal"]
    assert seen(doc, "x-internal-debug") == [] and seen(doc, "x-old-name") == []
    assert seen(doc, "x-new-name") == ["v"]
    assert seen(doc, "x-platform") == ["254carbon"]
    assert seen(doc, "x-environment") == ["production"]
    assert seen(doc, "x-region") == ["eu"]
    assert seen(doc, "x-trace") == ["client", "gw"]


def test_templates_cannot_inject_headers_or_break_the_request_line(upstream):
    config = {
        "add": {"headers": ["X-Echo:$(query_params.v)"]},
        "replace": {"uri": "/$(query_params.v)"},
    }
    with ChainProxy(upstream.port, [handler("request-transformer", config)]) as p:
        status, _, doc = http(p.port, "GET", "/x?v=a%0D%0AX-Injected:%201%20HTTP/1.1")
    assert status == 200
    assert seen(doc, "x-injected") == [] and seen(doc, "x-echo") == []
    assert doc["target"].startswith("/a%0D%0AX-Injected:%201%20HTTP/1.1?")


def test_json_body_is_rewritten_in_flight(upstream):
    config = {"remove": {"body": ["password"]}, "add": {"body": ["source:gateway"]}}
    with ChainProxy(upstream.port, [handler("request-transformer", config)]) as p:
        status, _, doc = http(
            p.port,
            "POST",
            "/",
            body=json.dumps({"user": "u", "password": "p"}).encode(),
            headers={"Content-Type": "application/json"},
        )
    assert status == 200
    assert json.loads(doc["body"]) == {"user": "u", "source": "gateway"}
