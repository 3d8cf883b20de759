"""Smuggling forms and header tricks over a real socket: each is refused before the upstream.

Also the edge an attacker probes with well-formed requests: a Connection header naming the
fields a plugin sets, trickled uploads (request buffering, the minimum body rate) and bodies
sent as many tiny chunks - each against an upstream that records what it receives.
"""

from __future__ import annotations

import asyncio

import pytest
from enginekit import connect, exchange, get, proxy, read_response, read_until_closed, run, stand_in

from carbonplane.proxy import StaticApp, Upstream
from carbonplane.proxy.app import Filter, FilterChain, FixedTarget

H = b"POST /echo HTTP/1.1\r\nHost: a\r\n"
SMUGGLING = {
    "cl_te": H
    + (
        b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET "
        b"/admin HTTP/1.1\r\n\r\n"
    ),
    "te_cl": H
    + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    "dup_cl": H
    + b"Content-Length: 0\r\nContent-Length: 44\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
    "cl_list": H + b"Content-Length: 5, 5\r\n\r\nhello",
    "cl_plus": H + b"Content-Length: +5\r\n\r\nhello",
    "te_not_last": H + b"Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te_obs_fold": H + b"Transfer-Encoding: x\r\n chunked\r\n\r\n0\r\n\r\n",
    "te_space_colon": H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te_underscore": H + b"Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
    "te_http10": b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bare_lf": b"POST /echo HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello",
    "bare_cr_value": H + b"X-A: 1\rContent-Length: 5\r\n\r\nhello",
    "nul_value": H + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "chunk_size_0x": H + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk_ext_lf": H + b"Transfer-Encoding: chunked\r\n\r\n5;x\nGET /admin\r\nhello\r\n0\r\n\r\n",
    "chunk_no_crlf": H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhelloGET /admin HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "no_host": b"GET /echo HTTP/1.1\r\n\r\n",
    "encoded_slash": b"GET /public/..%2fadmin HTTP/1.1\r\nHost: a\r\n\r\n",
    "dot_params": b"GET /public/..;/admin HTTP/1.1\r\nHost: a\r\n\r\n",
}


