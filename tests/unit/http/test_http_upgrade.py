"""The HTTP side of a WebSocket handshake: which requests count as one, the Upgrade field kept
through parsing, and a 101 accepted by the response reader only when asked for."""

from __future__ import annotations

import pytest

from carbonplane.errors import HttpError
from carbonplane.http.headparser import RequestHeadParser, ResponseHeadParser
from carbonplane.http.hop import REQUEST_DROP, request_head_bytes
from carbonplane.http.model import NEED_DATA, Limits, ResponseHead
from carbonplane.http.reader import ResponseReader
from carbonplane.proxy.tunnel import is_websocket_handshake

HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, Upgrade\r\n"
    b"Upgrade: WebSocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\nX-Other: 1\r\n\r\n"
)
SWITCHED = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def parse(raw: bytes):
    return RequestHeadParser(Limits()).parse(raw)


def test_a_handshake_keeps_its_upgrade_field_and_is_recognised():
    head = parse(HANDSHAKE)
    assert head.get(b"upgrade") == b"WebSocket"
    assert is_websocket_handshake(head)
    # still never forwarded as is: the head builders drop it as hop-by-hop
    out = request_head_bytes(head, b"/chat", b"up", b"", head.framing, 0, b"", REQUEST_DROP)
    assert b"upgrade:" not in out.lower() and b"connection:" not in out.lower()
    assert b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==" in out


@pytest.mark.parametrize(
    "raw",
    [
        # Upgrade not named by Connection (RFC 9110 §7.8)
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
        # another protocol
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
        # HTTP/1.0 cannot upgrade
        b"GET / HTTP/1.0\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        # a body: not a handshake
        b"POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        b"Content-Length: 2\r\n\r\n",
        # no Upgrade field at all
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ],
)
def test_requests_that_are_no_handshake(raw):
    assert not is_websocket_handshake(parse(raw))


def test_other_nominated_fields_still_go():
    head = parse(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, x-secret\r\n"
        b"Upgrade: websocket\r\nX-Secret: 1\r\n\r\n"
    )
    assert head.get(b"x-secret") is None and head.get(b"upgrade") == b"websocket"


def reader() -> ResponseReader:
    r = ResponseReader(ResponseHeadParser(Limits()))
    r.expect(b"GET")
    return r


def test_a_101_is_refused_unless_asked_for():
    r = reader()
    r.feed(SWITCHED)
    with pytest.raises(HttpError) as refused:
        r.next_event()
    assert refused.value.status == 502
    assert "switched protocols" in refused.value.reason


def test_an_asked_for_101_stops_the_reader_and_leaves_the_tunnel_bytes():
    r = reader()
    r.upgrade = True
    r.feed(SWITCHED + b"\x81\x02hi")
    head = r.next_event()
    assert isinstance(head, ResponseHead) and head.status == 101
    assert r.next_event() is NEED_DATA  # not HTTP any more
    r.feed(b"\x81\x01!")
    assert r.next_event() is NEED_DATA
    assert r.take_buffered() == b"\x81\x02hi\x81\x01!"
    assert r.buffered == 0


def test_expect_forgets_a_previous_upgrade():
    r = reader()
    r.upgrade = True
    r.expect(b"GET")  # the next request on this connection is a plain one
    r.feed(SWITCHED)
    with pytest.raises(HttpError):
        r.next_event()


def test_a_200_answer_to_a_handshake_is_read_as_a_response():
    r = reader()
    r.upgrade = True
    r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    head = r.next_event()
    assert head.status == 200
    assert r.next_event() == b"ok"
