"""An exchange's request body off the streaming path: holding it, reading it whole, filtering it.

Functions of an ``Exchange`` (``exchange.py``, whose ``request_body`` writes each piece upstream
as it arrives once an upstream connection is attached - the hot path stays there):

- **holding** (``hold``, ``with_held``): while the upstream connection is being made, pieces are
  held and go out behind the request head; above ``HIGH_WATER`` held bytes (and whenever the
  upstream socket is over its own high-water mark) the client is paused. On a route with
  ``buffer_request`` (``start_buffering``) the whole body is held before any upstream work, up
  to ``request_buffer_bytes`` (else 413): a trickling client then holds no upstream connection;
- **READING** (``read_body``): a request filter answered with a ``ReadBody`` (``bodyread.py``):
  the body goes to it, within its limit, and its answer ends the exchange;
- **request-body filters** (``filter_body``): each piece through the chain's ``on_request_body``
  hooks; a ``LocalResponse`` (or a failing hook: 500) answers at once and the rest of the body
  stays unread, so the client connection closes after the answer;
- the body's end (``request_end``): the filters' tail, the last chunk, and for a buffered route
  the upstream attempt.
"""

from __future__ import annotations

import logging

from carbonplane.http.chunked import LAST_CHUNK
from carbonplane.http.hop import CONTINUE_LINE
from carbonplane.http.model import FRAMING_LENGTH
from carbonplane.proxy import attempts
from carbonplane.proxy.app import LocalResponse
from carbonplane.proxy.bodyread import ReadBody

log = logging.getLogger("carbonplane.proxy")

HIGH_WATER = 256 * 1024  # held request bytes above which the client is paused
_DONE, _BUFFERING, _READING = 4, 5, 6  # exchange.py's states
_PAUSE_PENDING = 1  # downstream.py's pause reason for held body bytes


def start_buffering(ex) -> bool:
    """BUFFERING a ``buffer_request`` route's body; False when its length is over the limit
    (answered 413)."""
    req = ex.ctx.request
    limit = ex.conn.config.request_buffer_bytes
    if req.framing == FRAMING_LENGTH and req.content_length > limit:
        attempts.too_large(ex, limit)
        return False
    ex.state = _BUFFERING  # request_end() goes on
    return True


def hold(ex, data: bytes) -> None:
    """Hold a piece while no upstream connection is attached (connecting, or buffering)."""
    if ex.pending is None:
        ex.pending = []
    ex.pending.append(data)
    ex.pending_size += len(data)
    if ex.buffering:  # reading goes on to the end, within the buffer
        limit = ex.conn.config.request_buffer_bytes
        if ex.pending_size > limit:
            attempts.too_large(ex, limit)
    elif ex.pending_size > HIGH_WATER:
        ex.conn.pause_for(_PAUSE_PENDING, True)


def with_held(ex, head: bytes) -> bytes:
    """The request head followed by the held pieces, which are then no longer held."""
    data = b"".join([head, *ex.pending])
    ex.pending = None
    ex.pending_size = 0
    ex.conn.pause_for(_PAUSE_PENDING, False)
    return data


def read_body(ex, reader: ReadBody) -> None:
    """READING: the body goes to ``reader``, whose answer ends the exchange (bodyread.py)."""
    req = ex.ctx.request
    if ex.request_done:
        return ex.respond(reader.answer(ex.ctx))
    if req.framing == FRAMING_LENGTH and reader.too_large(req.content_length):
        return ex.respond(reader.refusal())
    ex.reader = reader
    ex.state = _READING
    if req.expect_continue:
        ex.conn.send_bytes(CONTINUE_LINE)


def filter_body(ex, data: bytes, end: bool) -> bytes:
    """``data`` through the request-body hooks; ``b""`` after a hook answered locally."""
    for hook in ex.chain.request_body:
        try:
            data = hook(ex.ctx, data, end)
        except Exception:
            log.exception("request body filter %r failed", hook)
            data = LocalResponse.engine_error(500, "An unexpected error occurred")
        if isinstance(data, LocalResponse):
            ex.request_done = False  # the rest of the body stays unread: close after
            ex.respond(data)
            return b""
    return data


def request_end(ex) -> None:
    """The client's request body ended."""
    ex.request_done = True
    if ex.state == _READING:
        return ex.respond(ex.reader.answer(ex.ctx))
    if ex.chain.request_body:
        tail = filter_body(ex, b"", True)
        if tail:
            ex._send_body(b"%x\r\n%b\r\n" % (len(tail), tail) if ex.chunked_request else tail)
        if ex.state == _DONE:
            return
    if ex.chunked_request:
        ex._send_body(LAST_CHUNK)
    if ex.state == _BUFFERING:  # the whole body is here: now the upstream
        ex.ctx.upstream_started = ex.conn.clock()
        ex._try_target()
