"""Real-socket helpers for the engine's integration tests (loopback only).

- ``StandIn``: a scriptable HTTP/1.1 upstream written independently of the code under test
  (its own tiny parser on asyncio streams). Paths choose the behaviour: ``/echo`` (JSON of what
  arrived), ``/bytes/N`` (N-byte Content-Length body), ``/chunks/N/SIZE`` (chunked),
  ``/slow/MS``, ``/hang``, ``/drop`` (close without answering), ``/close`` (answer, then close),
  ``/status/CODE``, ``/http10`` (HTTP/1.0, body until close), ``/cut`` (half a body, then close).
  It counts connections and records every request (head, body size and SHA-256).
- ``proxy(upstream_port, **config)``: a ``ProxyServer`` with the built-in ``StaticApp`` in the
  test's own loop; ``send`` / ``read_response`` speak raw HTTP over real sockets.
- ``run(coro)``: run a scenario on uvloop with a hard time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass, field

import uvloop

from carbonplane.proxy import ProxyConfig, ProxyServer, StaticApp, Upstream
from carbonplane.proxy.app import FixedTarget


def run(coro, timeout: float = 60.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return uvloop.run(bounded())


@dataclass
class Received:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    size: int = 0
    sha256: str = ""

    def get(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n == name]
        return values[-1] if values else None

    def names(self) -> set[bytes]:
        return {n for n, _ in self.headers}


async def _read_chunked(reader: asyncio.StreamReader, sink) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return
        remaining = size
        while remaining:
            piece = await reader.read(min(remaining, 1 << 18))
            if not piece:
                raise asyncio.IncompleteReadError(b"", remaining)
            sink(piece)
            remaining -= len(piece)
        assert await reader.readexactly(2) == b"\r\n"


async def _read_length(reader: asyncio.StreamReader, length: int, sink) -> None:
    while length:
        piece = await reader.read(min(length, 1 << 18))
        if not piece:
            raise asyncio.IncompleteReadError(b"", length)
        sink(piece)
        length -= len(piece)


@dataclass
class StandIn:
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.AbstractServer | None = None
    _writers: set = field(default_factory=set)
    _arrived: asyncio.Condition | None = None

    async def wait_requests(self, count: int, timeout: float = 10.0) -> None:
        """Return once ``count`` requests have arrived (their heads and bodies read)."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.requests) >= count), timeout
            )

    async def start(self, ssl=None) -> StandIn:
        """Listen on a free loopback port (TLS with ``ssl``, a server SSLContext)."""
        self._arrived = asyncio.Condition()
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, limit=1 << 20, ssl=ssl
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                received = await self._read_request(reader)
                self.requests.append(received)
                async with self._arrived:
                    self._arrived.notify_all()
                if not await self._answer(received, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> Received:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        method, target, _version = lines[0].split(b" ")
        headers = [
            (n.strip().lower(), v.strip()) for n, _, v in (l.partition(b":") for l in lines[1:])
        ]
        received = Received(method, target, headers)
        digest = hashlib.sha256()

        def sink(piece: bytes) -> None:
            digest.update(piece)
            received.size += len(piece)

        if received.get(b"transfer-encoding") == b"chunked":
            await _read_chunked(reader, sink)
        elif received.get(b"content-length"):
            await _read_length(reader, int(received.get(b"content-length")), sink)
        received.sha256 = digest.hexdigest()
        return received

    async def _answer(self, rec: Received, writer: asyncio.StreamWriter) -> bool:
        parts = rec.target.split(b"?")[0].strip(b"/").split(b"/")
        kind = parts[0]
        head_only = rec.method == b"HEAD"
        if kind == b"drop":
            return False
        if kind == b"hang":
            await asyncio.sleep(3600)
        if kind == b"slow":
            await asyncio.sleep(int(parts[1]) / 1000)
        if kind == b"bytes":
            total = int(parts[1])
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
            block = b"y" * (1 << 18)
            while total and not head_only:
                piece = block[: min(total, len(block))]
                writer.write(piece)
                total -= len(piece)
                await writer.drain()
            return True
        if kind == b"chunks":
            count, size = int(parts[1]), int(parts[2])
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n")
            for _ in range(count):
                writer.write(b"%x\r\n%s\r\n" % (size, b"c" * size))
                await writer.drain()
            writer.write(b"0\r\nX-Trailer: t\r\n\r\n")
            return True
        if kind == b"http10":
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close")
            await writer.drain()
            return False
        if kind == b"cut":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-half")
            await writer.drain()
            return False
        if kind == b"status":
            code = int(parts[1])
            body = b"" if code in (204, 304) else b"status body"
            length = b"" if code == 204 else b"Content-Length: %d\r\n" % len(b"status body")
            writer.write(b"HTTP/1.1 %d X\r\n%s\r\n%s" % (code, length, b"" if head_only else body))
            return True
        close = kind == b"close"
        body = json.dumps(
            {
                "method": rec.method.decode(),
                "target": rec.target.decode(),
                "size": rec.size,
                "sha256": rec.sha256,
                "headers": [[n.decode(), v.decode("latin-1")] for n, v in rec.headers],
            }
        ).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Keep-Alive: timeout=60\r\nConnection: %s\r\nX-Hop: secret\r\n\r\n%s"
            % (
                len(body),
                b"close, X-Hop" if close else b"keep-alive, X-Hop",
                b"" if head_only else body,
            )
        )
        await writer.drain()
        return not close


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
    headers = [(n.strip().lower(), v.strip()) for n, _, v in (l.partition(b":") for l in lines[1:])]
    response = Response(status, headers, b"", head)
    if method == b"HEAD" or status in (204, 304) or status < 200:
        return response
    chunks: list[bytes] = []
    if response.get(b"transfer-encoding") == b"chunked":
        await _read_chunked(reader, chunks.append)
    elif response.get(b"content-length") is not None:
        await _read_length(reader, int(response.get(b"content-length")), chunks.append)
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
    upstream = await StandIn().start()
    try:
        yield upstream
    finally:
        await upstream.close()
