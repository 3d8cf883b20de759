"""The pool layer over real loopback connections: a released reusable connection is handed out
again, the most recently used first; one over ``max_idle``, a non-reusable one or one that the
upstream closed is not; ``discard`` and ``close`` empty the pool. (Reuse through whole requests,
stale connections and keep-alive limits: tests/integration/proxy/.)"""

from __future__ import annotations

import asyncio

from carbonplane.http.headparser import ResponseHeadParser
from carbonplane.http.model import Limits
from carbonplane.proxy.layers.pool import UpstreamPool


async def listening():
    peers = []

    async def handle(reader, writer):
        peers.append(writer)
        await reader.read()  # until the proxy side closes
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], peers


def pool_to(port, **options):
    loop = asyncio.get_running_loop()
    return UpstreamPool(loop, ResponseHeadParser(Limits()), "127.0.0.1", port, **options)


async def settle(predicate, seconds=5.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_reusable_connections_come_back_most_recent_first_up_to_max_idle():
    async def scenario():
        server, port, peers = await listening()
        pool = pool_to(port, max_idle=2)
        try:
            conns = [await pool.connect() for _ in range(3)]
            await settle(lambda: len(peers) == 3)
            for conn in conns:
                conn.reusable = True
                pool.release(conn)
            assert pool.idle == conns[:2] and conns[2].closed  # one over max_idle is closed
            assert pool.acquire() is conns[1]  # the warmest first
            assert pool.acquire() is conns[0]
            assert pool.acquire() is None
        finally:
            pool.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_unreusable_closed_and_discarded_connections_are_not_handed_out():
    async def scenario():
        server, port, peers = await listening()
        pool = pool_to(port)
        try:
            spent, dropped, kept, gone = [await pool.connect() for _ in range(4)]
            await settle(lambda: len(peers) == 4)
            pool.release(spent)  # reusable is False: the response did not end cleanly
            assert spent.closed and pool.idle == []
            for conn in (dropped, kept, gone):
                conn.reusable = True
                pool.release(conn)
            pool.discard(dropped)
            gone.transport.close()  # e.g. the upstream closed it while idle
            assert pool.acquire() is kept
            assert pool.acquire() is None and pool.idle == []
            pool.release(kept)
            pool.close()
            assert kept.closed and pool.idle == []
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
