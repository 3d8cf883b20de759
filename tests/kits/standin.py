"""The one local upstream of the proxy and gateway tests: a scriptable HTTP/1.1 server on
127.0.0.1, written independently of the code under test (its own small parser on asyncio streams).

It runs either in the test's own event loop (``await StandIn().listen()`` ... ``await close()``,
for the engine's async tests) or on its own thread and loop (``StandIn("a").start()`` ...
``stop()``, for tests that drive a gateway from the test's thread).

What it answers, by request:

- ``GET /health``: status ``health_status`` with an empty body (active health checks); counted in
  ``health_probes`` and not recorded as a request.
- A path whose first segment names a behaviour (its numbers must parse, else it is a plain path):
  ``/bytes/N`` (an N-byte Content-Length body), ``/chunks/N/SIZE`` (chunked, with a trailer),
  ``/slow/MS``, ``/hang``, ``/drop`` (close without answering), ``/close`` (answer, then close),
  ``/status/CODE`` (a short text body), ``/http10`` (HTTP/1.0, body until close), ``/cut`` (half a
  body, then close).
- Anything else: JSON describing what arrived (``name``, ``port``, ``method``, ``target``,
  ``headers`` as ``[name, value]`` pairs, ``body`` as text, ``size``, ``sha256``), on a kept-alive
  connection, with hop-by-hop fields a proxy must drop (``Keep-Alive``, ``Connection: ...,
  X-Hop``, ``X-Hop``) and ``X-Powered-By: stand-in``. Its status is ``status`` (200), or NNN
  for a path containing ``/__status/NNN``; it waits ``delay`` seconds, or S for ``/__sleep/S``.

Invariants: every request but a health probe is appended to ``requests`` (a ``Received``) once its
head and body are read, before it is answered; ``connections`` counts accepted connections;
``active`` / ``max_active`` count requests being answered at once. Bodies are hashed in full and
kept as bytes up to ``KEPT_BODY`` bytes (``body`` is None beyond that).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl as ssl_module
import threading
from collections.abc import Callable
from dataclasses import dataclass

KEPT_BODY = 1 << 20
READ_LIMIT = 1 << 20


@dataclass
class Received:
    """One request as the stand-in read it (header names lower-cased, values stripped)."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    size: int = 0
    sha256: str = ""
    body: bytes | None = b""

    def get(self, name: bytes) -> bytes | None:
        """The last value of header ``name`` (lower-case), or None."""
        values = [v for n, v in self.headers if n == name]
        return values[-1] if values else None

    def names(self) -> set[bytes]:
        return {n for n, _ in self.headers}


