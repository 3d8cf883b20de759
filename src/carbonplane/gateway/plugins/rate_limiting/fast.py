"""rate-limiting's common case as a typed class: fixed windows, a synchronous store (policy
``local``), client headers shown. Compiled with ``fast.pxd`` where Cython is available (its
counters and limits are then C integers and its fields C struct members); plain Python otherwise.

``FixedWindows.on_request`` takes the handler's place for such configurations and does what
``Handler.on_request`` does - same counters, same verdict, same headers in the same order (the
handler's tests run through it) - handing the rare outcomes (a refusal, a store failure) back to
the handler. The handler's ``clock_ms`` is read on every request, so tests can still set it.
"""

from __future__ import annotations

from typing import Any

from carbonplane.errors import RateLimitStoreError
from carbonplane.gateway.plugins.rate_limiting.windows import reset_seconds

HEADERS_VAR = "rate_limit_headers"
_SMALL = tuple(b"%d" % i for i in range(4096))


def digits(value: int) -> bytes:
    """``b"%d" % value``, from a table for the small numbers (resets, nearly spent limits)."""
    return _SMALL[value] if 0 <= value < 4096 else b"%d" % value


def window_cells(base: str, periods: tuple, limits: tuple, windows: tuple, sliding: bool) -> list:
    """The counters (store cells) of one client, ``base`` being its name prefix, in ``windows``."""
    return [(f"{base}{w.start_ms}:{period}".encode(), w.expires_ms, limit,
             f"{base}{w.prev_start_ms}:{period}".encode() if sliding else None, w.prev_weight)
            for period, limit, w in zip(periods, limits, windows)]


def kong_headers(limit_lines: tuple, remaining_names: tuple, best_limit_lines: tuple,
                 remainders: list, windows: tuple, now_ms: int, sliding: bool) -> tuple:
    """(Kong's headers, reset) for the remaining counts of each period, in ascending window
    order: each period's limit and remaining, then the most restrictive one's (the lowest
    remaining; on a tie the later, longer window) with its reset."""
    headers = []
    best = 0
    low = remainders[0]
    best_text = b""
    for i in range(len(remainders)):
        remaining = remainders[i]
        text = digits(remaining)
        headers.append(limit_lines[i])
        headers.append((remaining_names[i], text))
        if remaining <= low:
            best = i
            low = remaining
            best_text = text
    reset = reset_seconds(windows[best], now_ms, sliding)
    headers.append(best_limit_lines[best])
    headers.append((b"ratelimit-remaining", best_text))
    headers.append((b"ratelimit-reset", digits(reset)))
    return headers, reset


def add_pending(shared: dict, headers: list) -> None:
    """Keep an admitted request's headers for the header filter (``on_response_head``)."""
    pending = shared.get(HEADERS_VAR)
    if pending is None:
        shared[HEADERS_VAR] = headers
    else:
        pending.extend(headers)


class FixedWindows:
    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.clock = handler.clock
        self.identify = handler.identify
        self.store = handler.store
        self.prefix = handler.prefix
        self.periods = handler.periods
        self.limits = handler.limits
        self.limit_lines = handler.limit_lines
        self.remaining_names = handler.remaining_names
        self.best_limit_lines = handler.best_limit_lines
        self.windows = None  # the windows the cached cells belong to
        self.cells = {}

    def on_request(self, ctx: Any) -> Any:
        handler = self.handler
        now_ms = handler.clock_ms()
        windows = self.clock.windows(now_ms)
        ident = self.identify(ctx)
        if windows is not self.windows:  # fixed windows change at most once a second
            self.windows = windows
            self.cells = {}
        cells = self.cells.get(ident)
        if cells is None:
            cells = window_cells(f"{self.prefix}{ident}:", self.periods, self.limits, windows, False)
            if len(self.cells) < 10_000:
                self.cells[ident] = cells
        try:
            admitted, usages = self.store.take(cells, now_ms)
        except RateLimitStoreError as exc:
            return handler._store_failed(exc)
        if not admitted:
            return handler._verdict(ctx, admitted, usages, windows, now_ms)
        limits = self.limits
        remainders = [limits[i] - usages[i] - 1 for i in range(len(limits))]  # none spent
        add_pending(ctx.vars, kong_headers(self.limit_lines, self.remaining_names,
                                           self.best_limit_lines, remainders, windows, now_ms,
                                           False)[0])
        return None