@pytest.mark.parametrize("raw", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_form_gets_400_and_close_and_reaches_nothing(raw):
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(raw)
            data = await read_until_closed(reader)  # the proxy closes the connection
            assert data.startswith(b"HTTP/1.1 400 ") and b"connection: close" in data.lower()
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            assert len(body) == length  # nothing after the error: no second response
            assert up.requests == [] and up.connections == 0

    run(scenario())


def test_connection_nominating_framing_headers_cannot_unframe_a_body():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(
                H + b"Content-Length: 45\r\nConnection: Content-Length, Host\r\n\r\n"
                b"GET /admin HTTP/1.1\r\nHost: a\r\nX-A: 123456\r\n\r\n"
            )
            response = await read_response(reader)
            assert response.json()["size"] == 45  # the body stayed a body
            seen = up.requests[0]
            assert seen.get(b"content-length") == b"45" and seen.get(b"host") is not None
            assert [r.target for r in up.requests] == [b"/echo"]
            writer.close()

    run(scenario())


def test_forged_forwarding_headers_from_untrusted_clients_are_overwritten():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(
                get(
                    b"/echo",
                    b"X-Forwarded-For: 10.0.0.1",
                    b"X-Real-IP: 10.0.0.1",
                    b"X-Forwarded-Proto: https",
                    b"X-Forwarded-Host: admin.internal",
                )
            )
            await read_response(reader)
            seen = up.requests[0]
            assert seen.get(b"x-forwarded-for") == b"127.0.0.1"
            assert seen.get(b"x-real-ip") == b"127.0.0.1"
            assert seen.get(b"x-forwarded-proto") == b"http"
            assert seen.get(b"x-forwarded-host") == b"proxy.test"
            writer.close()

    run(scenario())


def test_trusted_peer_forwarding_headers_are_kept():
    async def scenario():
        async with stand_in() as up, proxy(up.port, trusted_ips=("127.0.0.0/8",)) as (server, port):
            reader, writer = await connect(port)
            writer.write(
                get(
                    b"/echo",
                    b"X-Forwarded-For: 203.0.113.9",
                    b"X-Real-IP: 203.0.113.9",
                    b"X-Forwarded-Proto: https",
                )
            )
            await read_response(reader)
            seen = up.requests[0]
            assert seen.get(b"x-forwarded-for") == b"203.0.113.9, 127.0.0.1"
            assert seen.get(b"x-real-ip") == b"203.0.113.9"
            assert seen.get(b"x-forwarded-proto") == b"https"
            writer.close()

    run(scenario())


def test_response_header_injection_from_upstream_is_502():
    async def scenario():
        import asyncio

        async def evil(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: session=evil\r\nContent-Length: 0\r\n\r\n"
            )
            await writer.drain()

        server = await asyncio.start_server(evil, "127.0.0.1", 0)
        async with proxy(server.sockets[0].getsockname()[1]) as (_, port):
            reader, writer = await connect(port)
            writer.write(get(b"/x"))
            response = await read_response(reader)
            assert response.status == 502 and b"evil" not in response.raw_head
            writer.close()
        server.close()

    run(scenario())


# -- a peer's Connection header removes only that peer's fields ------------------------------


class _AddsIdentity(Filter):
    """What an auth plugin and a response plugin do: set fields of the gateway's own."""

    def on_request(self, ctx):
        ctx.request.headers += [(b"x-anonymous-consumer", b"true"), (b"x-consumer-id", b"guest")]

    def on_response_head(self, ctx):
        ctx.response.headers.append((b"x-hop", b"set-by-a-plugin"))
        ctx.response.headers.append((b"x-ratelimit-remaining", b"9"))


def _app(port: int, *filters: Filter, buffer_request: bool = False, **upstream) -> StaticApp:
    options = {
        "connect_timeout": 5,
        "read_timeout": 10,
        "write_timeout": 10,
        "retries": 0,
        **upstream,
    }
    return StaticApp(
        {"/": Upstream("up", FixedTarget("127.0.0.1", port), **options)},
        filters=FilterChain(filters),
        buffer_request=buffer_request,
    )


def test_a_clients_connection_header_cannot_remove_fields_the_gateway_sets():
    async def scenario():
        async with stand_in() as up, proxy(app=_app(up.port, _AddsIdentity())) as (_, port):
            reader, writer = await connect(port)
            # the stand-in answers "Connection: keep-alive, X-Hop" with its own "X-Hop: secret"
            writer.write(
                get(
                    b"/echo",
                    b"Connection: X-Anonymous-Consumer, x-consumer-id, X-Mine",
                    b"X-Mine: dropped",
                    b"X-Anonymous-Consumer: false",
                )
            )
            response = await read_response(reader)
            seen = up.requests[0]
            assert seen.get(b"x-anonymous-consumer") == b"true"  # the plugin's, not removed
            assert [v for n, v in seen.headers if n == b"x-anonymous-consumer"] == [b"true"]
            assert seen.get(b"x-consumer-id") == b"guest"
            assert seen.get(b"x-mine") is None  # the client's own nominated field: removed
            # the upstream's Connection removed its own X-Hop, not the one a plugin set
            assert [v for n, v in response.headers if n == b"x-hop"] == [b"set-by-a-plugin"]
            assert response.get(b"x-ratelimit-remaining") == b"9"
            writer.close()

    run(scenario())


# -- slow uploads: request buffering and the minimum body rate -------------------------------


async def _trickle(writer, data: bytes, pause: float) -> None:
    for i in range(len(data)):
        if writer.is_closing():
            return
        writer.write(data[i : i + 1])
        await asyncio.sleep(pause)


def test_trickled_uploads_hold_no_upstream_connection_on_a_buffered_route():
    async def scenario():
        async with stand_in() as up:
            app = _app(up.port, buffer_request=True)
            async with proxy(app=app, client_body_min_rate=0) as (_, port):
                body = b"0123456789" * 3
                clients = [await connect(port) for _ in range(20)]
                for _, writer in clients:
                    writer.write(
                        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
                        + body[:10]
                    )
                trickles = [asyncio.ensure_future(_trickle(w, body[10:], 0.01)) for _, w in clients]
                await asyncio.sleep(0.1)
                assert up.connections == 0  # 20 uploads under way, not one upstream connection
                await asyncio.gather(*trickles)
                for reader, writer in clients:
                    response = await read_response(reader)
                    assert response.status == 200 and response.json()["size"] == len(body)
                    writer.close()
                assert len(up.requests) == 20 and up.connections <= 20

    run(scenario())


def test_a_streamed_route_connects_at_once_and_a_buffered_one_bounds_its_buffer():
    async def scenario():
        async with stand_in() as up:
            async with proxy(app=_app(up.port)) as (_, port):  # request_buffering off: streams
                reader, writer = await connect(port)
                writer.write(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
                for _ in range(100):
                    if up.connections:
                        break
                    await asyncio.sleep(0.02)
                assert up.connections == 1
                writer.write(b"67890")
                assert (await read_response(reader)).json()["size"] == 10
                writer.close()
            app = _app(up.port, buffer_request=True)
            async with proxy(app=app, request_buffer_bytes=1000) as (_, port):
                declared = await exchange(
                    port, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n"
                )
                assert declared.status == 413 and b"request_buffering" in declared.body
                reader, writer = await connect(port)
                writer.write(
                    b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + (b"200\r\n" + b"x" * 512 + b"\r\n") * 3
                )
                data = await read_until_closed(reader)
                assert data.startswith(b"HTTP/1.1 413 ") and b"connection: close" in data
                reader, writer = await connect(port)  # 100-continue still works when buffering
                writer.write(
                    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                    b"Expect: 100-continue\r\n\r\n"
                )
                assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
                writer.write(b"body")
                assert (await read_response(reader)).json()["size"] == 4
                writer.close()
                assert len(up.requests) == 2

    run(scenario())


def test_a_body_below_the_minimum_rate_is_408_although_each_gap_is_short():
    async def scenario():
        async with stand_in() as up:
            settings = {"client_body_timeout": 0.5, "client_body_min_rate": 200}
            async with proxy(app=_app(up.port), **settings) as (_, port):
                reader, writer = await connect(port)
                loop = asyncio.get_running_loop()
                started = loop.time()
                writer.write(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
                trickle = asyncio.ensure_future(_trickle(writer, b"x" * 100, 0.1))  # 10 B/s
                data = await read_until_closed(reader)
                elapsed = loop.time() - started
                trickle.cancel()
                # every gap (0.1 s) is well within client_body_timeout; the rate is not
                assert data.startswith(b"HTTP/1.1 408 ") and elapsed < 3.0, (data, elapsed)
                assert up.requests == []  # the upstream never saw a whole request
                # a client at a normal pace is unaffected
                ok = await exchange(
                    port, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                )
                assert ok.status == 200 and ok.json()["size"] == 5

    run(scenario())


# -- many tiny chunks in one read are one upstream write --------------------------------------


def test_one_byte_chunks_of_one_read_go_upstream_as_one_chunk():
    async def scenario():
        received: list[bytes] = []

        async def recorder(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            received.append(await reader.readuntil(b"\r\n0\r\n\r\n"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(recorder, "127.0.0.1", 0)
        async with proxy(app=_app(server.sockets[0].getsockname()[1])) as (_, port):
            reader, writer = await connect(port)
            body = bytes(range(65, 91)) * 20  # 520 bytes as 520 one-byte chunks, one write
            writer.write(
                b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"".join(b"1\r\n%c\r\n" % c for c in body)
                + b"0\r\n\r\n"
            )
            assert (await read_response(reader)).status == 200
            writer.close()
        server.close()
        relayed, chunks, pos = received[0], [], 0
        while True:  # the chunks as the upstream received them
            end = relayed.index(b"\r\n", pos)
            size = int(relayed[pos:end], 16)
            if size == 0:
                break
            chunks.append(relayed[end + 2 : end + 2 + size])
            pos = end + 2 + size + 2
        assert b"".join(chunks) == body
        assert len(chunks) <= 3, f"{len(chunks)} chunks upstream for one client write"

    run(scenario())
