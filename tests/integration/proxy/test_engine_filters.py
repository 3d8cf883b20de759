"""The seam over real sockets: route decisions, filter verdicts and hooks, config swaps."""

from __future__ import annotations

import asyncio
import hashlib
import json

from enginekit import connect, exchange, get, proxy, read_response, read_until_closed, run, stand_in

from carbonplane.proxy import (
    Filter,
    FilterChain,
    FixedTarget,
    LocalResponse,
    ProxyConfig,
    RouteDecision,
    StaticApp,
    Upstream,
)


class OneRoute:
    def __init__(self, port: int, *filters: Filter, host: bytes | None = None) -> None:
        self.upstream = Upstream("svc", FixedTarget("127.0.0.1", port), read_timeout=5)
        self.chain = FilterChain(filters)
        self.host = host

    def route(self, ctx):
        return RouteDecision(
            self.upstream,
            ctx.request.path + ctx.request.query,
            self.host,
            self.chain,
            route="r1",
            prefix=b"/api",
        )


class Recorder(Filter):
    name = "recorder"

    def __init__(self) -> None:
        self.logged = []
        self.two_logged = asyncio.Event()

    def on_response_head(self, ctx):
        ctx.response.headers.append((b"x-seen-status", b"%d" % ctx.response.status))

    def on_log(self, ctx):
        self.logged.append(
            (
                ctx.status,
                ctx.source,
                ctx.request_bytes,
                ctx.response_bytes,
                ctx.tries,
                ctx.decision.route if ctx.decision else None,
                ctx.error,
            )
        )
        if len(self.logged) == 2:
            self.two_logged.set()


class Deny(Filter):
    def on_request(self, ctx):
        if ctx.request.get(b"authorization") is None:
            return LocalResponse.error(401, "Unauthorized", [(b"www-authenticate", b"Bearer")])
        return None


def test_local_verdict_short_circuits_and_later_hooks_still_run():
    async def scenario():
        recorder = Recorder()
        async with stand_in() as up, proxy(app=OneRoute(up.port, Deny(), recorder)) as (_, port):
            denied = await exchange(port, get(b"/echo"))
            allowed = await exchange(port, get(b"/echo", b"Authorization: Bearer t"))
            await recorder.two_logged.wait()  # log hooks run after the response, off the path
            assert denied.status == 401 and denied.json()["message"] == "Unauthorized"
            assert denied.get(b"www-authenticate") == b"Bearer"
            assert denied.get(b"x-seen-status") == b"401"
            assert allowed.status == 200 and allowed.get(b"x-seen-status") == b"200"
            assert len(up.requests) == 1 and up.requests[0].get(b"x-forwarded-prefix") == b"/api"
            assert recorder.logged[0][:2] == (401, "proxy")
            assert recorder.logged[1][:2] == (200, "upstream") and recorder.logged[1][4:6] == (
                1,
                "r1",
            )

    run(scenario())


def test_async_verdict_holds_the_body_until_it_resolves():
    class Slow(Filter):
        def on_request(self, ctx):
            async def check():
                await asyncio.sleep(0.05)
                return (
                    None
                    if ctx.request.get(b"x-ok")
                    else LocalResponse.error(429, "API rate limit exceeded")
                )

            return check()

    async def scenario():
        async with stand_in() as up, proxy(app=OneRoute(up.port, Slow())) as (_, port):
            ok = await exchange(
                port,
                b"POST /echo HTTP/1.1\r\nHost: a\r\nX-Ok: 1\r\n"
                b"Content-Length: 11\r\n\r\nhello world",
            )
            limited = await exchange(port, get(b"/echo"))
            assert ok.status == 200 and ok.json()["size"] == 11
            assert limited.status == 429 and len(up.requests) == 1

    run(scenario())


def test_body_filters_reframe_both_directions():
    class Upper(Filter):
        def on_request_body(self, ctx, data, end):
            return data.upper()

        def on_response_body(self, ctx, data, end):
            if ctx.request.path.startswith(b"/chunks"):
                data = data.replace(b"c", b"d")
            return data + (b"!" if end else b"")

    async def scenario():
        async with stand_in() as up, proxy(app=OneRoute(up.port, Upper())) as (_, port):
            posted = await exchange(
                port, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            )
            assert up.requests[0].get(b"transfer-encoding") == b"chunked"
            assert posted.body.endswith(b"}!") and posted.get(b"content-length") is None
            assert json.loads(posted.body[:-1])["sha256"] == hashlib.sha256(b"HELLO").hexdigest()
            streamed = await exchange(port, get(b"/chunks/2/3"))
            assert streamed.body == b"dddddd!" and streamed.get(b"transfer-encoding") == b"chunked"

    run(scenario())


def test_request_body_verdict_refuses_mid_stream_and_closes():
    class Limit(Filter):
        def on_request_body(self, ctx, data, end):
            seen = ctx.vars.get("seen", 0) + len(data)
            ctx.vars["seen"] = seen
            return LocalResponse.error(413, "Request size limit exceeded") if seen > 10 else data

    async def scenario():
        async with stand_in() as up, proxy(app=OneRoute(up.port, Limit())) as (_, port):
            reader, writer = await connect(port)
            writer.write(
                b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"8\r\n12345678\r\n8\r\n12345678\r\n"
            )
            data = await read_until_closed(reader)
            assert data.startswith(b"HTTP/1.1 413 ") and b"connection: close" in data

    run(scenario())


def test_filter_exception_is_a_500_not_a_dead_connection():
    class Broken(Filter):
        def on_request(self, ctx):
            raise RuntimeError("bug")

    async def scenario():
        async with stand_in() as up, proxy(app=OneRoute(up.port, Broken())) as (_, port):
            reader, writer = await connect(port)
            writer.write(get(b"/echo"))
            assert (await read_response(reader)).status == 500
            writer.write(get(b"/echo"))
            assert (await read_response(reader)).status == 500  # the connection still works
            writer.close()

    run(scenario())


def test_swap_applies_to_the_next_request_on_the_same_connection():
    async def scenario():
        async with stand_in() as a, stand_in() as b:
            async with proxy(app=StaticApp({"/": f"127.0.0.1:{a.port}"})) as (server, port):
                reader, writer = await connect(port)
                writer.write(get(b"/slow/200"))
                await a.wait_requests(1)  # in flight on the old config
                server.swap(ProxyConfig(app=StaticApp({"/": f"127.0.0.1:{b.port}"}), version=2))
                assert (await read_response(reader)).status == 200
                writer.write(get(b"/echo"))
                assert (await read_response(reader)).status == 200
                writer.close()
            assert [r.target for r in a.requests] == [b"/slow/200"]
            assert [r.target for r in b.requests] == [b"/echo"]

    run(scenario())


def test_decision_host_and_preserved_host():
    async def scenario():
        async with stand_in() as up:
            async with proxy(app=OneRoute(up.port, host=b"service.internal")) as (_, port):
                await exchange(port, get(b"/echo"))
            assert up.requests[-1].get(b"host") == b"service.internal"

    run(scenario())


def test_length_keeping_body_observer_leaves_content_length_framing_alone():
    class Count(Filter):
        request_body_keeps_length = True

        def on_request_body(self, ctx, data, end):
            ctx.vars["seen"] = ctx.vars.get("seen", 0) + len(data)
            return data

    async def scenario():
        async with stand_in() as up, proxy(app=OneRoute(up.port, Count())) as (_, port):
            response = await exchange(
                port, b"PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            )
            assert response.json()["size"] == 5
            assert up.requests[0].get(b"content-length") == b"5"
            assert up.requests[0].get(b"transfer-encoding") is None

    run(scenario())
