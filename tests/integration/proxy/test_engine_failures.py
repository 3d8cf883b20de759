"""Upstream failures over real sockets: Kong's 502/503/504 bodies, retries, timeouts, aborts."""

from __future__ import annotations

import asyncio
import socket

import pytest
from enginekit import connect, exchange, get, proxy, read_response, run, stand_in
from tests.kits.net import free_port

from carbonplane.proxy import FixedTarget, StaticApp, Upstream


class CountingPicker:
    """Targets in turn from ``ports`` (the last one repeats); records every pick and release."""

    def __init__(self, *ports: int) -> None:
        self.targets = [FixedTarget("127.0.0.1", p) for p in ports]
        self.picks: list[int] = []
        self.released: list[tuple[int, int, str | None]] = []

    def pick(self, ctx):
        target = self.targets[min(len(self.picks), len(self.targets) - 1)]
        self.picks.append(target.port)
        return target

    def release(self, ctx, target, status, failure):
        self.released.append((target.port, status, failure))


def app_for(picker, **options) -> StaticApp:
    options.setdefault("connect_timeout", 2)
    options.setdefault("read_timeout", 5)
    return StaticApp({"/": Upstream("svc", picker, **options)})


def test_connection_refused_is_502_after_every_retry():
    async def scenario():
        dead = free_port()  # nothing listens there: connecting is refused
        picker = CountingPicker(dead)
        async with proxy(app=app_for(picker, retries=3)) as (_, port):
            response = await exchange(port, get(b"/x", b"Accept: application/json"))
        assert response.status == 502
        assert (
            response.json()["message"]
            == "An invalid response was received from the upstream server"
        )
        assert picker.picks == [dead] * 4  # the first try and 3 retries
        assert picker.released == [(dead, 0, "connect")] * 4

    run(scenario())


def test_retry_moves_on_to_a_live_target():
    async def scenario():
        async with stand_in() as up:
            picker = CountingPicker(free_port(), up.port)
            async with proxy(app=app_for(picker, retries=2)) as (_, port):
                response = await exchange(port, get(b"/echo"))
            assert response.status == 200 and picker.picks[1:] == [up.port]
            assert picker.released[-1] == (up.port, 200, None)

    run(scenario())


def test_read_timeout_is_504():
    async def scenario():
        async with stand_in() as up:
            picker = CountingPicker(up.port)
            async with proxy(app=app_for(picker, read_timeout=0.3, retries=3)) as (_, port):
                started = asyncio.get_running_loop().time()
                response = await exchange(port, get(b"/hang", b"Accept: application/json"))
                elapsed = asyncio.get_running_loop().time() - started
            assert response.status == 504
            assert response.json()["message"] == "The upstream server is timing out"
            assert 0.25 < elapsed < 3 and picker.picks == [up.port]  # a read timeout is not retried
            assert picker.released == [(up.port, 0, "timeout")]

    run(scenario())


def test_connect_timeout_is_504():
    async def scenario():
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []
        for _ in range(4):  # fill the accept queue: further SYNs are dropped, connects hang
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(listener.getsockname())
            except BlockingIOError:
                pass
            fillers.append(filler)
        picker = CountingPicker(listener.getsockname()[1])
        try:
            async with proxy(app=app_for(picker, connect_timeout=0.3, retries=1)) as (_, port):
                response = await exchange(port, get(b"/x", b"Accept: application/json"))
        finally:
            for s in [listener, *fillers]:
                s.close()
        assert response.status == 504 and len(picker.picks) == 2
        assert [r[2] for r in picker.released] == ["timeout", "timeout"]

    run(scenario())


def test_no_target_is_503():
    class Nobody:
        def pick(self, ctx):
            return None

        def release(self, *args):
            raise AssertionError("nothing was picked")

    async def scenario():
        async with proxy(app=app_for(Nobody())) as (_, port):
            response = await exchange(port, get(b"/x"))  # JSON without Accept, as Kong's
        assert response.status == 503
        assert response.json()["message"] == "failure to get a peer from the ring-balancer"
        assert response.get(b"content-type") == b"application/json; charset=utf-8"

    run(scenario())


def test_stale_pooled_connection_is_resent_once_for_idempotent_requests_only():
    async def scenario():
        async with stand_in() as up:
            async with proxy(up.port) as (_, port):
                reader, writer = await connect(port)
                writer.write(get(b"/echo"))
                assert (await read_response(reader)).status == 200
                writer.write(get(b"/drop"))  # dies on the pooled connection, then on a fresh one
                assert (await read_response(reader)).status == 502
                writer.close()
            drops = [r for r in up.requests if r.target == b"/drop"]
            assert len(drops) == 2

            up.requests.clear()
            async with proxy(up.port) as (_, port):
                reader, writer = await connect(port)
                writer.write(get(b"/echo"))
                await read_response(reader)
                writer.write(b"POST /drop HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
                assert (await read_response(reader)).status == 502
                writer.close()
            assert [r.target for r in up.requests] == [b"/echo", b"/drop"]  # never re-sent

    run(scenario())


def test_upstream_dying_mid_body_aborts_the_client_connection():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(get(b"/cut"))
            with pytest.raises(asyncio.IncompleteReadError):
                await read_response(reader)  # a truncated body, never a forged complete one
            writer.close()

    run(scenario())


def test_invalid_upstream_response_is_502():
    async def scenario():
        async def bad(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok"
            )
            await writer.drain()

        server = await asyncio.start_server(bad, "127.0.0.1", 0)
        upstream_port = server.sockets[0].getsockname()[1]
        async with proxy(upstream_port) as (_, port):
            response = await exchange(port, get(b"/x", b"Accept: application/json"))
        server.close()
        assert response.status == 502

    run(scenario())


def test_upstream_that_stops_reading_hits_the_write_timeout():
    async def scenario():
        loop = asyncio.get_running_loop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # small window
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        accepted = []

        async def accept_and_never_read():
            while True:
                accepted.append((await loop.sock_accept(listener))[0])

        acceptor = asyncio.ensure_future(accept_and_never_read())
        picker = CountingPicker(listener.getsockname()[1])
        async with proxy(app=app_for(picker, write_timeout=0.5, read_timeout=30)) as (_, port):
            reader, writer = await connect(port)
            size = 64 << 20
            writer.write(b"PUT /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)

            async def push():
                block = b"z" * (1 << 20)
                try:
                    for _ in range(64):
                        writer.write(block)
                        await writer.drain()
                except ConnectionError:
                    pass

            pushing = asyncio.ensure_future(push())
            started = loop.time()
            response = await read_response(reader)
            elapsed = loop.time() - started
            pushing.cancel()
            writer.close()
        acceptor.cancel()
        for sock in [listener, *accepted]:
            sock.close()
        assert response.status == 504 and 0.4 < elapsed < 10
        assert picker.released == [(picker.picks[0], 0, "timeout")]

    run(scenario())
