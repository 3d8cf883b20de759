"""Rate-limit windows: Kong's calendar-aligned fixed windows and our sliding-window estimate.

Fixed windows (Kong's ``kong/tools/timestamp.lua get_timestamps``): each period's window starts
at the UTC calendar boundary that contains now — the second, minute, hour, day (00:00 UTC),
month (the 1st, 00:00 UTC) and year (Jan 1st). A counter is named after its window start, so a
new window starts from zero. ``RateLimit-Reset`` is Kong's ``max(1, size - floor(elapsed))``
with sizes 1/60/3600/86400 s; for month and year we count to the true end of the calendar
window (Kong uses 30 and 365 days, which gives a wrong reset late in long months).

Sliding windows (carbonplane extension; Kong OSS has none): epoch-aligned windows of the
period's size (month = 30 days, year = 365 days) and the estimate
``count(current) + floor(count(previous) * (1 - elapsed / size))`` — the weighted sliding
window counter, which smooths the burst allowed at a fixed window's edge (up to 2x the limit
across two fixed windows) at the price of assuming the previous window's requests were evenly
spread. Its reset is the time to the current window's end.

``WindowClock.windows(now_ms)`` returns, per configured period, ``Window(start_ms, end_ms,
expires_ms, reset_s, prev_start_ms, prev_weight)``; results are cached per second because
calendar arithmetic is the costly part.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import NamedTuple

SIZES_S = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 2592000,
    "year": 31536000,
}


class Window(NamedTuple):
    start_ms: int
    end_ms: int
    expires_ms: int  # when the counter of this window may be dropped
    prev_start_ms: int  # sliding only (else -1)
    prev_weight: float  # sliding only (else 0.0)


def _month_bounds(now_s: int) -> tuple[int, int, int, int]:
    """(month start, month end, year start, year end) in epoch seconds, UTC."""
    d = datetime.fromtimestamp(now_s, timezone.utc)
    month_start = calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    nxt = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    month_end = calendar.timegm((*nxt, 1, 0, 0, 0))
    return (
        month_start,
        month_end,
        calendar.timegm((d.year, 1, 1, 0, 0, 0)),
        calendar.timegm((d.year + 1, 1, 1, 0, 0, 0)),
    )


class WindowClock:
    """The windows of a fixed set of periods for one algorithm, cached per second."""

    def __init__(self, periods: Sequence[str], sliding: bool) -> None:
        self.periods = tuple(periods)
        self.sliding = sliding
        self._cached_s = -1
        self._base: tuple = ()
        self._months: tuple[int, int, int, int, int] = (-1, 0, 0, 0, 0)  # day start, bounds

    def windows(self, now_ms: int) -> tuple[Window, ...]:
        now_s = now_ms // 1000
        if now_s != self._cached_s:
            self._base = self._compute(now_s)
            self._cached_s = now_s
        if not self.sliding:
            return self._base
        return tuple(
            w._replace(prev_weight=max(0.0, 1.0 - (now_ms - w.start_ms) / (w.end_ms - w.start_ms)))
            for w in self._base
        )

    def _compute(self, now_s: int) -> tuple[Window, ...]:
        out = []
        for period in self.periods:
            size = SIZES_S[period]
            if self.sliding:
                start = now_s - now_s % size
                out.append(
                    Window(
                        start * 1000,
                        (start + size) * 1000,
                        (start + 2 * size) * 1000,
                        (start - size) * 1000,
                        0.0,
                    )
                )
                continue
            if period in ("month", "year"):
                start, end = self._calendar(now_s, period)
            else:
                start = now_s - now_s % size
                end = start + size
            out.append(Window(start * 1000, end * 1000, end * 1000, -1, 0.0))
        return tuple(out)

    def _calendar(self, now_s: int, period: str) -> tuple[int, int]:
        day = now_s - now_s % 86400
        if self._months[0] != day:
            self._months = (day, *_month_bounds(now_s))
        _, m_start, m_end, y_start, y_end = self._months
        return (m_start, m_end) if period == "month" else (y_start, y_end)


def reset_seconds(window: Window, now_ms: int, sliding: bool) -> int:
    """``RateLimit-Reset`` for a window: whole seconds until it ends, at least 1 (Kong:
    ``max(1, size - floor(elapsed))``, identical for whole-second window bounds)."""
    if sliding:
        remaining_ms = window.end_ms - now_ms
    else:
        remaining_ms = window.end_ms - window.start_ms - (now_ms - window.start_ms) // 1000 * 1000
    return max(1, -(-remaining_ms // 1000))
