"""Framing of relayed responses when a response-body filter runs, over real sockets.

A response-body filter makes the engine re-frame the response (the upstream's Content-Length is
dropped: the filter may change the length). Every response that can carry a body must then still
say where it ends (chunked, or a closing connection), empty ones included - an upstream's
``Content-Length: 0`` too - and responses that never carry one (HEAD, 204, 304) must get no body
bytes at all, whatever the filter returns, or the next response on the connection is garbled.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from enginekit import connect, proxy, read_response, read_until_closed, run, stand_in

from carbonplane.proxy import Filter, FilterChain, FixedTarget, RouteDecision, Upstream

ANSWER_WITHIN = 5.0  # seconds: an unframed body would only end when the connection closes


class OneRoute:
    def __init__(self, port: int, *filters: Filter) -> None:
        self.upstream = Upstream("svc", FixedTarget("127.0.0.1", port), read_timeout=5)
        self.chain = FilterChain(filters)

    def route(self, ctx):
        return RouteDecision(self.upstream, ctx.request.path + ctx.request.query, None, self.chain)


class PassThrough(Filter):
    def on_response_body(self, ctx, data, end):
        return data


class Tail(Filter):
    """Adds a byte at the end of every body: must appear on bodies, never after HEAD/204/304."""

    def on_response_body(self, ctx, data, end):
        return data + b"!" if end else data


# (method, path, status, body the client gets without / with the Tail filter); one connection
SEQUENCE = [
    (b"GET", b"/bytes/0", 200, b""),  # the upstream says Content-Length: 0
    (b"GET", b"/bytes/0", 200, b""),  # ... and the same connection still answers
    (b"GET", b"/chunks/0/1", 200, b""),  # chunked, no chunk before the last one
    (b"GET", b"/status/204", 204, None),
    (b"GET", b"/status/304", 304, None),  # the upstream sends Content-Length: 11, no body
    (b"HEAD", b"/bytes/5", 200, None),
    (b"GET", b"/bytes/3", 200, b"yyy"),
    (b"GET", b"/bytes/0", 200, b""),
]


@pytest.mark.parametrize("body_filter", [PassThrough, Tail])
def test_keep_alive_client_gets_every_answer_when_a_body_filter_runs(body_filter):
    tail = b"!" if body_filter is Tail else b""

    async def scenario():
        async with stand_in() as up, proxy(app=OneRoute(up.port, body_filter())) as (server, port):
            reader, writer = await connect(port)
            try:
                for method, path, status, body in SEQUENCE:
                    writer.write(b"%s %s HTTP/1.1\r\nHost: a\r\n\r\n" % (method, path))
                    response = await asyncio.wait_for(read_response(reader, method), ANSWER_WITHIN)
                    where = f"{method.decode()} {path.decode()}"
                    assert response.status == status, where
                    assert response.get(b"connection") != b"close", where
                    if body is None:  # no body: no framing header, no stray body bytes
                        assert response.get(b"transfer-encoding") is None, where
                    else:
                        assert response.get(b"transfer-encoding") == b"chunked", where
                        assert response.body == body + tail, where
                # nothing was left over on the stream: one more request parses cleanly
                writer.write(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
                last = await asyncio.wait_for(read_response(reader), ANSWER_WITHIN)
                assert last.status == 200
                assert json.loads(last.body[: len(last.body) - len(tail)])["target"] == "/echo"
                assert server.accepted == 1  # every answer came on the one client connection
            finally:
                writer.close()

    run(scenario())


def test_http10_client_gets_an_empty_body_ended_by_close():
    async def scenario():
        async with stand_in() as up, proxy(app=OneRoute(up.port, Tail())) as (_, port):
            reader, writer = await connect(port)
            try:
                writer.write(b"GET /bytes/0 HTTP/1.0\r\nHost: a\r\n\r\n")
                raw = await read_until_closed(reader, ANSWER_WITHIN)
            finally:
                writer.close()
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
            assert b"transfer-encoding" not in head.lower()
            assert body == b"!"

    run(scenario())
