"""WebSocket tunnels: the handshake's special cases, then a byte relay between two sockets.

A request is a WebSocket handshake (RFC 6455 §4.1, RFC 9110 §7.8) when it is HTTP/1.1, has no
body, its Connection names ``upgrade`` and its ``Upgrade`` is ``websocket`` (case-insensitive).
Such a request goes through the exchange like any other (filters, balancing, retries, timeouts;
a filter refusing it answers with its normal status and no tunnel is made); only these differ:

- the upstream request carries ``Connection: keep-alive, Upgrade`` and ``Upgrade: websocket``
  (Kong's two lines; everywhere else both are dropped as hop-by-hop);
- the response reader accepts a ``101 Switching Protocols`` for this request only;
- on a 101, ``switch_protocols`` relays the head (response-head filters run; ``Connection:
  upgrade`` and ``Upgrade: websocket`` are written by the proxy), takes both sockets away from
  the HTTP machinery and joins them in a ``Tunnel``; any other answer (200, 401, ...) is relayed
  as a normal response and the client connection stays HTTP.

Tunnel invariants:
- bytes are relayed as they come, both ways, unchanged; a side whose peer socket is over its
  write high-water mark stops being read until the peer drains (back-pressure);
- an EOF from one side is passed on as a FIN to the other (``write_eof``; a TLS socket, which
  cannot half-close, is closed after its buffer drains); a TLS client's close_notify is its EOF,
  passed on the same way, after which asyncio closes that TLS connection, so the tunnel ends
  there and nothing the upstream sends later reaches the client; the tunnel ends once both sides
  sent EOF or either connection is lost, and closing the other side flushes what it still has to
  write (a clean close, never a reset, except on a timeout or a server shutdown);
- idle timeout: no byte in either direction for the service's ``read_timeout`` closes both
  sides; a peer that does not read for ``write_timeout`` (writes blocked) does too;
- the request's log hooks run once, when the tunnel ends, with ``request_bytes`` /
  ``response_bytes`` counting the bytes relayed each way after the handshake.
"""

from __future__ import annotations

import logging

from carbonplane.http.hop import response_head_bytes
from carbonplane.http.model import FRAMING_NONE
from carbonplane.proxy.timers import Deadline

log = logging.getLogger("carbonplane.proxy")

UPGRADE_REQUEST_LINES = b"connection: keep-alive, Upgrade\r\nupgrade: websocket\r\n"
SWITCHED_LINES = b"connection: upgrade\r\nupgrade: websocket\r\n\r\n"


def is_websocket_handshake(head) -> bool:
    """True for a WebSocket opening handshake the proxy may tunnel (see the module docstring).
    Cheap for every other request: the Connection token is checked first."""
    if b"upgrade" not in head.connection_tokens:
        return False
    if head.version != b"1.1" or head.framing != FRAMING_NONE:
        return False
    value = head.get(b"upgrade")
    return value is not None and value.strip().lower() == b"websocket"


def switch_protocols(ex, head) -> None:
    """The upstream answered 101 to ``ex``'s handshake (the exchange is RESPONDING, so nothing
    in it answers any more): relay the head, then tunnel."""
    conn = ex.conn
    ctx = ex.ctx
    ctx.upstream_answered = conn.clock()
    ctx.response = head
    ctx.source = "upstream"
    for hook in ex.chain.response_head:
        try:
            hook(ctx)
        except Exception:
            log.exception("response filter %r failed", hook)
    head = ctx.response
    settings = conn.settings
    lines = settings.response_lines(ctx) + SWITCHED_LINES
    data = response_head_bytes(101, head.reason, head.headers, lines, settings.response_drop)
    up, ex.up = ex.up, None
    # the upstream connection leaves its pool for good
    up.owner = None
    up.closed = True
    up.deadline.cancel()
    up.pool.discard(up)
    up.flush_writes()
    from_upstream = up.reader.take_buffered()
    from_client = conn.reader.take_buffered()
    ex._release_target(101, None)
    conn.deadline.cancel()
    conn.send_bytes(data)
    conn.flush_writes()  # the head goes before any tunnel byte
    upstream = ex.upstream
    tunnel = Tunnel(ex, conn.transport, up.transport, upstream.read_timeout, upstream.write_timeout)
    conn.paused = 0
    ex.up_paused = False
    tunnel.start(from_client, from_upstream, conn.reader.eof)


