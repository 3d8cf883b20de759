"""An exchange's upstream attempts going wrong: a dial's outcome, failures, retries, statuses.

Functions of an ``Exchange`` (``exchange.py``) that run off the keep-alive hot path: when a new
upstream connection was dialled, when an attempt failed, and the proxy-made answers that follow.

Failure -> status: no target 503, connect/reset/invalid response 502, any timeout 504, all with
Kong's JSON bodies. After the response head went to the client a failure can only abort the
client connection (the client sees a truncated message, never a forged complete one).

Retries follow the retries layer (``layers/retries.py``): another target after a failed connect
while ``Upstream.retries`` allows, and one re-send on a new connection after a stale keep-alive
connection broke before answering (the target did not fail, so it is not counted as a try).
"""

from __future__ import annotations

import asyncio

from carbonplane.proxy.app import FAILURE_CONNECT, FAILURE_RESET, FAILURE_TIMEOUT, LocalResponse
from carbonplane.proxy.layers.retries import resend_fresh, retry_connect

MESSAGES = {
    502: "An invalid response was received from the upstream server",
    503: "failure to get a peer from the ring-balancer",
    504: "The upstream server is timing out",
}
_DONE, _RESPONDING = 4, 3  # exchange.py's DONE and RESPONDING states


def connected(ex, task: asyncio.Task, timer: asyncio.TimerHandle) -> None:
    """The dial started by ``Exchange._try_target`` ended (connected, failed or timed out)."""
    timer.cancel()
    ex.task = None
    failure = reason = None
    if task.cancelled():
        failure, reason = FAILURE_TIMEOUT, "connect timed out"
    elif task.exception() is not None:
        failure, reason = FAILURE_CONNECT, f"connect failed: {task.exception()}"
    if ex.state == _DONE:  # the client left while we dialled
        if failure is None:
            up = task.result()
            up.reusable = True
            ex.pool.release(up)
        return
    if failure is None:
        return ex._attach(task.result(), False)
    ex._release_target(0, failure)
    retry_or_fail(ex, failure, reason)


def retry_or_fail(ex, failure: str, reason: str) -> None:
    ex.ctx.error = reason
    if retry_connect(ex.ctx.tries, ex.upstream.retries):
        return ex._try_target()
    failed(ex, failure)


def upstream_failed(ex, failure: str, reason: str) -> None:
    """The upstream connection broke, answered garbage or timed out (for ``Exchange``)."""
    if ex.state == _DONE:
        return
    up, ex.up = ex.up, None
    if up is not None:
        up.close()
    ex._release_target(0, failure)
    ctx = ex.ctx
    if ex.state == _RESPONDING:
        ctx.error = reason
        ex.out.clear()
        ex.conn.abort()
        return ex._done()
    req = ctx.request
    if resend_fresh(ex.reused, failure == FAILURE_RESET, ex.fresh_only, req.method, req.framing):
        ex.fresh_only = True  # a stale keep-alive connection: re-send once, on a new one
        ctx.tries -= 1  # the target did not fail; the idle connection had died
        return ex._try_target()
    ctx.error = reason
    failed(ex, failure)


def failed(ex, failure: str) -> None:
    """Answer a failed upstream call: 504 after a timeout, else 502 (Kong's bodies)."""
    status = 504 if failure == FAILURE_TIMEOUT else 502
    ex.respond(LocalResponse.engine_error(status, MESSAGES[status]))


def no_target(ex) -> None:
    """The balancer had no healthy target: 503."""
    ex.ctx.error = "no healthy target"
    # Kong's balancer answers through kong.response.error: JSON unless Accept says else
    ex.respond(LocalResponse.error(503, MESSAGES[503]))


def too_large(ex, limit: int) -> None:
    """A buffered request body outgrew the route's request buffer: 413."""
    ex.respond(
        LocalResponse.engine_error(
            413,
            f"Request body larger than the route's request buffer ({limit} bytes); "
            "send less, or turn request_buffering off for this route",
        )
    )
