"""Real-socket helpers for the engine's integration tests (loopback only).

- ``stand_in()``: the shared upstream (``tests.kits.standin.StandIn``, whose paths choose its
  behaviour: ``/echo``, ``/bytes/N``, ``/chunks/N/SIZE``, ``/slow/MS``, ``/hang``, ``/drop``,
  ``/close``, ``/status/CODE``, ``/http10``, ``/cut``) listening in the test's own loop.
- ``proxy(upstream_port, **config)``: a ``ProxyServer`` with the built-in ``StaticApp`` in the
  test's own loop; ``send`` / ``read_response`` speak raw HTTP over real sockets.
- ``run(coro)``: run a scenario on uvloop with a hard time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

import uvloop
from tests.kits.standin import StandIn, read_chunked, read_length, split_fields

from carbonplane.proxy import ProxyConfig, ProxyServer, StaticApp, Upstream
from carbonplane.proxy.app import FixedTarget


def run(coro, timeout: float = 60.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return uvloop.run(bounded())


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    raw_head: bytes

    def get(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n == name]
        return values[-1] if values else None

    def json(self):
        return json.loads(self.body)


async def read_response(reader: asyncio.StreamReader, method: bytes = b"GET") -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    response = Response(status, split_fields(lines[1:]), b"", head)
    if method == b"HEAD" or status in (204, 304) or status < 200:
        return response
    chunks: list[bytes] = []
    if response.get(b"transfer-encoding") == b"chunked":
        await read_chunked(reader, chunks.append)
    elif response.get(b"content-length") is not None:
        await read_length(reader, int(response.get(b"content-length")), chunks.append)
    else:
        chunks.append(await reader.read())
    response.body = b"".join(chunks)
    return response


async def connect(port: int):
    return await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)


async def exchange(port: int, raw: bytes, method: bytes = b"GET") -> Response:
    """One request on a fresh connection."""
    reader, writer = await connect(port)
    try:
        writer.write(raw)
        return await read_response(reader, method)
    finally:
        writer.close()


async def read_until_closed(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout)


def get(path: bytes = b"/echo", *extra: bytes, host: bytes = b"proxy.test") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (
        path,
        host,
        b"".join(e + b"\r\n" for e in extra),
    )


@contextlib.asynccontextmanager
async def proxy(upstream_port: int | None = None, *, app=None, upstream_options=None, **config):
    """A ProxyServer on a free loopback port, in the running loop."""
    if app is None:
        options = {"connect_timeout": 5, "read_timeout": 10, "write_timeout": 10, "retries": 0}
        options.update(upstream_options or {})
        app = StaticApp(
            {"/": Upstream("stand-in", FixedTarget("127.0.0.1", upstream_port), **options)}
        )
    server = ProxyServer(ProxyConfig(app=app, **config))
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, port
    finally:
        await server.close(1.0)


@contextlib.asynccontextmanager
async def stand_in():
    """The shared ``StandIn`` listening in the running loop, closed afterwards."""
    upstream = await StandIn().listen()
    try:
        yield upstream
    finally:
        await upstream.close()
