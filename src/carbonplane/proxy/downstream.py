"""The client side of the proxy: one ``asyncio.Protocol`` per client connection.

The connection feeds bytes to its ``RequestReader`` and *pumps* events: a head starts a request
(``app.route`` -> ``Exchange`` or a local response), body pieces and END go to the exchange.
Only one request is in flight per connection (HTTP/1.1 has no multiplexing); pipelined requests
wait unparsed in the reader, and reading pauses when that backlog passes ``HIGH_WATER``.

Timeouts (one lazy ``Deadline``): a connection must send a complete head within
``client_header_timeout`` of its first byte (of the connection, for the first request) - else
408 and close, which is what stops slowloris; body bytes must keep coming within
``client_body_timeout`` and, past that long, average ``client_body_min_rate`` bytes/s since the
body started or since the proxy last resumed reading (``local.body_deadline``) - else 408 and close,
which stops a trickled upload; an idle keep-alive connection closes after ``keepalive_timeout``; a
client that stops reading our response is cut after ``send_timeout``. While the proxy itself
waits (upstream, filters) no client timeout runs.

Reading is paused for any of these reasons (bits of ``paused``): 1 body buffered while the
upstream connection is being made, 2 the upstream socket is over high-water, 4 pipelined backlog.

A malformed request gets its 4xx with ``connection: close`` and the connection closes: after a
framing error nothing that follows on the stream can be trusted. A request whose body was not
read to the end (local response, early upstream answer) also closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from carbonplane.errors import HttpError
from carbonplane.http.model import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    FRAMING_CHUNKED,
    FRAMING_CLOSE,
    FRAMING_NONE,
    NEED_DATA,
)
from carbonplane.http.reader import RequestReader
from carbonplane.http.rules import is_token
from carbonplane.proxy.app import EMPTY_CHAIN, Client, FilterChain, LocalResponse, RequestContext
from carbonplane.proxy.exchange import Exchange
from carbonplane.proxy.local import body_deadline, reject, respond_local, timed_out, write_error
from carbonplane.proxy.requestbody import HIGH_WATER
from carbonplane.proxy.timers import Deadline
from carbonplane.proxy.writes import flush_output

log = logging.getLogger("carbonplane.proxy")

PAUSE_PENDING, PAUSE_UPSTREAM, PAUSE_BACKLOG = 1, 2, 4


class ClientConnection:  # an asyncio protocol (duck-typed: compiled, see downstream.pxd)
    __slots__ = (
        "server",
        "loop",
        "transport",
        "config",
        "settings",
        "reader",
        "client",
        "exchange",
        "deadline",
        "paused",
        "served",
        "closing",
        "draining",
        "head_started",
        "pumping",
        "port_bytes",
        "outbuf",
        "batch",
        "clock",
        "body_since",
        "body_since_bytes",
    )

    def __init__(self, server) -> None:
        self.server = server
        self.loop = server.loop
        self.clock = self.loop.time  # bound once: read several times per request
        self.transport: asyncio.Transport | None = None
        self.config = server.config
        self.settings = self.config.compiled
        self.reader = RequestReader(self.settings.head_parser)
        self.exchange: Exchange | None = None
        self.deadline = Deadline(self.loop, partial(timed_out, self))
        self.paused = 0
        self.served = 0
        self.closing = False  # the connection is finished: nothing more is read or started
        self.draining = False  # finish the request in flight, then close (server shutdown)
        self.head_started = False
        self.pumping = False
        self.outbuf: list[bytes] = []  # bytes for the client, written at the end of the iteration
        self.batch = server.batch
        self.body_since = 0.0  # when the minimum body rate started counting (loop time) ...
        self.body_since_bytes = 0  # ... and the body bytes read by then

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        server = self.server
        server.connections.add(self)
        server.accepted += 1
        peer = transport.get_extra_info("peername")
        ip, port = (peer[0], peer[1]) if isinstance(peer, tuple) else ("127.0.0.1", 0)
        sockname = transport.get_extra_info("sockname")
        local_port = sockname[1] if isinstance(sockname, tuple) else 0
        self.port_bytes = b"%d" % local_port
        tls = transport.get_extra_info("ssl_object")
        scheme = b"https" if tls is not None else b"http"
        trusted = self.settings.forwarding.trusts(ip)
        self.client = client = Client(ip, port, trusted, scheme, local_port)
        client.tls = tls
        client.server_ip = sockname[0] if isinstance(sockname, tuple) else ""
        client.serial = server.accepted
        if len(server.connections) > self.config.max_connections:
            server.refused += 1
            self.closing = True
            self._write_error(503, "too many connections", close=True)
            return
        self.deadline.set(self.loop.time() + self.config.client_header_timeout)

    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None and not (self.pumping or self.closing or self.draining):
            try:
                head = self.reader.whole_head(data)  # the common case: one whole head
                if head is not None:
                    return self._start(head)
            except HttpError as exc:
                return reject(self, exc)
            self.pump()
            return
        self.reader.feed(data)
        if ex is None or ex.accepting_body:
            self.pump()
        elif self.reader.buffered > HIGH_WATER:
            self.pause_for(PAUSE_BACKLOG, True)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        self.pump()
        return True  # half-close: the response may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.deadline.cancel()
        if self.exchange is not None:
            self.exchange.abort()
        self.server.forget(self)

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.pause_upstream(True)
        self.deadline.set(self.loop.time() + self.config.send_timeout)

    def resume_writing(self) -> None:
        ex = self.exchange
        if ex is not None:
            ex.pause_upstream(False)
            if ex.accepting_body:
                self.deadline.set(self.loop.time() + self.config.client_body_timeout)
            else:
                self.deadline.clear()
        elif not self.closing:
            self.deadline.set(self.loop.time() + self.config.keepalive_timeout)

    # -- reading requests ---------------------------------------------------------------
    def pump(self) -> None:
        """Move events from the reader to the current request, or start the next one."""
        if self.pumping or self.closing:
            return
        self.pumping = True
        reader = self.reader
        try:
            while not self.closing:
                ex = self.exchange
                if ex is None:
                    if self.draining:
                        self.closing = True
                        self.close_transport()
                        return
                    event = reader.next_event()
                    if event is NEED_DATA:
                        self._awaiting_head()
                        return
                    if event is CONNECTION_CLOSED:
                        self.closing = True
                        self.close_transport()
                        return
                    if event.framing == FRAMING_NONE:
                        reader.next_event()  # its END_OF_MESSAGE: the request is complete
                    self._start(event)
                    continue
                if ex.request_done or not ex.accepting_body:
                    if reader.buffered > HIGH_WATER:
                        self.pause_for(PAUSE_BACKLOG, True)
                    return
                event = reader.next_event()
                if type(event) is bytes:
                    ex.request_body(event)
                elif event is END_OF_MESSAGE:
                    self.deadline.clear()
                    ex.request_end()
                else:  # NEED_DATA
                    if not self.paused:
                        self.deadline.set(body_deadline(self, ex))
                    return
        except HttpError as exc:
            reject(self, exc)
        finally:
            self.pumping = False

    def _awaiting_head(self) -> None:
        if self.reader.buffered and not self.head_started:
            self.head_started = True  # header timeout counts from the head's first byte
            self.deadline.set(self.loop.time() + self.config.client_header_timeout)
        if self.paused & PAUSE_BACKLOG:
            self.pause_for(PAUSE_BACKLOG, False)

    def _start(self, head) -> None:
        self.head_started = False
        config = self.server.config
        if config is not self.config:  # a reload: this and later requests use the new config
            self.config = config
            self.settings = config.compiled
            self.reader.set_parser(self.settings.head_parser)
        settings = self.settings
        client = self.client
        server = self.server
        client_ip = (
            settings.forwarding.client_ip(client.peer_ip, True, head)
            if client.trusted
            else client.peer_ip
        )
        server.requests += 1
        client.requests += 1
        rid = b"%s%08x" % (settings.request_id_prefix, server.requests & 0xFFFFFFFF)
        if client.trusted and settings.request_id_name is not None:
            rid = _trusted_request_id(head, settings.request_id_name) or rid
        now = self.clock()
        ctx = RequestContext(head, client, client_ip, rid, now, int(time.time() * 1000))
        if head.framing == FRAMING_NONE:
            self.deadline.when = None  # Deadline.clear(), inlined
        else:
            self.deadline.set(now + config.client_body_timeout)
            self.body_since = now
            self.body_since_bytes = 0
        try:
            decision = config.app.route(ctx)
        except Exception:
            log.exception("route() failed for %r", head)
            decision = LocalResponse.engine_error(500, "An unexpected error occurred")
        if isinstance(decision, LocalResponse):
            chain = decision.filters or EMPTY_CHAIN
            self.respond_local(ctx, decision, chain, head.framing != FRAMING_NONE)
            self._finished(ctx, chain, head.framing != FRAMING_NONE)
            return
        self.exchange = ex = Exchange(self, ctx, decision)
        ex.start()

    # -- writing responses --------------------------------------------------------------
    def forwarded(self, ctx: RequestContext) -> bytes:
        client = ctx.client
        decision = ctx.decision
        prefix = decision.prefix if decision is not None else None
        forwarding = self.settings.forwarding
        if not client.trusted:
            base = client.forwarded_base
            if base is None:
                base = client.forwarded_base = forwarding.untrusted_base(
                    client.peer_ip, client.scheme, self.port_bytes
                )
            return forwarding.untrusted_fields(base, ctx.request, prefix)
        return forwarding.fields(
            ctx.request, client.peer_ip, ctx.client_ip, True, client.scheme, self.port_bytes, prefix
        )

    def upstream_extra(self, ctx: RequestContext) -> bytes:
        """Via and request-id lines for the upstream request (template compiled per config)."""
        settings = self.settings
        if settings.upstream_request_id:
            return settings.upstream_template % ctx.request_id
        return settings.via_line

    def response_extra(self, ctx: RequestContext, framing: int, reframe: bool):
        """(extra response header lines, close?) for a relayed upstream response."""
        req = ctx.request
        close = (
            not req.keep_alive
            or self.draining
            or not self.exchange.request_done
            or self.served + 1 >= self.config.keepalive_requests
        )
        if req.version == b"1.0":
            if reframe or framing == FRAMING_CHUNKED or framing == FRAMING_CLOSE:
                close = True  # HTTP/1.0 has no chunked: the body ends when we close
            extra = self.settings.response_lines(ctx)
            return extra + (
                b"connection: close\r\n" if close else b"connection: keep-alive\r\n"
            ), close
        extra = self.settings.response_lines(ctx)
        return (extra + b"connection: close\r\n" if close else extra), close

    def respond_local(
        self, ctx: RequestContext, local: LocalResponse, chain: FilterChain, close: bool
    ) -> None:
        """Write a proxy-made response (after the chain's response-head hooks)."""
        respond_local(self, ctx, local, chain, close)

    def _write_error(self, status: int, message: str, close: bool) -> None:
        write_error(self, status, message, close)

    # -- endings ------------------------------------------------------------------------
    def exchange_done(self, ex: Exchange) -> None:
        if self.exchange is ex:
            self.exchange = None
            self._finished(ex.ctx, ex.chain, ex.close_client or not ex.request_done)

    def _finished(self, ctx: RequestContext, chain: FilterChain, close: bool) -> None:
        ctx.finished = now = self.clock()
        if chain.log:
            self.batch.schedule_log(chain.log, ctx)
        self.served += 1
        if self.paused & (PAUSE_PENDING | PAUSE_UPSTREAM):
            self.pause_for(PAUSE_PENDING | PAUSE_UPSTREAM, False)
        if (
            close
            or self.closing
            or self.draining
            or self.transport.is_closing()
            or self.served >= self.config.keepalive_requests
        ):
            self.closing = True
            self.deadline.cancel()
            self.close_transport()
            return
        self.deadline.set(now + self.config.keepalive_timeout)
        if not self.pumping and (self.reader.buffered or self.reader.eof):
            self.pump()

    def abort(self) -> None:
        self.closing = True
        self.deadline.cancel()
        self.outbuf.clear()
        self.transport.abort()

    def send_bytes(self, data: bytes) -> None:
        """Queue ``data`` for the client; it is written with the rest at the iteration's end."""
        out = self.outbuf
        if not out:
            self.batch.schedule(self)
        out.append(data)

    def flush_writes(self) -> None:
        flush_output(self.outbuf, self.transport)

    def close_transport(self) -> None:
        """Close gracefully: queued bytes are written first."""
        flush_output(self.outbuf, self.transport)
        self.transport.close()

    def pause_for(self, reason: int, paused: bool) -> None:
        before = self.paused
        after = before | reason if paused else before & ~reason
        self.paused = after
        if before and not after:
            if not self.transport.is_closing():
                self.transport.resume_reading()
            ex = self.exchange
            if ex is not None and ex.accepting_body:
                now = self.loop.time()  # the minimum rate counts again from here
                self.body_since = now
                self.body_since_bytes = ex.ctx.request_bytes
                self.deadline.set(now + self.config.client_body_timeout)
        elif after and not before:
            self.transport.pause_reading()
            if reason != PAUSE_BACKLOG:
                self.deadline.clear()  # the proxy, not the client, is holding things up


def _trusted_request_id(head, name: bytes) -> bytes | None:
    """A trusted peer's request id is kept (one correlation id end to end) if it is sane."""
    value = head.get(name)
    if value and len(value) <= 128 and is_token(value):
        return value
    return None
