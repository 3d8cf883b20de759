"""Per-request cost of the rate-limit counter stores (host shared memory, in-process, a counter
service over a Unix socket, Redis), to choose the design of policy ``local``.

Run: ``.venv/bin/python -m bench.plugins.counters_cost [--redis]`` (bounded: ~50k operations
per store; Redis only with ``--redis``, on 127.0.0.1:6379). Prints microseconds per request
(one ``take`` of two windows, second + minute).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import tempfile
import threading
import time

from carbonplane.gateway.plugins.pdk.counters import HostCounters, LocalCounters

N = 50_000


def _cells(i: int, now_ms: int):
    ident = f"10.0.{i % 200}.{i % 250}"
    return [
        (
            f"ratelimit:r:s:{ident}:{now_ms // 1000}:second".encode(),
            now_ms + 1000,
            10**9,
            None,
            0.0,
        ),
        (
            f"ratelimit:r:s:{ident}:{now_ms // 60000}:minute".encode(),
            now_ms + 60000,
            10**9,
            None,
            0.0,
        ),
    ]


def bench_store(store) -> float:
    now_ms = int(time.time() * 1000)
    cells = [_cells(i, now_ms) for i in range(N)]
    t0 = time.perf_counter()
    for c in cells:
        store.take(c, now_ms)
    return (time.perf_counter() - t0) / N * 1e6


def bench_unix_service() -> float:
    """A counter service in another thread answering a 1-byte request per take (lower bound of
    the service design: no encoding, no table work)."""
    path = os.path.join(tempfile.mkdtemp(), "ctr.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        while conn.recv(64):
            conn.sendall(b"1")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()

    async def client() -> float:
        reader, writer = await asyncio.open_unix_connection(path)
        t0 = time.perf_counter()
        for _ in range(N // 5):
            writer.write(struct.pack("<q", 1))
            await reader.readexactly(1)
        dt = (time.perf_counter() - t0) / (N // 5) * 1e6
        writer.close()
        return dt

    return asyncio.run(client())


def bench_redis() -> float:
    import redis.asyncio as aioredis

    from carbonplane.gateway.plugins.rate_limiting.redis_policy import RedisCounters

    async def run() -> float:
        client = aioredis.Redis(host="127.0.0.1", port=6379)
        store = RedisCounters(client)
        now_ms = int(time.time() * 1000)
        t0 = time.perf_counter()
        for i in range(N // 10):
            await store.take(_cells(i, now_ms), now_ms)
        dt = (time.perf_counter() - t0) / (N // 10) * 1e6
        await client.aclose()
        return dt

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", action="store_true", help="also measure Redis on 127.0.0.1:6379")
    args = parser.parse_args()
    path = os.path.join(tempfile.mkdtemp(), "bench.counters")
    host = HostCounters.open(path)
    print(f"host shared memory   {bench_store(host):7.2f} us/request")
    host.close()
    print(f"in-process table     {bench_store(LocalCounters()):7.2f} us/request")
    print(f"unix socket service  {bench_unix_service():7.2f} us/request (round trip only)")
    if args.redis:
        print(f"redis (Lua script)   {bench_redis():7.2f} us/request")


if __name__ == "__main__":
    main()