def split_fields(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """``name: value`` lines as (lower-case name, stripped value) pairs."""
    pairs = (line.partition(b":") for line in lines)
    return [(name.strip().lower(), value.strip()) for name, _, value in pairs]


async def read_chunked(reader: asyncio.StreamReader, sink: Callable[[bytes], None]) -> None:
    """Read a chunked body (and its trailer section), handing each piece to ``sink``."""
    while True:
        size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return
        await read_length(reader, size, sink)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("a chunk is not followed by CRLF")


async def read_length(
    reader: asyncio.StreamReader, length: int, sink: Callable[[bytes], None]
) -> None:
    """Read exactly ``length`` body bytes, handing each piece to ``sink``."""
    while length:
        piece = await reader.read(min(length, 1 << 18))
        if not piece:
            raise asyncio.IncompleteReadError(b"", length)
        sink(piece)
        length -= len(piece)


def _numbers(parts: list[bytes], count: int) -> list[int] | None:
    """The ``count`` path segments after the first as ints, or None if they are not that."""
    args = parts[1 : 1 + count]
    if len(args) != count or not all(a.isdigit() for a in args):
        return None
    return [int(a) for a in args]


class StandIn:
    """A local upstream; see the module docstring."""

    def __init__(self, name: str = "upstream", *, tls: ssl_module.SSLContext | None = None) -> None:
        self.name = name
        self.tls = tls
        self.status = 200
        self.delay = 0.0
        self.health_status = 200
        self.requests: list[Received] = []
        self.connections = 0
        self.health_probes = 0
        self.active = 0
        self.max_active = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._arrived: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- in the test's loop ----------------------------------------------------------------

    async def listen(self) -> StandIn:
        """Listen on a free loopback port in the running loop."""
        self._arrived = asyncio.Condition()
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, limit=READ_LIMIT, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening and close every open connection."""
        self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def wait_requests(self, count: int, timeout: float = 10.0) -> None:
        """Return once ``count`` requests have arrived (their heads and bodies read)."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.requests) >= count), timeout
            )

    # -- on its own thread -----------------------------------------------------------------

    def start(self) -> StandIn:
        """Listen on a free loopback port from a background thread with its own loop."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"stand-in-{self.name}", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.listen(), self._loop).result(10)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"stand-in {self.name} did not start: {exc}") from exc
        return self

    def stop(self) -> None:
        """Stop a ``start()``-ed stand-in: close, cancel what it is still answering, join."""

        async def shutdown() -> None:
            if self._server is not None:
                await self.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._loop is None:
            return
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- serving ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                received = await self._read_request(reader)
                if received.method == b"GET" and received.target == b"/health":
                    self.health_probes += 1
                    writer.write(b"HTTP/1.1 %d X\r\ncontent-length: 0\r\n\r\n" % self.health_status)
                    await writer.drain()
                    continue
                self.requests.append(received)
                async with self._arrived:
                    self._arrived.notify_all()
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                try:
                    keep_open = await self._answer(received, writer)
                finally:
                    self.active -= 1
                if not keep_open:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        except ValueError:  # a request this stand-in cannot parse: close, as the old kits did
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> Received:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        method, target, _version = lines[0].split(b" ")
        received = Received(method, target, split_fields(lines[1:]))
        digest = hashlib.sha256()
        kept: list[bytes] = []

        def sink(piece: bytes) -> None:
            digest.update(piece)
            received.size += len(piece)
            if received.size <= KEPT_BODY:
                kept.append(piece)

        if received.get(b"transfer-encoding") == b"chunked":
            await read_chunked(reader, sink)
        elif received.get(b"content-length"):
            await read_length(reader, int(received.get(b"content-length")), sink)
        received.sha256 = digest.hexdigest()
        received.body = b"".join(kept) if received.size <= KEPT_BODY else None
        return received

    async def _answer(self, rec: Received, writer: asyncio.StreamWriter) -> bool:
        """Answer ``rec``; False when the connection is to be closed."""
        parts = rec.target.split(b"?")[0].strip(b"/").split(b"/")
        kind = parts[0]
        head_only = rec.method == b"HEAD"
        if kind == b"drop":
            return False
        if kind == b"hang":
            await asyncio.sleep(3600)
        if kind == b"slow" and (args := _numbers(parts, 1)) is not None:
            await asyncio.sleep(args[0] / 1000)
        if kind == b"bytes" and (args := _numbers(parts, 1)) is not None:
            await self._send_bytes(writer, args[0], head_only)
            return True
        if kind == b"chunks" and (args := _numbers(parts, 2)) is not None:
            count, size = args
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
        if kind == b"status" and (args := _numbers(parts, 1)) is not None:
            code = args[0]
            body = b"" if code in (204, 304) else b"status body"
            length = b"" if code == 204 else b"Content-Length: %d\r\n" % len(b"status body")
            writer.write(b"HTTP/1.1 %d X\r\n%s\r\n%s" % (code, length, b"" if head_only else body))
            return True
        return await self._echo(rec, writer, close=kind == b"close", head_only=head_only)

    async def _send_bytes(self, writer: asyncio.StreamWriter, total: int, head_only: bool) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        block = b"y" * (1 << 18)
        while total and not head_only:
            piece = block[: min(total, len(block))]
            writer.write(piece)
            total -= len(piece)
            await writer.drain()

    async def _echo(
        self, rec: Received, writer: asyncio.StreamWriter, *, close: bool, head_only: bool
    ) -> bool:
        target = rec.target.decode("latin-1")
        status, delay = self.status, self.delay
        if "/__status/" in target:
            status = int(target.split("/__status/")[1][:3])
        if "/__sleep/" in target:
            delay = float(target.split("/__sleep/")[1].split("/")[0].split("?")[0])
        if delay:
            await asyncio.sleep(delay)
        doc = {
            "name": self.name,
            "port": self.port,
            "method": rec.method.decode(),
            "target": target,
            "headers": [[n.decode(), v.decode("latin-1")] for n, v in rec.headers],
            "body": None if rec.body is None else rec.body.decode("latin-1"),
            "size": rec.size,
            "sha256": rec.sha256,
        }
        body = json.dumps(doc).encode()
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"X-Powered-By: stand-in\r\nKeep-Alive: timeout=60\r\nConnection: %s\r\n"
            b"X-Hop: secret\r\n\r\n%s"
            % (
                status,
                b"OK" if status == 200 else b"X",
                len(body),
                b"close, X-Hop" if close else b"keep-alive, X-Hop",
                b"" if head_only else body,
            )
        )
        await writer.drain()
        return not close


def seen(doc: dict, name: str) -> list[str]:
    """Every value of header ``name`` (lower-case) in a stand-in's echo document, in order."""
    return [v for n, v in doc["headers"] if n == name]


def header(doc: dict, name: str) -> str | None:
    """The last value of header ``name`` in a stand-in's echo document, or None."""
    values = seen(doc, name)
    return values[-1] if values else None
