"""The retries layer: whether a failed upstream attempt is tried again (Kong's ``retries``,
nginx's ``proxy_next_upstream error`` without its read-timeout retries).

- a failed *connect* (refused, unreachable, TLS failure, connect timeout) is retried on a freshly
  picked target while ``ctx.tries <= retries`` (``retry_connect``); the balance layer's picker
  avoids the targets this request already failed on while another one is eligible;
- a request written to a *reused* idle connection that broke before any response byte is re-sent
  once, on a new connection, only when it is idempotent and has no body (``resend_fresh``: the
  keep-alive close race; it does not count as a try).

Invariants: nothing is retried once response bytes arrived, nor a non-idempotent request once any
of it was written; ``retries`` is an int >= 0 (``check``, once per configuration). These rules
run only on a failure path, never on a request that succeeds at once.
"""

from __future__ import annotations

from carbonplane.errors import ConfigError
from carbonplane.http.model import FRAMING_NONE

DEFAULT = 5
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))


def check(retries: int, where: str | None = None) -> None:
    """Refuse a retry count that is not an integer >= 0, naming ``where``."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retries must be an integer >= 0, got {retries!r}", where=where)


def retry_connect(tries: int, retries: int) -> bool:
    """After the ``tries``-th attempt failed to connect: try another target?"""
    return tries <= retries


def resend_fresh(reused: bool, broken: bool, resent: bool, method: bytes, framing: int) -> bool:
    """An attempt on a ``reused`` connection failed before any response byte (``broken``: reset
    or closed, not a timeout): re-send the request once on a new connection? (``resent``: it
    already was.)"""
    return reused and broken and not resent and method in IDEMPOTENT and framing == FRAMING_NONE
