"""The ``ReadBody`` verdict over real sockets: a filter answers from the whole request body
(chunked or sized, with or without Expect: 100-continue), no upstream is contacted, later
filters do not run, keep-alive holds, and oversized bodies get 413 and a closed connection."""

from __future__ import annotations

import asyncio

from enginekit import connect, exchange, proxy, read_response, read_until_closed, run, stand_in

from carbonplane.proxy import (
    Filter,
    FilterChain,
    FixedTarget,
    LocalResponse,
    RouteDecision,
    Upstream,
)
from carbonplane.proxy.bodyread import ReadBody


class Echoes(Filter):
    """Answers ``/local`` itself with the body's length and reversed bytes."""

    def on_request(self, ctx):
        if ctx.request.path == b"/local":
            return ReadBody(self.answer, limit=64)
        return None

    @staticmethod
    def answer(ctx, body):
        if body == b"boom":
            raise RuntimeError("the answer failed")
        return LocalResponse(200, b"%d:%s" % (len(body), body[::-1]))


class Later(Filter):
    def __init__(self) -> None:
        self.seen = []

    def on_request(self, ctx):
        self.seen.append(ctx.request.path)
        return None


class App:
    def __init__(self, port: int, later: Later) -> None:
        self.upstream = Upstream("svc", FixedTarget("127.0.0.1", port), read_timeout=5)
        self.chain = FilterChain([Echoes(), later])

    def route(self, ctx):
        return RouteDecision(self.upstream, ctx.request.path, None, self.chain)


def test_filter_answers_from_the_whole_body_on_a_kept_alive_connection():
    async def scenario():
        later = Later()
        async with stand_in() as up, proxy(app=App(up.port, later)) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"POST /local HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel")
            await asyncio.sleep(0.05)  # the body arrives in two pieces
            writer.write(b"lo")
            first = await read_response(reader)
            writer.write(
                b"POST /local HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            second = await read_response(reader)
            writer.write(b"GET /local HTTP/1.1\r\nHost: a\r\n\r\n")
            third = await read_response(reader)
            writer.close()
            assert (first.status, first.body) == (200, b"5:olleh")
            assert (second.status, second.body) == (200, b"5:edcba")
            assert (third.status, third.body) == (200, b"0:")
            assert up.requests == [] and later.seen == []
            proxied = await exchange(port, b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n")
            assert proxied.status == 200 and later.seen == [b"/other"]

    run(scenario())


def test_oversized_and_failing_answers():
    async def scenario():
        async with stand_in() as up, proxy(app=App(up.port, Later())) as (_, port):
            declared = await exchange(
                port, b"POST /local HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n"
            )
            assert declared.status == 413
            reader, writer = await connect(port)
            writer.write(
                b"POST /local HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"41\r\n" + b"x" * 65 + b"\r\n"
            )
            streamed = await read_response(reader)
            assert streamed.status == 413 and await read_until_closed(reader) == b""
            writer.close()
            failed = await exchange(
                port, b"POST /local HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nboom"
            )
            assert failed.status == 500 and up.requests == []

    run(scenario())
