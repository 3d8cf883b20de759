"""The answers a client connection makes itself: local responses, errors, its timeouts.

``respond_local`` writes a proxy-made response (a ``LocalResponse`` from the app or a filter,
or the engine's 4xx/5xx) after the chain's response-head hooks; ``write_error`` answers before
any request exists (a malformed head, too many connections); ``reject`` answers a malformed
request; ``timed_out`` is the connection's one deadline firing and ``body_deadline`` when a
body being read times out (see ``downstream.py`` for which timeout runs when).

Invariants: a local response always carries its own Content-Length, Date and Server (whatever
the hooks left of those is dropped), the request id line when ids are on, and ``connection:
close`` when the connection will close; a HEAD request gets the head only. After ``close`` the
connection is marked ``closing``: nothing more is read or started on it.
"""

from __future__ import annotations

import logging

from carbonplane.errors import HttpError
from carbonplane.http.hop import http_date, status_line
from carbonplane.http.model import FRAMING_LENGTH, ResponseHead
from carbonplane.proxy.app import FilterChain, LocalResponse, RequestContext

log = logging.getLogger("carbonplane.proxy")

_LOCAL_DROP = frozenset(
    (b"content-length", b"transfer-encoding", b"connection", b"server", b"date")
)
_RESPONDING = 3  # exchange.py's RESPONDING state


def respond_local(
    conn, ctx: RequestContext, local: LocalResponse, chain: FilterChain, close: bool
) -> None:
    """Write a proxy-made response (after the chain's response-head hooks)."""
    headers, body = local.render(ctx.request_id, ctx.request, conn.settings.error_default_type)
    ctx.response = ResponseHead(local.status, b"", b"1.1", list(headers), FRAMING_LENGTH, len(body))
    ctx.source = "proxy"
    for hook in chain.response_head:
        try:
            hook(ctx)
        except Exception:
            log.exception("response filter %r failed", hook)
    head = ctx.response
    req = ctx.request
    close = close or conn.closing or conn.draining or not req.keep_alive
    write_response(
        conn,
        head.status,
        head.reason,
        head.headers,
        body,
        close,
        conn.settings.local_lines(ctx, conn.clock()),
        req.method == b"HEAD",
        req.version,
    )
    ctx.response_bytes = len(body)


def write_response(conn, status, reason, headers, body, close, extra, head_only, version) -> None:
    """``extra``: the lines the settings add to a proxy-made response (request id, latency)."""
    settings = conn.settings
    out = [status_line(status, reason), settings.server_line, b"date: ", http_date(), b"\r\n"]
    for name, value in headers:
        if name not in _LOCAL_DROP:
            out += (name, b": ", value, b"\r\n")
    out.append(b"content-length: %d\r\n" % len(body))
    out.append(extra)
    if close:
        out.append(b"connection: close\r\n")
    elif version == b"1.0":
        out.append(b"connection: keep-alive\r\n")
    out.append(b"\r\n")
    if not head_only:
        out.append(body)
    conn.send_bytes(b"".join(out))
    if close:
        conn.closing = True


def write_error(conn, status: int, message: str, close: bool) -> None:
    headers, body = LocalResponse.engine_error(status, message).render(
        None, None, conn.settings.error_default_type
    )
    write_response(conn, status, b"", headers, body, close, b"", False, b"1.1")
    if close:
        conn.deadline.cancel()
        conn.close_transport()


def timed_out(conn) -> None:
    ex = conn.exchange
    if ex is None:
        if conn.reader.buffered or conn.served == 0 and conn.head_started:
            write_error(conn, 408, "timed out reading the request head", close=True)
        else:
            conn.closing = True
            conn.close_transport()
    elif ex.state != _RESPONDING and ex.accepting_body:
        ex.respond(LocalResponse.engine_error(408, "timed out reading the request body"))
    else:  # the client stopped reading our response
        ex.ctx.error = "client send timeout"
        conn.abort()
        ex.abort()


def reject(conn, exc: HttpError) -> None:
    """A malformed request: its 4xx, and the connection closes (nothing after it is trusted)."""
    ex = conn.exchange
    if ex is None:
        write_error(conn, exc.status, exc.reason, close=True)
    elif ex.state != _RESPONDING:
        ex.respond(LocalResponse.engine_error(exc.status, exc.reason))
    else:
        conn.abort()
    conn.closing = True


def body_deadline(conn, ex) -> float:
    """When reading the body must have moved on: ``client_body_timeout`` after now, or
    earlier when the body falls under ``client_body_min_rate`` (after a first
    ``client_body_timeout`` of grace)."""
    config = conn.config
    timeout = config.client_body_timeout
    when = conn.loop.time() + timeout
    rate = config.client_body_min_rate
    if rate > 0.0:
        floor = conn.body_since + timeout + (ex.ctx.request_bytes - conn.body_since_bytes) / rate
        if floor < when:
            return floor
    return when
