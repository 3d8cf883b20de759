"""The pool layer: upstream connections and their per-address keep-alive pools (one pool per
worker and address). The one layer with per-request work: compiled as typed classes (pool.pxd).

An ``UpstreamConnection`` is an ``asyncio.Protocol`` with a ``ResponseReader``. While it serves
a request it has an *owner* (the request's ``Exchange``) and relays events to it:
``upstream_head``, ``upstream_body``, ``upstream_end``, ``upstream_failed``, then ``flush()``
once per read. Writes (both ways) are queued and issued once per loop iteration (``writes.py``).

Invariants:
- a connection is in the idle list only when it has no owner, its last response was read to
  the end, nothing extra was received, the upstream allowed keep-alive, and it served fewer than
  ``max_requests``; idle ones close after ``idle_timeout`` or when the upstream closes them;
- bytes arriving on an idle connection mean the upstream is broken: the connection is closed;
- the read deadline is pushed forward on every read (nginx's proxy_read_timeout: the time
  between two reads), the write deadline runs only while the socket buffer is over high-water;
- ``acquire`` hands out the most recently used connection first (warm, least likely closed).
"""

from __future__ import annotations

import asyncio

from carbonplane.errors import HttpError
from carbonplane.http.model import END_OF_MESSAGE, NEED_DATA, ResponseHead
from carbonplane.http.reader import ResponseReader
from carbonplane.proxy.app import FAILURE_RESET, FAILURE_TIMEOUT
from carbonplane.proxy.timers import Deadline
from carbonplane.proxy.writes import WriteBatch, flush_output


