"""Lazy deadlines: one timer handle per connection, re-armed only when a deadline moves earlier.

Moving a deadline later (the common case: each request or read pushes it forward) is a plain
attribute store; the armed timer, when it fires early, sees the later deadline and re-arms
itself for it. So a keep-alive connection serving many requests costs no timer operations per
request, while an expired deadline still fires within the loop's clock resolution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    """Call ``callback()`` once ``loop.time()`` passes ``when`` (None = no deadline)."""

    __slots__ = ("_loop", "_callback", "when", "_handle", "_armed_for")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self.when: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = 0.0

    def set(self, when: float) -> None:
        self.when = when
        if self._handle is None or when < self._armed_for:
            if self._handle is not None:
                self._handle.cancel()
            self._armed_for = when
            self._handle = self._loop.call_at(when, self._fire)

    def clear(self) -> None:
        """No deadline; the armed timer (if any) will find nothing to do and stop."""
        self.when = None

    def cancel(self) -> None:
        self.when = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        when = self.when
        if when is None:
            return
        if self._loop.time() < when:
            self._armed_for = when
            self._handle = self._loop.call_at(when, self._fire)
            return
        self.when = None
        self._callback()
