"""A small HTTP/1.1 server for the Admin API (and nothing else): not on the proxy's hot path.

It reads requests with the project's sans-IO reader (``carbonplane.http``: the same strict
framing rules as the proxy; encoded slashes kept, since Admin API paths unquote their own
segments), checks each head with an ``AdminGuard`` (Host, cross-origin writes, admin token;
``gateway/admin/guard.py``) *before* reading its body, buffers the body up to ``max_body`` bytes
(413 beyond), and hands ``(method, target, headers, body)`` to an async handler returning
``(status, headers, body)``. Responses are framed here (Content-Length; none for 204/304 and
HEAD). One request at a time per connection, keep-alive, ``Expect: 100-continue`` answered only
once the head passed the guard.

Bounds against slow or hostile clients (each closes the connection):
- at most ``max_connections`` open connections; one more is closed as it is accepted;
- a request head must be complete within ``header_timeout`` of its first byte (or of the
  connection's start): a total deadline, not one that restarts with every byte;
- a body must arrive within ``body_timeout`` plus one second per ``min_body_rate`` bytes
  received (the deadline moves only with data actually received);
- a connection idle between requests for ``idle_timeout`` is closed;
- a client that does not read its answers stops being read once the transport's write buffer is
  above its high-water mark (no further request is parsed, so answers cannot pile up in memory),
  and is closed after ``idle_timeout`` unless it drains them;
- a refused request (guard, 413, malformed) is answered with ``connection: close``; the server
  then stops sending and discards what the client still sends for at most ``linger`` seconds
  (and ``max_linger_bytes``) so that the answer is not lost to a reset, then closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from carbonplane.errors import HttpError
from carbonplane.gateway.admin.guard import AdminGuard, refusal
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
HEAD, BODY, BUSY, IDLE, LINGER = range(5)


class AdminServer:
    """Serve ``handler`` on one or more listening sockets."""

    def __init__(
        self,
        handler: Handler,
        *,
        guard: AdminGuard | None = None,
        max_body: int = 16 * 1024 * 1024,
        max_connections: int = 64,
        header_timeout: float = 10.0,
        body_timeout: float = 10.0,
        min_body_rate: int = 64 * 1024,
        idle_timeout: float = 60.0,
        linger: float = 2.0,
        max_linger_bytes: int = 1024 * 1024,
    ) -> None:
        self.handler = handler
        self.guard = guard if guard is not None else AdminGuard()
        # the body limit is enforced here, after the guard: an unauthenticated head gets 401
        self.parser = RequestHeadParser(Limits(max_body_bytes=None), escaped_slash="keep")
        self.max_body = max_body
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.min_body_rate = min_body_rate
        self.idle_timeout = idle_timeout
        self.linger = linger
        self.max_linger_bytes = max_linger_bytes
        self.connections: set[_AdminConnection] = set()
        self.refused_connections = 0
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
        self.local_host: str | None = None
        self.head: RequestHead | None = None
        self.body: list[bytes] = []
        self.phase = HEAD
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None
        self.body_start = 0.0
        self.body_bytes = 0
        self.lingered = 0
        self.write_paused = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        server = self.server
        if len(server.connections) >= server.max_connections:
            server.refused_connections += 1
            self.closed = True
            transport.abort()
            return
        server.connections.add(self)
        sockname = transport.get_extra_info("sockname")
        self.local_host = sockname[0] if isinstance(sockname, tuple) else None
        self._arm(server.header_timeout, self.expire)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.phase == IDLE and not self.closed:
            self.transport.resume_reading()
            self._pump()

    def data_received(self, data: bytes) -> None:
        if self.phase == LINGER:
            self.lingered += len(data)
            if self.lingered > self.server.max_linger_bytes:
                self.expire()
            return
        if self.phase == IDLE:  # the first byte of the next request starts its head deadline
            self.phase = HEAD
            self._arm(self.server.header_timeout, self.expire)
        self.reader.feed(data)
        self._pump()

    def eof_received(self) -> bool:
        if self.phase == LINGER:
            self.close()
            return False
        self.reader.feed_eof()
        self._pump()
        return True

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(seconds, callback)

    def _body_deadline(self) -> None:
        """Close unless the body has kept up with ``min_body_rate`` since its head."""
        s = self.server
        deadline = self.body_start + s.body_timeout + self.body_bytes / s.min_body_rate
        left = deadline - self.loop.time()
        if left <= 0:
            self.expire()
        else:
            self._arm(left, self._body_deadline)

    def _pump(self) -> None:
        while self.phase in (HEAD, BODY, IDLE) and not self.closed:
            try:
                event = self.reader.next_event()
            except HttpError as exc:
                body = json.dumps({"message": exc.reason}).encode()
                self._refuse((exc.status, [(b"content-type", b"application/json")], body))
                return
            if event is NEED_DATA:
                return
            if event is CONNECTION_CLOSED:
                self.close()
                return
            if isinstance(event, RequestHead):
                if not self._admit(event):
                    return
            elif event is END_OF_MESSAGE:
                head, body = self.head, b"".join(self.body)
                self.head, self.body = None, []
                self.phase = BUSY
                if self.timer is not None:
                    self.timer.cancel()
                self.transport.pause_reading()
                self.loop.create_task(self._serve(head, body))
            else:
                self.body_bytes += len(event)
                if self.body_bytes > self.server.max_body:
                    self._refuse(self._too_large())
                    return
                self.body.append(event)

    def _admit(self, head: RequestHead) -> bool:
        """Check a head before its body: refuse (and return False) or start reading the body."""
        refused = self.server.guard.check(head.method, head.headers, self.local_host)
        if refused is None and head.content_length > self.server.max_body:
            refused = self._too_large()
        if refused is not None:
            self._refuse(refused)
            return False
        self.head, self.phase = head, BODY
        self.body_start, self.body_bytes = self.loop.time(), 0
        self._body_deadline()
        if head.expect_continue:
            self.transport.write(CONTINUE_LINE)
        return True

    def _too_large(self) -> Response:
        return refusal(
            413, f"request body exceeds the Admin API's limit of {self.server.max_body} bytes"
        )

    def _refuse(self, response: Response) -> None:
        status, headers, body = response
        self._write(status, headers, body, close=True, head_only=False)

    async def _serve(self, head: RequestHead, body: bytes) -> None:
        target = (head.path + head.query).decode("latin-1")
        try:
            status, headers, payload = await self.server.handler(
                head.method.decode("latin-1"), target, head.headers, body
            )
        except Exception:
            log.exception("Admin API request %s %s failed", head.method, target)
            status, headers, payload = (
                500,
                [(b"content-type", b"application/json")],
                b'{"message":"An unexpected error occurred"}',
            )
        if self.closed:
            return
        self._write(
            status, headers, payload, close=not head.keep_alive, head_only=head.method == b"HEAD"
        )
        if not self.closed and self.phase == BUSY:
            self.phase = IDLE
            self._arm(self.server.idle_timeout, self.expire)
            if not self.write_paused:  # else resume_writing carries on once the client reads
                self.transport.resume_reading()
                self._pump()

    def _write(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        close: bool,
        head_only: bool,
    ) -> None:
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
            self._linger()

    def _linger(self) -> None:
        """Stop sending, discard what the client still sends for a while, then close: closing
        with unread bytes would reset the connection and could destroy the answer in flight."""
        if self.closed:
            return
        self.phase = LINGER
        self.head, self.body = None, []
        try:
            self.transport.write_eof()
        except (OSError, RuntimeError, NotImplementedError):
            self.close()
            return
        self.transport.resume_reading()
        self._arm(self.server.linger, self.expire)

    def expire(self) -> None:
        """A deadline passed: drop the connection now, unsent answers included (a graceful
        close would wait for a client that does not read)."""
        if not self.closed:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
            self.transport.abort()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
            if self.transport is not None:
                self.transport.close()
