"""The floor of a Python reverse proxy on this machine: how close can asyncio + uvloop + httptools
get to nginx when the proxy does almost nothing?

    .venv/bin/python bench/proxy/floor.py [--seconds 5] [--runs 3]

The "floor proxy" below is NOT the engine and checks nothing: one upstream connection per client
connection (opened once, kept alive), llhttp parsing with per-header callbacks on both sides, the
request head rebuilt with one added header, the response relayed as received. No routing, no HTTP
rules, no pooling policy, no timeouts, no logging. It answers one question: how much of the gap
between our engine and nginx is Python itself, and how much is the work the engine does per
request. Measured exactly as ``python -m bench gateway`` measures (wrk -t1 -c50, nginx 1 worker
with keep-alive upstream connections as the baseline, runs interleaved).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UPSTREAM_PORT, NGINX_PORT, FLOOR_PORT = 18381, 18382, 18383


class _UpstreamSide(asyncio.Protocol):
    def __init__(self, client: "_ClientSide") -> None:
        import httptools

        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.pieces: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.pieces.append(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        data, self.pieces = b"".join(self.pieces), []
        if not self.client.transport.is_closing():
            self.client.transport.write(data)

    def connection_lost(self, exc) -> None:
        self.client.transport.close()


class _ClientSide(asyncio.Protocol):
    def __init__(self, upstream: tuple[str, int]) -> None:
        import httptools

        self.upstream_address = upstream
        self.parser = httptools.HttpRequestParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.url = b"/"
        self.up: _UpstreamSide | None = None
        self.waiting: list[bytes] | None = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.up = await loop.create_connection(
            lambda: _UpstreamSide(self), *self.upstream_address
        )
        for head in self.waiting or ():
            self.up.transport.write(head)
        self.waiting = None

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        out = [self.parser.get_method(), b" ", self.url, b" HTTP/1.1\r\n"]
        for name, value in self.headers:
            out += (name, b": ", value, b"\r\n")
        out.append(b"x-forwarded-for: 127.0.0.1\r\n\r\n")
        self.headers = []
        head = b"".join(out)
        if self.waiting is not None:
            self.waiting.append(head)
        else:
            self.up.transport.write(head)


def serve_floor(port: int, upstream_port: int) -> None:
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _ClientSide(("127.0.0.1", upstream_port)), "127.0.0.1", port
        )
        await server.serve_forever()

    uvloop.install()
    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--serve", nargs=2, type=int, metavar=("PORT", "UPSTREAM_PORT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.serve:
        serve_floor(*args.serve)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench import gateway as G

    tmp = Path(tempfile.mkdtemp(prefix="cp-floor-"))
    procs = [
        G.start_nginx(
            tmp,
            "upstream",
            f"server {{ listen 127.0.0.1:{UPSTREAM_PORT}; location / {{ return 200 'ok'; }} }}",
            UPSTREAM_PORT,
        )
    ]
    try:
        procs.append(
            G.start_nginx(
                tmp,
                "proxy",
                (
                    f"upstream u {{ server 127.0.0.1:{UPSTREAM_PORT}; keepalive 64; }} server {{ "
                    "listen "
                    f"127.0.0.1:{NGINX_PORT}; location / {{ proxy_pass http://u; "
                    "proxy_http_version 1.1; "
                    'proxy_set_header Connection ""; } }'
                ),
                NGINX_PORT,
            )
        )
        floor = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(FLOOR_PORT), str(UPSTREAM_PORT)]
        )
        procs.append(floor)
        G.wait_listening(FLOOR_PORT, floor, "floor proxy")
        samples: dict[str, list[dict]] = {"nginx": [], "floor": []}
        for _ in range(args.runs):
            for name, port in (("nginx", NGINX_PORT), ("floor", FLOOR_PORT)):
                G.wrk(port, 1, [])
                samples[name].append(G.wrk(port, args.seconds, []))
        rps = {k: statistics.median(s["rps"] for s in v) for k, v in samples.items()}
        p99 = {k: statistics.median(s["p99_ms"] for s in v) for k, v in samples.items()}
        for name in samples:
            print(
                f"{name:6s} {rps[name]:9,.0f} req/s  p99 {p99[name]:.2f} ms  runs: "
                + " ".join(f"{s['rps']:,.0f}" for s in samples[name])
            )
        print(
            f"floor / nginx = {rps['floor'] / rps['nginx']:.2f} req/s, p99 "
            f"{p99['floor'] / p99['nginx']:.2f}x"
        )
    finally:
        for proc in reversed(procs):
            G.stop(proc)
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
