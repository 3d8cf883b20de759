"""Requests and responses relayed over real sockets: keep-alive, pooling, framing, headers."""

from __future__ import annotations

import asyncio
import hashlib

from enginekit import connect, exchange, get, proxy, read_response, run, stand_in

from carbonplane import __version__


def test_client_keep_alive_and_upstream_pool_reuse_one_connection_each():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (server, port):
            reader, writer = await connect(port)
            for i in range(20):
                writer.write(get(b"/echo?i=%d" % i))
                response = await read_response(reader)
                assert response.status == 200 and response.json()["target"] == f"/echo?i={i}"
            writer.close()
            assert up.connections == 1  # all 20 requests went over one pooled connection
            assert len(server.connections) == 1  # and arrived on one client connection

    run(scenario())


def test_pool_serves_concurrent_clients_and_reuses_idle_connections():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):

            async def client(n):
                reader, writer = await connect(port)
                for i in range(10):
                    writer.write(get(b"/slow/5?c=%d" % n))
                    assert (await read_response(reader)).status == 200
                writer.close()

            await asyncio.gather(*(client(n) for n in range(8)))
            assert len(up.requests) == 80
            assert up.connections <= 8  # at most one upstream connection per concurrent request

    run(scenario())


def test_pipelined_requests_are_answered_in_order():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"".join(get(b"/slow/%d?n=%d" % (30 - 10 * i, i)) for i in range(3)))
            targets = [(await read_response(reader)).json()["target"] for _ in range(3)]
            assert targets == ["/slow/30?n=0", "/slow/20?n=1", "/slow/10?n=2"]
            writer.close()

    run(scenario())


def test_hop_by_hop_headers_are_stripped_both_ways_and_forwarded_headers_set():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            response = await exchange(
                port,
                get(
                    b"/echo",
                    b"Connection: keep-alive, X-Private",
                    b"X-Private: p",
                    b"Keep-Alive: 5",
                    b"TE: trailers",
                    b"Upgrade: h2c",
                    b"Proxy-Authorization: Basic eA==",
                    b"Proxy: http://evil",
                    b"X-Forwarded-For: 6.6.6.6",
                    b"X-Real-IP: 6.6.6.6",
                    b"X-Kept: yes",
                    host=b"api.example:8000",
                ),
            )
            seen = up.requests[-1]
            assert seen.names().isdisjoint(
                {
                    b"connection",
                    b"x-private",
                    b"keep-alive",
                    b"te",
                    b"upgrade",
                    b"proxy-authorization",
                    b"proxy",
                }
            )
            assert seen.get(b"x-kept") == b"yes"
            assert seen.get(b"x-forwarded-for") == b"127.0.0.1"
            assert seen.get(b"x-real-ip") == b"127.0.0.1"
            assert seen.get(b"x-forwarded-host") == b"api.example"
            assert seen.get(b"x-forwarded-proto") == b"http"
            assert seen.get(b"host") == b"127.0.0.1:%d" % up.port
            assert seen.get(b"via") == b"1.1 carbonplane/%s" % __version__.encode()
            # the upstream's own hop-by-hop fields never reach the client
            assert response.get(b"x-hop") is None and response.get(b"keep-alive") is None
            assert response.get(b"via") == b"1.1 carbonplane/%s" % __version__.encode()
            rid = response.get(b"x-carbonplane-request-id")
            assert rid == seen.get(b"x-carbonplane-request-id") and len(rid) == 32
            assert int(response.get(b"x-carbonplane-upstream-latency")) >= 0
            assert int(response.get(b"x-carbonplane-proxy-latency")) >= 0

    run(scenario())


def test_path_is_normalised_before_routing_and_sent_upstream_normalised():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            response = await exchange(port, get(b"/a/b/../%7euser//./echo/?q=%2F.."))
            assert response.status == 200
            assert up.requests[-1].target == b"/a/~user/echo/?q=%2F.."
            refused = await exchange(port, get(b"/public/..%2Fadmin"))
            assert refused.status == 400 and len(up.requests) == 1

    run(scenario())


def test_chunked_response_is_rechunked_and_trailers_dropped():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            response = await exchange(port, get(b"/chunks/5/1000"))
            assert response.get(b"transfer-encoding") == b"chunked"
            assert response.body == b"c" * 5000 and response.get(b"x-up") == b"1"
            assert b"x-trailer" not in response.raw_head.lower()

    run(scenario())


