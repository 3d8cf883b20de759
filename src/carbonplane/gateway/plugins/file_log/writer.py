"""Batched appends of log lines to a file, off the event loop: one writer thread per path.

The request side appends encoded lines to the batch, one ``bytearray`` (``add(line)``, or
``batch`` filled in place followed by ``added(size)``: file-log's C writer appends there, with no
bytes object per line); the batch is handed to the path's writer thread ``BATCH_DELAY`` after
its first line (an event-loop timer when a loop runs, at once otherwise), or earlier when it
reaches ``BATCH_BYTES``. The thread writes each batch with one ``os.write`` on an ``O_APPEND``
descriptor, so lines of several workers appending to the same file never interleave, and the
event loop never waits for the disk. The thread needs the GIL only to wake up and after the
syscall, which keeps its hand-offs with the event loop's thread few.

``reopen``: the file is opened for every batch (Kong reopens it for every request) so a
rotated file is followed; otherwise the descriptor stays open for the life of the process.
Failures to open or write are logged (at most once per 10 s per path) and the batch dropped;
``dropped`` counts lines lost that way. ``flush(timeout)`` waits until everything added so far
is written (tests, shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time

log = logging.getLogger("carbonplane.gateway.plugins.file_log")

# A hand-off wakes the writer thread, which then competes with the event loop for the GIL:
# few, large batches cost far less than many small ones (at 12k req/s, 20 ms = ~240 lines).
BATCH_BYTES = 1024 * 1024
BATCH_DELAY = 0.02  # seconds a line may wait for others before it is handed to the thread
FILE_MODE = 0o644
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


class AppendWriter:
    """The writer of one path; get it with ``writer_for(path, reopen)``."""

    def __init__(self, path: str, reopen: bool) -> None:
        self.path = path
        self.reopen = reopen
        self.dropped = 0
        self.written = 0
        self.batch = bytearray()  # the lines not handed over yet
        self._count = 0  # lines in it
        self._timer: asyncio.TimerHandle | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0  # batches handed over and not yet written
        self._idle = threading.Condition()
        self._fd = -1
        self._last_error = 0.0
        self._thread: threading.Thread | None = None  # started with the first batch

    def add(self, line: bytes) -> None:
        """Queue one line (with its newline) for writing."""
        self.batch += line
        self.added()

    def added(self) -> None:
        """One line was appended to ``batch`` in place: count it, hand over when due."""
        self._count += 1
        if len(self.batch) >= BATCH_BYTES:
            self.hand_off()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.hand_off()
                return
            self._timer = loop.call_later(BATCH_DELAY, self.hand_off)

    def hand_off(self) -> None:
        """Give the buffered lines to the writer thread now (it writes them in order)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._count:
            return
        batch, lines = self.batch, self._count
        self.batch, self._count = bytearray(), 0
        with self._idle:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"file-log {self.path}", daemon=True
                )
                self._thread.start()
        self._queue.put((batch, lines))

    def flush(self, timeout: float = 5.0) -> bool:
        """Hand over what is buffered and wait until it is written; False on timeout."""
        self.hand_off()
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._write(*item)
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _write(self, batch: bytearray, lines: int) -> None:
        try:
            if self._fd < 0:
                self._fd = os.open(self.path, _FLAGS, FILE_MODE)
            with memoryview(batch) as view:
                while view:  # a short write (rare for files): the rest follows
                    view = view[os.write(self._fd, view) :]
            self.written += lines
        except OSError as exc:
            self.dropped += lines
            self._close_fd()
            now = time.monotonic()
            if now - self._last_error >= 10.0:
                self._last_error = now
                log.error(
                    "file-log: cannot write %d line(s) to %s: %s (dropped %d so far)",
                    lines,
                    self.path,
                    exc,
                    self.dropped,
                )
            return
        if self.reopen:
            self._close_fd()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1


_writers: dict[tuple[str, bool], AppendWriter] = {}
_writers_lock = threading.Lock()


def writer_for(path: str, reopen: bool) -> AppendWriter:
    """The process's writer for ``path`` (shared by every handler writing there)."""
    key = (os.path.abspath(path), reopen)
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = AppendWriter(key[0], reopen)
        return writer
