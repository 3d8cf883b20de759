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

HEADERS_VAR = "rate_limit_headers"
_SMALL = tuple(b"%d" % i for i in range(4096))


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
            cells = self._cells(ident, windows)
        try:
            admitted, usages = self.store.take(cells, now_ms)
        except RateLimitStoreError as exc:
            return handler._store_failed(exc)
        if not admitted:
            return handler._verdict(ctx, admitted, usages, windows, now_ms)
        headers = self._headers(usages, windows, now_ms)
        shared = ctx.vars
        pending = shared.get(HEADERS_VAR)
        if pending is None:
            shared[HEADERS_VAR] = headers
        else:
            pending.extend(headers)
        return None

    def _cells(self, ident: str, windows: tuple) -> list:
        base = f"{self.prefix}{ident}:"
        cells = [(f"{base}{w[0]}:{period}".encode(), w[2], limit, None, 0.0)
                 for period, limit, w in zip(self.periods, self.limits, windows)]
        if len(self.cells) < 10_000:
            self.cells[ident] = cells
        return cells

    def _headers(self, usages: list, windows: tuple, now_ms: int) -> list:
        """Kong's headers of an admitted request (``Handler._headers`` with ``admitted``)."""
        limits = self.limits
        remaining_names = self.remaining_names
        headers = []
        n = len(limits)
        best = 0
        low = 0
        best_text = b""
        for i in range(n):
            remaining = limits[i] - usages[i] - 1
            text = _SMALL[remaining] if 0 <= remaining < 4096 else b"%d" % remaining
            headers.append(self.limit_lines[i])
            headers.append((remaining_names[i], text))
            if i == 0 or remaining <= low:
                best = i
                low = remaining
                best_text = text
        window = windows[best]
        start = window[0]
        left_ms = window[1] - start - (now_ms - start) // 1000 * 1000  # windows.reset_seconds
        reset = max(1, -(-left_ms // 1000))
        headers.append(self.best_limit_lines[best])
        headers.append((b"ratelimit-remaining", best_text))
        headers.append((b"ratelimit-reset", _SMALL[reset] if reset < 4096 else b"%d" % reset))
        return headers
