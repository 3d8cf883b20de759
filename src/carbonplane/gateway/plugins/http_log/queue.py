"""Kong's plugin queue (``kong/tools/queue.lua``) on asyncio: batching, coalescing, retries.

Entries are added from the log phase (``add``: a deque append, never waiting); a consumer task in
the same event loop takes them out in batches of at most ``max_batch_size``, waiting up to
``max_coalescing_delay`` seconds for a batch to fill, and hands each batch to ``send``. A failed
batch is retried after ``initial_retry_delay`` seconds, doubling up to ``max_retry_delay``, until
retrying would exceed ``max_retry_time`` since its first attempt; then it is dropped and logged
(Kong: "could not send entries, giving up after N retries"). With ``concurrency_limit`` 1 one
batch is in flight at a time (order kept); with -1 every batch is sent at once.

Bounds: at most ``max_entries`` entries (and ``max_bytes`` bytes when set) wait; beyond, the
oldest are dropped so that the newest data survives an outage. ``stats`` counts what was sent,
dropped (full queue), lost (retries exhausted) and the failed attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("carbonplane.gateway.plugins.http_log")

Sender = Callable[[list[bytes]], Awaitable[None]]


@dataclass
class QueueStats:
    sent: int = 0  # entries delivered
    dropped: int = 0  # entries dropped because the queue was full
    lost: int = 0  # entries dropped after their retries ran out
    failed_attempts: int = 0  # deliveries that failed (each retry counts)


class LogQueue:
    """One plugin instance's queue in one event loop; see the module docstring."""

    def __init__(self, name: str, settings: Mapping[str, Any], send: Sender) -> None:
        self.name = name
        self.batch_size = int(settings["max_batch_size"])
        self.delay = float(settings["max_coalescing_delay"])
        self.max_entries = int(settings["max_entries"])
        self.max_bytes = settings.get("max_bytes")
        self.max_retry_time = float(settings["max_retry_time"])
        self.initial_retry_delay = float(settings["initial_retry_delay"])
        self.max_retry_delay = float(settings["max_retry_delay"])
        self.concurrent = int(settings["concurrency_limit"]) == -1
        self.send = send
        self.stats = QueueStats()
        self._entries: deque[bytes] = deque()
        self._bytes = 0
        self._in_flight = 0
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None
        self._last_drop_log = 0.0

    def add(self, entry: bytes) -> None:
        """Queue one encoded entry (from the event loop's thread)."""
        entries = self._entries
        while entries and (
            len(entries) >= self.max_entries
            or (self.max_bytes and self._bytes + len(entry) > self.max_bytes)
        ):
            self._bytes -= len(entries.popleft())
            self.stats.dropped += 1
            self._log_drop()
        entries.append(entry)
        self._bytes += len(entry)
        self._idle.clear()
        self._nonempty.set()
        if len(entries) >= self.batch_size:
            self._full.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._consume(), name=f"http-log {self.name}"
            )

    async def drained(self, timeout: float = 10.0) -> None:
        """Wait until every queued entry was delivered, lost or dropped."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    def pending(self) -> int:
        return len(self._entries) + self._in_flight

    async def _consume(self) -> None:
        entries = self._entries
        while True:
            if not entries:
                self._nonempty.clear()
                if not self._in_flight:
                    self._idle.set()
                await self._nonempty.wait()
            if len(entries) < self.batch_size and self.delay > 0:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), self.delay)
                except asyncio.TimeoutError:
                    pass
            batch = [entries.popleft() for _ in range(min(self.batch_size, len(entries)))]
            if not batch:
                continue
            self._bytes -= sum(len(e) for e in batch)
            self._in_flight += len(batch)
            if self.concurrent:
                asyncio.get_running_loop().create_task(self._deliver(batch))
            else:
                await self._deliver(batch)

    async def _deliver(self, batch: list[bytes]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = self.initial_retry_delay
        retries = 0
        try:
            while True:
                try:
                    await self.send(batch)
                    self.stats.sent += len(batch)
                    return
                except Exception as exc:  # LogDeliveryError, or a bug in the sender
                    self.stats.failed_attempts += 1
                    if loop.time() - started + delay > self.max_retry_time:
                        self.stats.lost += len(batch)
                        log.error(
                            "http-log %s: could not send entries, giving up after %d "
                            "retries. %d queue entries were lost (%s)",
                            self.name,
                            retries,
                            len(batch),
                            exc,
                        )
                        return
                    log.warning("http-log %s: %s; retrying in %.3f s", self.name, exc, delay)
                await asyncio.sleep(delay)
                retries += 1
                delay = min(delay * 2, self.max_retry_delay)
        finally:
            self._in_flight -= len(batch)
            if not self._entries and not self._in_flight:
                self._idle.set()

    def _log_drop(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_drop_log >= 10.0:
            self._last_drop_log = now
            log.error(
                "http-log %s: queue full (%d entries), dropping the oldest (%d dropped so far)",
                self.name,
                self.max_entries,
                self.stats.dropped,
            )

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
