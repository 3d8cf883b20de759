"""The engine's per-request Python cost, without sockets: fake transports, real protocols.

    .venv/bin/python bench/proxy/hotpath.py [--requests 200000] [--profile]

One client connection and one pooled upstream connection are driven directly: the client's
request goes in through ``data_received``, the upstream's response comes back the same way,
and nothing else runs. What it prints is the CPU time the proxy's own code spends per request
(the socket syscalls and the event loop come on top in a real run). Use it to optimise the
hot path; ``--profile`` shows where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

import uvloop

from carbonplane.proxy.app import FixedTarget, Upstream
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.downstream import ClientConnection
from carbonplane.proxy.pool import UpstreamConnection
from carbonplane.proxy.server import ProxyServer
from carbonplane.proxy.static import StaticApp

REQUEST = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 16:00:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")


class FakeTransport(asyncio.Transport):
    def __init__(self, peer):
        super().__init__()
        self.peer = peer
        self.written = []

    def get_extra_info(self, name, default=None):
        return {"peername": self.peer, "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return False

    def pause_reading(self):
        pass

    def abort(self):
        raise AssertionError("the hot path closed a connection")

    def resume_reading(self):
        pass


async def run(n: int, profile: bool) -> None:
    upstream = Upstream("bench", FixedTarget("127.0.0.1", 8080))
    server = ProxyServer(ProxyConfig(app=StaticApp({"/": upstream}), keepalive_requests=10**9,
                                     upstream_keepalive_requests=10**9))
    pool = server.pool_for(upstream.picker, upstream)
    up = UpstreamConnection(pool)
    up.connection_made(FakeTransport(("127.0.0.1", 8080)))
    up.reusable = True
    pool.release(up)
    client = ClientConnection(server)
    ctransport = FakeTransport(("127.0.0.1", 50000))
    client.connection_made(ctransport)

    flush = server.batch.flush  # what the loop runs at the end of an iteration

    def one():
        client.data_received(REQUEST)
        up.data_received(RESPONSE)
        flush()

    one()
    assert ctransport.written[-1].endswith(b"ok"), ctransport.written
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    start = time.process_time()
    for i in range(n):
        one()
        ctransport.written.clear()
        up.transport.written.clear()
        if i % 1024 == 0:
            await asyncio.sleep(0)  # run the flushes the batch scheduled (they find nothing)
    elapsed = time.process_time() - start
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    print(f"{elapsed / n * 1e6:.2f} us per proxied request ({n / elapsed:,.0f}/s of pure Python)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    uvloop.run(run(args.requests, args.profile))


if __name__ == "__main__":
    main()
