"""The request-size-limiting plugin over real sockets: a declared Content-Length over the limit
is refused before any body byte is read or the upstream contacted (413; 417 with
Expect: 100-continue, and no 100 Continue is sent), bodies within the limit stream through;
chunked bodies are counted while they stream (the engine's request-body hook)."""

from __future__ import annotations

import http.client as httpclient
import json

import pytest
from gwharness import http
from tests.kits.plugins import handler
from tests.kits.standin import seen

from .proxykit import ChainProxy, raw_exchange


@pytest.fixture
def proxy(upstream):
    chain = [
        handler("request-size-limiting", {"allowed_payload_size": 1, "size_unit": "kilobytes"})
    ]
    with ChainProxy(upstream.port, chain) as p:
        yield p


def test_within_the_limit_reaches_the_upstream(proxy):
    status, _, doc = http(proxy.port, "POST", "/up", body=b"x" * 1024)
    assert status == 200 and len(doc["body"]) == 1024


def test_declared_size_over_the_limit_is_413_without_reading_the_body(proxy, upstream):
    before = len(upstream.requests)
    out = raw_exchange(proxy.port, b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ")
    assert b'"message":"Request size limit exceeded"' in out
    assert len(upstream.requests) == before


def test_expect_continue_gets_417_and_no_continue(proxy, upstream):
    before = len(upstream.requests)
    out = raw_exchange(
        proxy.port,
        b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n",
    )
    assert out.startswith(b"HTTP/1.1 417 ") and b"100 Continue" not in out
    assert len(upstream.requests) == before


def test_require_content_length(upstream):
    chain = [handler("request-size-limiting", {"require_content_length": True})]
    with ChainProxy(upstream.port, chain) as p:
        status, _, body = http(p.port, "GET", "/")
        assert (status, body["message"]) == (411, "A valid Content-Length header is required")
        assert http(p.port, "POST", "/", body=b"abc")[0] == 200


def post_chunked(port: int, pieces: list[bytes]) -> tuple[int, bytes]:
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/up", body=iter(pieces), encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_chunked_body_over_the_limit_is_cut_while_streaming(proxy):
    status, body = post_chunked(proxy.port, [b"a" * 600, b"b" * 600])
    assert status == 413 and b"Request size limit exceeded" in body
    status, body = post_chunked(proxy.port, [b"a" * 500, b"b" * 524])
    assert status == 200 and len(json.loads(body)["body"]) == 1024


def test_a_content_length_body_keeps_its_framing_upstream(proxy):
    status, _, doc = http(proxy.port, "POST", "/up", body=b"x" * 100)
    assert status == 200
    assert seen(doc, "content-length") == ["100"]
    assert seen(doc, "transfer-encoding") == []
