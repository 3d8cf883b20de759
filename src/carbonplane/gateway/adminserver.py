"""A small HTTP/1.1 server for the Admin API (and nothing else): not on the proxy's hot path.

It reads requests with the project's sans-IO reader (``carbonplane.http``: the same strict
framing rules as the proxy; encoded slashes kept, since Admin API paths unquote their own
segments), buffers each body up to ``max_body`` bytes (413 beyond), and hands
``(method, target, headers, body)`` to an async handler returning ``(status, headers, body)``.
One request at a time per connection, keep-alive, ``Expect: 100-continue`` answered, a client
that sends no complete head within ``header_timeout`` (or stays idle past ``idle_timeout``) is
disconnected. Responses are framed here (Content-Length; none for 204/304 and HEAD).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from carbonplane.errors import HttpError
from carbonplane.http.headparser import RequestHeadParser
from carbonplane.http.hop import CONTINUE_LINE, http_date, status_line
from carbonplane.http.model import CONNECTION_CLOSED, END_OF_MESSAGE, NEED_DATA, Limits, RequestHead
from carbonplane.http.reader import RequestReader
from carbonplane.proxy.server import listening_socket

log = logging.getLogger("carbonplane.gateway.admin")
Response = tuple[int, list[tuple[bytes, bytes]], bytes]
Handler = Callable[[str, str, list[tuple[bytes, bytes]], bytes], Awaitable[Response]]
_NO_BODY = (204, 304)
_DROP = frozenset((b"content-length", b"transfer-encoding", b"connection", b"date", b"server"))


class AdminServer:
    """Serve ``handler`` on one or more listening sockets."""

    def __init__(self, handler: Handler, *, max_body: int = 32 * 1024 * 1024,
                 header_timeout: float = 10.0, idle_timeout: float = 60.0) -> None:
        self.handler = handler
        self.parser = RequestHeadParser(Limits(max_body_bytes=max_body), escaped_slash="keep")
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.connections: set[_AdminConnection] = set()
        self._servers: list[asyncio.AbstractServer] = []

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        sock = listening_socket(host, port, reuse_port=False, backlog=128)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _AdminConnection(self), sock=sock)
        self._servers.append(server)
        return sock.getsockname()[1]

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for conn in list(self.connections):
            conn.close()
        for server in self._servers:
            await server.wait_closed()


class _AdminConnection(asyncio.Protocol):
    def __init__(self, server: AdminServer) -> None:
        self.server = server
        self.reader = RequestReader(server.parser)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.head: RequestHead | None = None
        self.body: list[bytes] = []
        self.busy = False
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server.connections.add(self)
        self._arm(self.server.header_timeout)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        if self.head is None and not self.busy:
            self._arm(self.server.header_timeout)
        self._pump()

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        self._pump()
        return True

    def _arm(self, seconds: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(seconds, self.close)

    def _pump(self) -> None:
        while not self.busy and not self.closed:
            try:
                event = self.reader.next_event()
            except HttpError as exc:
                body = json.dumps({"message": exc.reason}).encode()
                self._write(exc.status, [(b"content-type", b"application/json")], body,
                            close=True, head_only=False)
                return
            if event is NEED_DATA:
                return
            if event is CONNECTION_CLOSED:
                self.close()
                return
            if isinstance(event, RequestHead):
                self.head = event
                if event.expect_continue:
                    self.transport.write(CONTINUE_LINE)
            elif event is END_OF_MESSAGE:
                head, body = self.head, b"".join(self.body)
                self.head, self.body = None, []
                self.busy = True
                if self.timer is not None:
                    self.timer.cancel()
                self.transport.pause_reading()
                self.loop.create_task(self._serve(head, body))
            else:
                self.body.append(event)

    async def _serve(self, head: RequestHead, body: bytes) -> None:
        target = (head.path + head.query).decode("latin-1")
        try:
            status, headers, payload = await self.server.handler(
                head.method.decode("latin-1"), target, head.headers, body)
        except Exception:
            log.exception("Admin API request %s %s failed", head.method, target)
            status, headers, payload = 500, [(b"content-type", b"application/json")], \
                b'{"message":"An unexpected error occurred"}'
        if self.closed:
            return
        self._write(status, headers, payload, close=not head.keep_alive,
                    head_only=head.method == b"HEAD")
        self.busy = False
        if not self.closed:
            self.transport.resume_reading()
            self._arm(self.server.idle_timeout)
            self._pump()

    def _write(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, *,
               close: bool, head_only: bool) -> None:
        out = [status_line(status), b"server: carbonplane\r\ndate: ", http_date(), b"\r\n"]
        for name, value in headers:
            if name.lower() not in _DROP:
                out += (name, b": ", value, b"\r\n")
        if status not in _NO_BODY:
            out.append(b"content-length: %d\r\n" % len(body))
        if close:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        if status not in _NO_BODY and not head_only:
            out.append(body)
        self.transport.write(b"".join(out))
        if close:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
