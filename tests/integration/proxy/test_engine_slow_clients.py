"""Slow, idle, greedy or oversized clients cannot starve the others."""

from __future__ import annotations

import asyncio

from enginekit import connect, exchange, get, proxy, read_response, read_until_closed, run, stand_in

from carbonplane.http import Limits


def test_slowloris_head_is_cut_by_the_header_timeout_while_others_are_served():
    async def scenario():
        async with stand_in() as up, proxy(up.port, client_header_timeout=0.5) as (_, port):
            reader, writer = await connect(port)
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def drip():
                for byte in b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 100:
                    if writer.is_closing():
                        return
                    writer.write(bytes([byte]))
                    await asyncio.sleep(0.05)

            dripping = asyncio.ensure_future(drip())
            # meanwhile a normal client is served at once
            assert (await exchange(port, get(b"/echo"))).status == 200
            data = await read_until_closed(reader, timeout=5)
            elapsed = loop.time() - started
            dripping.cancel()
            assert data.startswith(b"HTTP/1.1 408 ") and 0.4 < elapsed < 2.5
            assert len(up.requests) == 1

    run(scenario())


def test_idle_connection_without_a_request_is_closed_silently_after_header_timeout():
    async def scenario():
        async with stand_in() as up, proxy(up.port, client_header_timeout=0.3) as (_, port):
            reader, _ = await connect(port)
            assert await read_until_closed(reader, timeout=5) == b""

    run(scenario())


def test_idle_keep_alive_connection_is_closed_after_keepalive_timeout():
    async def scenario():
        async with stand_in() as up, proxy(up.port, keepalive_timeout=0.3) as (_, port):
            reader, writer = await connect(port)
            writer.write(get(b"/echo"))
            assert (await read_response(reader)).status == 200
            assert await read_until_closed(reader, timeout=5) == b""

    run(scenario())


def test_stalled_body_is_408():
    async def scenario():
        async with stand_in() as up, proxy(up.port, client_body_timeout=0.3) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly-some")
            data = await read_until_closed(reader)
            assert data.startswith(b"HTTP/1.1 408 ")

    run(scenario())


def test_connection_limit_answers_503_to_the_extra_connection():
    async def scenario():
        async with stand_in() as up, proxy(up.port, max_connections=2) as (_, port):
            held = [await connect(port) for _ in range(2)]
            for reader, writer in held:  # make sure both are accepted
                writer.write(get(b"/echo"))
                assert (await read_response(reader)).status == 200
            reader, _ = await connect(port)
            assert (await read_until_closed(reader)).startswith(b"HTTP/1.1 503 ")
            for _, writer in held:
                writer.close()

    run(scenario())


def test_oversized_head_is_431_and_oversized_body_413():
    async def scenario():
        limits = Limits(max_head_bytes=2048, max_body_bytes=1000)
        async with stand_in() as up, proxy(up.port, limits=limits) as (_, port):
            big = await exchange(port, get(b"/echo", b"X-Big: " + b"a" * 3000))
            assert big.status == 431
            declared = await exchange(
                port, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"
            )
            assert declared.status == 413
            reader, writer = await connect(port)
            writer.write(
                b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"200\r\n"
                + b"x" * 512
                + b"\r\n"
                + b"300\r\n"
                + b"x" * 768
                + b"\r\n"
            )
            data = await read_until_closed(reader)
            assert data.startswith(b"HTTP/1.1 413 ")
            assert all(r.size <= 1000 for r in up.requests)

    run(scenario())
