"""Hop-by-hop stripping and the heads the proxy writes on each side (RFC 9110 §7.6.1)."""

from __future__ import annotations

from rawhttp import read_requests

from carbonplane.http import FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_NONE, ResponseHeadParser
from carbonplane.http.hop import (
    HOP_BY_HOP,
    RESPONSE_DROP,
    request_head_bytes,
    response_head_bytes,
    status_line,
)
from carbonplane.http.model import Limits


def forward(raw: bytes, **overrides) -> bytes:
    return forward_head(read_requests(raw)[0], **overrides)


def forward_head(head, **overrides) -> bytes:
    args = dict(
        target=head.path + head.query,
        host=b"upstream.internal",
        forwarded=b"xf: 1\r\n",
        framing=head.framing,
        content_length=head.content_length,
        extra=b"via: 1.1 cp\r\n",
    )
    args.update(overrides)
    return request_head_bytes(head, **args)


def lines(head_bytes: bytes) -> list[bytes]:
    return head_bytes.split(b"\r\n")


def test_hop_by_hop_and_nominated_fields_are_removed():
    raw = (
        b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, Upgrade\r\n"
        b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"
        b"Trailer: X-Sum\r\nUpgrade: websocket\r\nProxy-Authorization: Basic x\r\n"
        b"Proxy: http://evil\r\nX-Secret: s\r\nX-Kept: k\r\n\r\n"
    )
    out = lines(forward(raw))
    assert out[0] == b"GET /a HTTP/1.1"
    names = {line.split(b":")[0] for line in out[1:] if line}
    assert names == {b"host", b"x-kept", b"xf", b"via"}


def test_connection_cannot_remove_framing_or_host():
    raw = (
        b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
        b"Connection: Content-Length, Transfer-Encoding, Host\r\n\r\nabc"
    )
    out = forward(raw)
    assert b"content-length: 3\r\n" in out and b"host: upstream.internal\r\n" in out
    assert out.endswith(b"\r\n\r\n")


def test_client_framing_and_forwarded_fields_are_never_copied():
    raw = (
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 6.6.6.6\r\n"
        b"X-Real-IP: 6.6.6.6\r\nExpect: 100-continue\r\n\r\n0\r\n\r\n"
    )
    out = forward(raw)
    assert b"6.6.6.6" not in out and b"expect" not in out
    assert out.count(b"transfer-encoding: chunked\r\n") == 1


def test_framing_written_by_proxy():
    raw = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
    assert b"content-length" not in forward(raw, framing=FRAMING_NONE)
    assert b"content-length: 7\r\n\r\n" in forward(raw, framing=FRAMING_LENGTH, content_length=7)
    assert forward(raw, framing=FRAMING_CHUNKED).endswith(b"transfer-encoding: chunked\r\n\r\n")


def test_response_head_strips_hop_by_hop_and_keeps_length_unless_reframed():
    headers = [
        (b"server", b"up"),
        (b"connection", b"close, x-internal"),
        (b"x-internal", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"content-length", b"2"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
    kept = response_head_bytes(200, b"OK", headers, b"via: 1.1 cp\r\n", HOP_BY_HOP)
    assert kept == (
        b"HTTP/1.1 200 OK\r\nserver: up\r\nx-internal: 1\r\ncontent-length: 2\r\n"
        b"set-cookie: a=1\r\nset-cookie: b=2\r\nvia: 1.1 cp\r\n"
    )
    reframed = response_head_bytes(200, b"OK", headers, b"", RESPONSE_DROP)
    assert b"content-length" not in reframed


def test_the_parsers_remove_what_a_peers_connection_names_and_nothing_added_later():
    parsed = ResponseHeadParser(Limits()).parse(
        b"HTTP/1.1 200 OK\r\nServer: up\r\nConnection: close, X-Internal\r\nX-Internal: 1\r\n"
        b"Content-Length: 2\r\n\r\n",
        b"GET",
    )
    assert [n for n, _ in parsed.headers] == [b"server", b"connection", b"content-length"]
    parsed.headers.append((b"x-internal", b"added by a response filter"))
    out = response_head_bytes(200, b"OK", parsed.headers, b"\r\n", HOP_BY_HOP)
    assert b"x-internal: added by a response filter\r\n" in out
    head = read_requests(
        b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: X-Anonymous-Consumer, "
        b"Content-Length\r\nX-Anonymous-Consumer: true\r\n\r\n"
    )[0]
    assert head.get(b"x-anonymous-consumer") is None  # the client's own field is gone
    head.headers.append((b"x-anonymous-consumer", b"false"))  # what an auth plugin sets
    assert b"x-anonymous-consumer: false\r\n" in forward_head(head)


def test_status_lines():
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert status_line(599, b"Custom") == b"HTTP/1.1 599 Custom\r\n"


def test_empty_bodies_of_body_methods_are_sent_with_content_length_zero():
    for method in (b"POST", b"PUT", b"PATCH"):
        raw = b"%s /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n" % method
        assert forward(raw).endswith(b"content-length: 0\r\n\r\n")
    assert b"content-length" not in forward(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