class UpstreamConnection:  # an asyncio protocol (duck-typed: compiled, see pool.pxd)
    __slots__ = (
        "pool",
        "loop",
        "transport",
        "reader",
        "owner",
        "deadline",
        "requests",
        "closed",
        "read_timeout",
        "write_timeout",
        "writing_paused",
        "reusable",
        "outbuf",
        "batch",
        "clock",
    )

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.clock = pool.loop.time  # bound once: read on every request and read
        self.transport: asyncio.Transport | None = None
        self.reader = ResponseReader(pool.parser)
        self.owner = None
        self.deadline = Deadline(self.loop, self._expired)
        self.requests = 0
        self.closed = False
        self.read_timeout = 60.0
        self.write_timeout = 60.0
        self.writing_paused = False
        self.reusable = False  # set when a response ended cleanly with keep-alive allowed
        self.outbuf: list[bytes] = []  # bytes for the upstream, written at the iteration's end
        self.batch = pool.batch

    # -- driven by the Exchange ---------------------------------------------------------
    def send(
        self, owner, data: bytes, method: bytes, read_timeout: float, write_timeout: float
    ) -> None:
        """Start a request on this connection: ``data`` is its serialised head (+ body start)."""
        self.owner = owner
        self.reusable = False
        self.requests += 1
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.reader.expect(method)
        self.deadline.set(self.clock() + read_timeout)
        out = self.outbuf
        if not out:
            self.batch.schedule(self)
        out.append(data)

    def write(self, data: bytes) -> None:
        """Queue body bytes; written with the rest at the end of the loop iteration."""
        out = self.outbuf
        if not out:
            self.batch.schedule(self)
        out.append(data)

    def flush_writes(self) -> None:
        flush_output(self.outbuf, self.transport)

    def close(self) -> None:
        self.owner = None
        self.deadline.cancel()
        self.outbuf.clear()
        if not self.closed:
            self.closed = True
            self.pool.discard(self)
            if self.transport is not None:
                self.transport.abort()

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if owner is None:  # an idle connection must be silent
            self.close()
            return
        self.deadline.when = self.clock() + self.read_timeout
        reader = self.reader
        reader.feed(data)
        try:
            event = reader.next_event()
            if type(event) is ResponseHead and owner.relays_whole:
                body = reader.take_rest()
                if body is not None:  # the common case: the whole response in this read
                    self._ended(owner.request_done and event.keep_alive)
                    owner.upstream_whole(event, body)
                    return
            while True:
                if type(event) is bytes:
                    owner.upstream_body(event)
                elif event is NEED_DATA:
                    break
                elif event is END_OF_MESSAGE:
                    self._response_ended(owner)
                    break
                elif isinstance(event, ResponseHead):
                    owner.upstream_head(event)
                else:  # CONNECTION_CLOSED
                    owner.upstream_failed(FAILURE_RESET, "upstream closed the connection")
                    break
                event = reader.next_event()
        except HttpError as exc:
            self.close()
            owner.upstream_failed(FAILURE_RESET, exc.reason)
        owner.flush()

    def _response_ended(self, owner) -> None:
        self._ended(owner.response_keep_alive())
        owner.upstream_end()

    def _ended(self, keep_alive: bool) -> None:
        """A response was read to its end: may this connection serve another request?"""
        self.deadline.clear()
        self.reusable = (
            keep_alive
            and not self.closed
            and self.reader.buffered == 0
            and self.requests < self.pool.max_requests
        )

    def eof_received(self) -> bool:
        owner = self.owner
        if owner is None:
            self.close()
            return False
        self.reader.feed_eof()
        self.data_received(b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        owner = self.owner
        self.closed = True
        self.owner = None
        self.deadline.cancel()
        self.pool.discard(self)
        if owner is not None:
            owner.upstream_failed(FAILURE_RESET, "upstream connection lost")
            owner.flush()

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.owner is not None:
            self.owner.upstream_write_paused(True)
            self.deadline.set(self.loop.time() + self.write_timeout)

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.owner is not None:
            self.owner.upstream_write_paused(False)
            self.deadline.set(self.loop.time() + self.read_timeout)

    def _expired(self) -> None:
        owner = self.owner
        self.close()
        if owner is not None:
            owner.upstream_failed(FAILURE_TIMEOUT, "upstream timed out")
            owner.flush()


class UpstreamPool:
    """Keep-alive connections to one address (``host``, ``port``, TLS settings)."""

    __slots__ = (
        "host",
        "port",
        "ssl",
        "server_hostname",
        "loop",
        "parser",
        "idle",
        "max_idle",
        "max_requests",
        "idle_timeout",
        "batch",
    )

    def __init__(
        self,
        loop,
        parser,
        host: str,
        port: int,
        *,
        ssl=None,
        server_hostname: str | None = None,
        max_idle: int = 512,
        max_requests: int = 10000,
        idle_timeout: float = 60.0,
        batch: WriteBatch | None = None,
    ) -> None:
        self.loop = loop
        self.batch = batch if batch is not None else WriteBatch(loop)
        self.parser = parser
        self.host = host
        self.port = port
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.idle: list[UpstreamConnection] = []
        self.max_idle = max_idle
        self.max_requests = max_requests
        self.idle_timeout = idle_timeout

    def acquire(self) -> UpstreamConnection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.transport.is_closing():
                return conn
        return None

    def release(self, conn: UpstreamConnection) -> None:
        """Return ``conn`` after a request: pooled if reusable, else closed."""
        conn.owner = None
        if conn.reusable and not conn.closed and len(self.idle) < self.max_idle:
            conn.deadline.set(conn.clock() + self.idle_timeout)
            if conn.writing_paused:
                conn.close()
                return
            self.idle.append(conn)
        else:
            conn.close()

    def discard(self, conn: UpstreamConnection) -> None:
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    async def connect(self) -> UpstreamConnection:
        kwargs = {}
        if self.ssl is not None:
            kwargs = {"ssl": self.ssl, "server_hostname": self.server_hostname or self.host}
        _, conn = await self.loop.create_connection(
            lambda: UpstreamConnection(self), self.host, self.port, **kwargs
        )
        return conn

    def close(self) -> None:
        for conn in list(self.idle):
            conn.close()
        self.idle.clear()

    def __repr__(self) -> str:
        return f"UpstreamPool({self.host}:{self.port}, idle={len(self.idle)})"
