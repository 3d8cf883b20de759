"""The engine's per-request Python cost, without sockets: fake transports, real protocols.

    .venv/bin/python bench/proxy/hotpath.py [--requests 200000] [--profile]
                                            [--gateway bare|plugins [--only PLUGIN]]

One client connection and one pooled upstream connection are driven directly: the client's
request goes in through ``data_received``, the upstream's response comes back the same way,
and nothing else runs. What it prints is the CPU time the proxy's own code spends per request
(the socket syscalls and the event loop come on top in a real run). Use it to optimise the
hot path; ``--profile`` shows where the time goes. ``--gateway`` runs the gateway's app instead
of the engine's static one, with the configuration ``python -m bench gateway`` measures (``bare``:
one service and route; ``plugins``: the report's five plugins, the request carrying the same
token and Origin wrk sends there; ``--only NAME`` keeps one of them). The plugins run as their
Cython-compiled copies when the install built them; ``CARBONPLANE_PURE=1`` runs the ``.py`` files
(what ``--profile`` can see inside).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import uvloop
import yaml

from carbonplane.proxy.app import Client, FixedTarget, RequestContext, Upstream
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.downstream import ClientConnection
from carbonplane.proxy.layers.pool import UpstreamConnection
from carbonplane.proxy.server import ProxyServer
from carbonplane.proxy.static import StaticApp
from carbonplane.proxy.worker import tune_gc

PLUGINS = ("rate-limiting", "cors", "jwt", "prometheus", "file-log")
REQUEST = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 16:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
)


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


def gateway_setup(kind: str, tmp: Path, only: str | None = None) -> tuple[ProxyConfig, bytes]:
    """The gateway worker's config for the benchmark's ``kind`` and the request wrk sends;
    ``only``: keep just that one of the five plugins (the request still carries the token and
    the Origin)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: bench.*
    from bench.gateway import ORIGIN, bench_token, gateway_config
    from carbonplane.gateway.config.loader import load_config_file
    from carbonplane.gateway.runtime.worker import encode_payload, worker_config

    path = gateway_config(tmp, 8080, kind == "plugins")
    if only is not None:
        doc = yaml.safe_load(path.read_text())
        for holder in (doc["services"][0], doc):
            holder["plugins"] = [p for p in holder["plugins"] if p["name"] == only]
        if only != "jwt":
            del doc["consumers"]
        path.write_text(yaml.safe_dump(doc))
    payload = encode_payload(
        load_config_file(path),
        runtime={"workers": 1},
        proxy={"keepalive_requests": 10**9, "upstream_keepalive_requests": 10**9},
    )
    request = REQUEST
    if kind == "plugins":
        request = REQUEST[:-2] + (
            b"Authorization: Bearer %s\r\nOrigin: %s\r\n\r\n"
            % (bench_token().encode(), ORIGIN.encode())
        )
    return worker_config(payload, 1), request


def pool_of(server: ProxyServer, request: bytes):
    """The pool the app sends ``request`` to (routed once, as the engine would)."""
    head = server.config.compiled.head_parser.parse(request)
    ctx = RequestContext(
        head, Client("127.0.0.1", 50000, False, b"http", 8000), "127.0.0.1", b"-", 0.0, 0
    )
    decision = server.config.app.route(ctx)
    return server.pool_for(decision.upstream.picker.pick(ctx), decision.upstream)


async def run(n: int, profile: bool, gateway: str | None, only: str | None = None) -> None:
    request = REQUEST
    if gateway is None:
        upstream = Upstream("bench", FixedTarget("127.0.0.1", 8080))
        config = ProxyConfig(
            app=StaticApp({"/": upstream}),
            keepalive_requests=10**9,
            upstream_keepalive_requests=10**9,
        )
    else:
        tmp = tempfile.TemporaryDirectory()
        config, request = gateway_setup(gateway, Path(tmp.name), only)
    server = ProxyServer(config)
    up = UpstreamConnection(pool_of(server, request))
    up.connection_made(FakeTransport(("127.0.0.1", 8080)))
    up.reusable = True
    up.pool.release(up)
    client = ClientConnection(server)
    ctransport = FakeTransport(("127.0.0.1", 50000))
    client.connection_made(ctransport)

    flush = server.batch.flush  # what the loop runs at the end of an iteration
    tune_gc()  # as a gateway worker does once it is ready

    def one():
        client.data_received(request)
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
    parser.add_argument("--gateway", choices=("bare", "plugins"))
    parser.add_argument(
        "--only", choices=PLUGINS, help="with --gateway plugins: just this one of the five plugins"
    )
    args = parser.parse_args()
    if args.only and args.gateway != "plugins":
        parser.error("--only needs --gateway plugins")
    uvloop.run(run(args.requests, args.profile, args.gateway, args.only))


if __name__ == "__main__":
    main()
