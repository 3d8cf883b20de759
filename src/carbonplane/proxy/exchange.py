"""One request's trip through the proxy: request filters, upstream attempts, response relay.

States: FILTERING (an async ``on_request`` verdict is pending) -> [BUFFERING (a buffered route:
the whole body is read from the client before any upstream work)] -> CONNECTING (no idle pooled
connection; dialling with the connect timeout) -> SENDING (head written, body streaming) ->
RESPONDING (upstream head relayed) -> DONE. Any state may jump to DONE with a local response
(filter verdict, 502/503/504) or an abort (client gone).

The upstream call runs the layers ``proxy/stack.py`` flattened into ``Upstream``: the balance
layer's picker per attempt (``pick``, exactly one ``release``), the pool per target, the
timeouts layer's deadlines (connect here, read/write in ``layers/pool.py``); a dial's outcome,
failures, retries and the failure statuses are ``attempts.py``'s. A WebSocket handshake
(``tunnel.py``) is an exchange too, until the upstream answers 101.

Body relay: request body pieces are written upstream as they arrive (re-chunked when chunked);
holding them while connecting or buffering, the READING state and the request-body filters are
``requestbody.py``'s. Response pieces of one upstream read go to the client as one piece, all of
a loop iteration's pieces in one write (``writes.py``); the upstream is paused while the
client's socket is over high-water.

Response framing: without response-body filters the upstream's framing is kept (a one-read
response is relayed in one step). With them the body may change length, so the upstream's
Content-Length is dropped and every response that can carry a body goes out chunked (or, when
the client connection closes after it, delimited by the close) - an empty one too, whether the
upstream said ``Content-Length: 0`` or sent an empty chunked body. A response that never carries
a body (to HEAD, 1xx, 204, 304: ``no_body``) gets no body bytes, whatever the filters return.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from carbonplane.http.chunked import LAST_CHUNK
from carbonplane.http.hop import CONTINUE_LINE, request_head_bytes, response_head_bytes
from carbonplane.http.model import (
    FRAMING_CHUNKED,
    FRAMING_CLOSE,
    FRAMING_LENGTH,
    FRAMING_NONE,
    ResponseHead,
)
from carbonplane.proxy import attempts, requestbody
from carbonplane.proxy.app import (
    LocalResponse,
    RequestContext,
    RouteDecision,
)
from carbonplane.proxy.bodyread import ReadBody
from carbonplane.proxy.tunnel import UPGRADE_REQUEST_LINES, is_websocket_handshake, switch_protocols

log = logging.getLogger("carbonplane.proxy")

FILTERING, CONNECTING, SENDING, RESPONDING, DONE, BUFFERING, READING = range(7)


class Exchange:
    __slots__ = (
        "state",
        "target",
        "pool",
        "up",
        "reused",
        "pending",
        "pending_size",
        "out_chunked",
        "close_client",
        "task",
        "up_paused",
        "relays_whole",
        "fresh_only",
        "conn",
        "loop",
        "ctx",
        "upstream",
        "chain",
        "request_done",
        "chunked_request",
        "out",
        "buffering",
        "upgrading",
        "reader",
    )

    def __init__(self, conn, ctx: RequestContext, decision: RouteDecision) -> None:
        self.state = FILTERING
        self.target = None
        self.pool = None
        self.up = None
        self.reused = False
        self.pending: list[bytes] | None = None
        self.pending_size = 0
        self.out_chunked = False
        self.close_client = False
        self.task: asyncio.Future | None = None
        self.up_paused = False
        self.fresh_only = False  # after a stale pooled connection: the re-send dials a new one
        self.conn = conn
        self.loop = conn.loop
        self.ctx = ctx
        self.upstream = decision.upstream
        self.chain = decision.filters
        framing = ctx.request.framing
        self.request_done = framing == FRAMING_NONE
        # a request-body filter may change the length: such bodies go upstream chunked
        self.chunked_request = framing == FRAMING_CHUNKED or (
            framing != FRAMING_NONE and self.chain.request_body_reframes
        )
        self.out: list[bytes] = []
        self.buffering = decision.buffer_request and not self.request_done
        self.reader = None  # a ReadBody when a filter answers from the whole body
        # no response-body filter: a one-read response may be relayed in one step (a 101 never
        # is: the reader's take_rest declines it, so it reaches upstream_head)
        self.relays_whole = not self.chain.response_body
        # a WebSocket handshake (tunnel.py); the C-speed token test first spares every other
        # request the call
        self.upgrading = b"upgrade" in ctx.request.connection_tokens and is_websocket_handshake(
            ctx.request
        )
        ctx.decision = decision
        ctx.upstream_target = decision.target
        ctx.upstream_host = decision.host

    # -- request side -------------------------------------------------------------------
    def start(self) -> None:
        if self.chain.request:
            return self._run_request_hooks(0)
        self._begin_upstream()

    def _run_request_hooks(self, index: int) -> None:
        hooks = self.chain.request
        while index < len(hooks):
            try:
                verdict = hooks[index](self.ctx)
            except Exception:
                log.exception("request filter %r failed", hooks[index])
                return self.respond(LocalResponse.engine_error(500, "An unexpected error occurred"))
            index += 1
            if verdict is None:
                continue
            if isinstance(verdict, LocalResponse):
                return self.respond(verdict)
            if type(verdict) is ReadBody:
                return requestbody.read_body(self, verdict)
            self.task = task = asyncio.ensure_future(verdict)
            task.add_done_callback(partial(self._filter_done, index=index))
            return
        self._begin_upstream()

    def _filter_done(self, task: asyncio.Future, index: int) -> None:
        self.task = None
        if self.state == DONE:
            return
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                log.error("request filter failed", exc_info=task.exception())
            return self.respond(LocalResponse.engine_error(500, "An unexpected error occurred"))
        verdict = task.result()
        if isinstance(verdict, LocalResponse):
            return self.respond(verdict)
        self._run_request_hooks(index)
        self.conn.pump()  # body events were held while the filter ran

    @property
    def accepting_body(self) -> bool:
        return self.state != FILTERING and self.state != DONE and not self.request_done

    def _begin_upstream(self) -> None:
        ctx = self.ctx
        req = ctx.request
        if self.buffering and not requestbody.start_buffering(self):
            return  # refused: 413
        if req.expect_continue and not self.request_done:
            self.conn.send_bytes(CONTINUE_LINE)
        if self.state != BUFFERING:
            ctx.upstream_started = self.conn.clock()
            self._try_target()

    def _try_target(self) -> None:
        ctx = self.ctx
        ctx.tries += 1
        upstream = self.upstream
        target = upstream.picker.pick(ctx)
        if target is None:
            return attempts.no_target(self)
        self.target = ctx.target = target
        self.pool = pool = self.conn.server.pool_for(target, upstream)
        up = None if self.fresh_only else pool.acquire()
        if up is not None:
            return self._attach(up, True)
        self.state = CONNECTING
        self.task = task = self.loop.create_task(pool.connect())
        timer = self.loop.call_later(upstream.connect_timeout, task.cancel)
        task.add_done_callback(partial(attempts.connected, self, timer=timer))

    def _attach(self, up, reused: bool) -> None:
        self.up = up
        self.reused = reused
        self.state = SENDING
        ctx = self.ctx
        req = ctx.request
        host = ctx.upstream_host
        if host is None:
            host = self.upstream.host_header(self.target)
        extra = self.conn.upstream_extra(ctx)
        if self.upgrading:
            extra += UPGRADE_REQUEST_LINES
        head = request_head_bytes(
            req,
            ctx.upstream_target,
            host,
            self.conn.forwarded(ctx),
            FRAMING_CHUNKED if self.chunked_request else req.framing,
            req.content_length,
            extra,
            self.conn.settings.request_drop,
        )
        if self.pending:
            head = requestbody.with_held(self, head)
        up.send(self, head, req.method, self.upstream.read_timeout, self.upstream.write_timeout)
        if self.upgrading:
            up.reader.upgrade = True  # a 101 may answer this request (and only this one)

    def request_body(self, data: bytes) -> None:
        self.ctx.request_bytes += len(data)
        if self.state == READING:
            if not self.reader.add(data):
                self.respond(self.reader.refusal())  # the rest stays unread: close after
            return
        if self.chain.request_body:
            data = requestbody.filter_body(self, data, False)
            if not data:
                return
        if self.chunked_request:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        self._send_body(data)

    def request_end(self) -> None:
        requestbody.request_end(self)

    def _send_body(self, data: bytes) -> None:
        if self.up is not None:
            self.up.write(data)
        elif self.state != DONE:
            requestbody.hold(self, data)

    def upstream_write_paused(self, paused: bool) -> None:
        self.conn.pause_for(2, paused)

    # -- response side ------------------------------------------------------------------
    def response_keep_alive(self) -> bool:
        return self.request_done and self.ctx.response.keep_alive

    def upstream_head(self, head: ResponseHead) -> None:
        if head.status == 101:  # only ever let through for a handshake: tunnel from here on
            self.state = RESPONDING
            return switch_protocols(self, head)
        self.out.append(self._relayed_head(head))

    def _relayed_head(self, head: ResponseHead) -> bytes:
        """Run the response-head hooks and serialise the head the client gets (final CRLF
        included); decides ``close_client`` and ``out_chunked``."""
        ctx = self.ctx
        ctx.upstream_answered = self.conn.clock()
        ctx.response = head
        ctx.source = "upstream"
        self.state = RESPONDING
        for hook in self.chain.response_head:
            try:
                hook(ctx)
            except Exception:
                log.exception("response filter %r failed", hook)
        head = ctx.response
        reframe = not self.relays_whole
        framing = head.framing
        if reframe and framing == FRAMING_NONE and not no_body(head.status, ctx.request.method):
            framing = FRAMING_LENGTH  # an empty body (Content-Length: 0): it still needs framing
        extra, close = self.conn.response_extra(ctx, framing, reframe)
        self.close_client = close
        self.out_chunked = not close and (
            reframe
            and framing != FRAMING_NONE
            or framing == FRAMING_CHUNKED
            or framing == FRAMING_CLOSE
        )
        if self.out_chunked:
            extra += b"transfer-encoding: chunked\r\n"
        settings = self.conn.settings
        drop = settings.response_drop_reframed if reframe else settings.response_drop
        return response_head_bytes(head.status, head.reason, head.headers, extra + b"\r\n", drop)

    def upstream_whole(self, head: ResponseHead, body: bytes) -> None:
        """A whole response in one upstream read (no response-body filters): head, body and
        end in one step, with what ``upstream_head``/``_body``/``_end`` would do."""
        data = self._relayed_head(head)  # a length-framed or empty body: never re-chunked
        self.ctx.response_bytes += len(body)
        self.conn.send_bytes(data + body if body else data)
        self._release_upstream()

    def upstream_body(self, data: bytes) -> None:
        for hook in self.chain.response_body:
            data = hook(self.ctx, data, False)
        self.ctx.response_bytes += len(data)
        if self.out_chunked:
            if data:
                self.out.append(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.out.append(data)

    def upstream_end(self) -> None:
        if self.chain.response_body:
            tail = b""
            for hook in self.chain.response_body:
                tail = hook(self.ctx, tail, True)
            ctx = self.ctx
            if tail and (self.out_chunked or not no_body(ctx.response.status, ctx.request.method)):
                self.upstream_body(tail)
        if self.out_chunked:
            self.out.append(LAST_CHUNK)
        self._release_upstream()

    def _release_upstream(self) -> None:
        """The response ended: the connection goes back to its pool, the target is released."""
        up, self.up = self.up, None
        if self.up_paused:
            up.transport.resume_reading()
        self.pool.release(up)
        self._release_target(self.ctx.response.status, None)
        if not self.request_done:
            self.close_client = True  # the upstream answered before the body ended
        self._done()

    def upstream_failed(self, failure: str, reason: str) -> None:
        attempts.upstream_failed(self, failure, reason)

    def flush(self) -> None:
        out = self.out
        if out:
            self.conn.send_bytes(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def pause_upstream(self, paused: bool) -> None:
        up = self.up
        if up is not None and paused != self.up_paused and not up.closed:
            self.up_paused = paused
            if paused:
                up.transport.pause_reading()
            else:
                up.transport.resume_reading()

    # -- endings ------------------------------------------------------------------------
    def respond(self, local: LocalResponse) -> None:
        """Answer with a proxy-made response (the upstream, if any, is abandoned)."""
        if self.state == DONE:
            return
        self.state = DONE
        up, self.up = self.up, None
        if up is not None:
            up.close()
        self._cancel_task()
        self._release_target(0, None)
        self.out.clear()
        self.conn.respond_local(self.ctx, local, local.filters or self.chain, not self.request_done)
        self.conn.exchange_done(self)

    def abort(self) -> None:
        """The client connection is gone: drop everything (logs still run)."""
        if self.state == DONE:
            return
        up, self.up = self.up, None
        if up is not None:
            up.close()
        self.ctx.error = self.ctx.error or "client closed the connection"
        self._cancel_task()
        self._done()

    def _done(self) -> None:
        self.state = DONE
        if self.target is not None:
            self._release_target(0, None)
        out = self.out
        if out:
            self.conn.send_bytes(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
        self.conn.exchange_done(self)

    def _cancel_task(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def _release_target(self, status: int, failure: str | None) -> None:
        target, self.target = self.target, None
        if target is not None:
            self.upstream.picker.release(self.ctx, target, status, failure)


def no_body(status: int, method: bytes) -> bool:
    """A response that never carries a body (RFC 9110 §6.4.1): 1xx, 204, 304, or to HEAD."""
    return status < 200 or status == 204 or status == 304 or method == b"HEAD"