class _Side:
    """One socket of a tunnel, as the ``asyncio.Protocol`` its transport now talks to."""

    __slots__ = ("tunnel", "transport", "peer", "to_client", "eof", "blocked")

    def __init__(self, tunnel: Tunnel, transport, to_client: bool) -> None:
        self.tunnel = tunnel
        self.transport = transport
        self.peer: _Side | None = None
        self.to_client = to_client  # what this side reads goes to the client
        self.eof = False
        self.blocked = False  # this side's socket is over high-water

    def connection_made(self, transport) -> None:  # pragma: no cover - set_protocol only
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        tunnel = self.tunnel
        tunnel.relayed(len(data), self.to_client)
        peer = self.peer.transport
        if not peer.is_closing():
            peer.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer.eof:
            self.tunnel.close(None)
            return False
        transport = peer.transport
        if not transport.is_closing():
            if transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()  # TLS cannot half-close: close once the buffer is written
        return True  # keep this side open: the peer may still answer

    def connection_lost(self, exc) -> None:
        self.tunnel.close(exc)

    def pause_writing(self) -> None:
        self.blocked = True
        self.peer.transport.pause_reading()
        self.tunnel.writes_blocked()

    def resume_writing(self) -> None:
        self.blocked = False
        peer = self.peer.transport
        if not peer.is_closing():
            peer.resume_reading()
        self.tunnel.relayed(0, True)


class Tunnel:
    """The client and upstream sockets of one switched connection, relayed to each other."""

    __slots__ = ("ex", "client", "upstream", "deadline", "idle", "write_timeout", "ended", "clock")

    def __init__(self, ex, client_transport, upstream_transport, idle: float, write_timeout: float):
        self.ex = ex
        self.client = _Side(self, client_transport, False)
        self.upstream = _Side(self, upstream_transport, True)
        self.client.peer, self.upstream.peer = self.upstream, self.client
        loop = ex.conn.loop
        self.clock = loop.time
        self.deadline = Deadline(loop, self._timed_out)
        self.idle = idle
        self.write_timeout = write_timeout
        self.ended = False

    def start(self, from_client: bytes, from_upstream: bytes, client_eof: bool) -> None:
        """Take both sockets over; relay what each sent during the handshake (and the client's
        EOF, if it half-closed while waiting for the 101)."""
        for side in (self.client, self.upstream):
            side.transport.set_protocol(side)
            if not side.transport.is_closing():
                side.transport.resume_reading()
        self.deadline.set(self.clock() + self.idle)
        if from_upstream:
            self.upstream.data_received(from_upstream)
        if from_client:
            self.client.data_received(from_client)
        if client_eof:
            self.client.eof_received()
        for side in (self.client, self.upstream):  # a side gone during the handshake
            if side.transport.is_closing():
                self.close(None)

    def relayed(self, size: int, to_client: bool) -> None:
        ctx = self.ex.ctx
        if to_client:
            ctx.response_bytes += size
        else:
            ctx.request_bytes += size
        if not (self.client.blocked or self.upstream.blocked):
            self.deadline.when = self.clock() + self.idle  # lazy: no timer operation

    def writes_blocked(self) -> None:
        self.deadline.set(self.clock() + self.write_timeout)

    def _timed_out(self) -> None:
        blocked = self.client.blocked or self.upstream.blocked
        self.ex.ctx.error = "websocket peer stopped reading" if blocked else "websocket idle"
        for side in (self.client, self.upstream):
            side.transport.abort()
        self.close(None)

    def close(self, exc) -> None:
        """End the tunnel: close both sockets (queued bytes are written first), run the logs."""
        if self.ended:
            return
        self.ended = True
        self.deadline.cancel()
        for side in (self.client, self.upstream):
            if not side.transport.is_closing():
                side.transport.close()
        ex = self.ex
        conn = ex.conn
        ex.close_client = True
        ex._done()  # the exchange ends: logs are scheduled, the client connection is finished
        conn.connection_lost(exc)  # the server forgets the connection