def test_http10_client_gets_a_close_delimited_body_for_a_chunked_upstream_response():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"GET /chunks/3/10 HTTP/1.0\r\n\r\n")
            raw = await asyncio.wait_for(reader.read(), 10)
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding" not in head.lower()
            assert b"connection: close" in head.lower() and body == b"c" * 30

    run(scenario())


def test_http10_upstream_body_until_close_is_relayed_chunked():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(get(b"/http10"))
            response = await read_response(reader)
            assert (
                response.body == b"until-close" and response.get(b"transfer-encoding") == b"chunked"
            )
            writer.write(get(b"/echo"))  # the client connection stays usable
            assert (await read_response(reader)).status == 200
            writer.close()

    run(scenario())


def test_head_204_304_have_no_body_and_connection_stays_usable():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"HEAD /bytes/1000 HTTP/1.1\r\nHost: a\r\n\r\n")
            head = await read_response(reader, b"HEAD")
            assert head.status == 200 and head.get(b"content-length") == b"1000"
            for code in (204, 304):
                writer.write(get(b"/status/%d" % code))
                assert (await read_response(reader)).status == code
            writer.write(get(b"/echo"))
            assert (await read_response(reader)).status == 200
            writer.close()
            assert up.connections == 1

    run(scenario())


def test_expect_100_continue_is_answered_by_the_proxy():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(
                b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            interim = await reader.readuntil(b"\r\n\r\n")
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"hello")
            response = await read_response(reader)
            assert response.json()["size"] == 5
            assert up.requests[-1].get(b"expect") is None
            writer.close()

    run(scenario())


def test_request_bodies_both_framings_arrive_intact():
    async def scenario():
        body = bytes(range(256)) * 1000
        async with stand_in() as up, proxy(up.port) as (_, port):
            cl = await exchange(
                port,
                b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body),
            )
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(body[i : i + 7000]), body[i : i + 7000])
                for i in range(0, len(body), 7000)
            )
            te = await exchange(
                port,
                b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                b"\r\n\r\n%s0\r\n\r\n" % chunks,
            )
            digest = hashlib.sha256(body).hexdigest()
            assert cl.json()["sha256"] == te.json()["sha256"] == digest
            assert up.requests[0].get(b"content-length") == b"%d" % len(body)
            assert up.requests[1].get(b"transfer-encoding") == b"chunked"

    run(scenario())


def test_no_route_is_kong_404():
    async def scenario():
        from carbonplane.proxy import StaticApp, Upstream
        from carbonplane.proxy.app import FixedTarget

        async with stand_in() as up:
            app = StaticApp({"/api": Upstream("a", FixedTarget("127.0.0.1", up.port))})
            async with proxy(app=app) as (_, port):
                response = await exchange(port, get(b"/other"))
                assert response.status == 404
                assert response.json()["message"] == "no Route matched with those values"
                rid = response.get(b"x-carbonplane-request-id").decode()
                assert response.json()["request_id"] == rid

    run(scenario())


def test_a_client_that_closes_does_not_disturb_the_next_client():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            for first in (get(b"/echo", b"Connection: close"), b"GET /echo HTTP/1.0\r\n\r\n"):
                assert (await exchange(port, first)).status == 200
                assert (await exchange(port, get(b"/echo?next"))).status == 200

    run(scenario())


def test_request_id_is_the_proxys_unless_a_trusted_peer_sent_one():
    name = b"x-carbonplane-request-id"

    async def scenario():
        async with stand_in() as up:
            async with proxy(up.port) as (_, port):
                response = await exchange(port, get(b"/echo", b"X-Carbonplane-Request-Id: forged"))
                seen = up.requests[-1]
                assert [v for n, v in seen.headers if n == name] == [response.get(name)]
                assert b"forged" not in response.raw_head
            async with proxy(up.port, trusted_ips=("127.0.0.1",)) as (_, port):
                response = await exchange(port, get(b"/echo", b"X-Carbonplane-Request-Id: lb-1"))
                assert up.requests[-1].get(name) == b"lb-1"
                assert response.get(name) == b"lb-1"
                assert response.raw_head.lower().count(name) == 1

    run(scenario())
