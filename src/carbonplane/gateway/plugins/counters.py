"""Rate-limit counters shared by every worker of one host (policy ``local``), exact by design.

Kong's ``local`` policy keeps counters in an nginx shared dict and increments them in a timer
after the request was let through, so concurrent requests over-admit (Kong issues #2629, #3329,
#5311). Here the check and the increment are ONE atomic step under a host-wide lock: a request
is admitted only if every one of its windows is below its limit, and then all of them are
incremented before the lock is released. Exactly ``limit`` requests pass per window, whatever
the number of worker processes or concurrent clients.

``HostCounters`` is a fixed-size hash table in a memory-mapped file (``/dev/shm`` by default)
that any process of the host opens by path, guarded by an exclusive ``flock`` on the file (the
kernel releases it when a holder dies, so a SIGKILLed worker cannot wedge the others) plus a
thread lock (``flock`` does not exclude threads sharing a descriptor). A process forked after
opening gets its own descriptor on first use, since ``flock`` locks belong to the open file.
Where the C module ``_counters`` is built (setup.py; optional), ``take`` runs its locked step in
C: every name is located first, then lock, check, count and unlock run without Python code or
a GIL release in between, which is also what makes it atomic for this process's threads. The
Python paths below stay the specification (hosts without a compiler, big-endian hosts) and a
test runs all three on the same steps. Measured on the development machine (2 cores shared,
Python 3.11), a ``take`` of two windows: ~2.8 µs in Python, ~1.0 µs in C, of which ~0.8 µs
are the two ``flock`` calls; a round trip to a counter service in another process over a Unix
socket costs ~25 µs before any counting; see docs/plugins/rate-limiting.md.

Layout: a 64-byte header (magic, slot count, probe window), then the keys of 16
bytes (blake2b digest of the counter name; ``slots + PROBE - 1`` of them, so that every probe
window fits without wrapping) and as many values ``(expires_ms: i64, count: i64)``.
A name lives in one of the ``PROBE`` slots after its hash; a slot whose ``expires_ms`` has passed
is free (an all-zero slot has expired at 0). When the probe window of a new name holds only live
counters the store is full: ``take`` raises ``CounterStoreFull`` (the plugin then follows
``fault_tolerant``) rather than evicting a live counter and breaking exactness.

A ``take`` is given ``cells``: ``(name, expires_ms, limit, prev_name, prev_weight)`` tuples, one
per window. ``prev_name``/``prev_weight`` serve the sliding-window estimate
``count + floor(prev_count * prev_weight)``; fixed windows pass ``(None, 0.0)``. It returns
``(admitted, usages)`` where ``usages`` are the estimates *before* this request; nothing is
incremented unless every window admits. ``LocalCounters`` is the same contract inside one
process (tests, a single worker); ``RedisCounters`` (rate_limiting/redis_policy.py) is the
cluster-wide one.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import sys
import tempfile
import threading
from collections.abc import Sequence

from carbonplane.errors import RateLimitStoreError

try:  # built at install time where a C compiler exists (setup.py); optional
    from carbonplane.gateway.plugins._counters import local_sweep as _c_local_sweep
    from carbonplane.gateway.plugins._counters import local_take as _c_local_take
    from carbonplane.gateway.plugins._counters import take as _c_take
except ImportError:  # pragma: no cover - depends on the install
    _c_take = _c_local_take = _c_local_sweep = None

Cell = tuple[bytes, int, int, "bytes | None", float]

MAGIC = b"CPCTRS01"
HEADER = struct.Struct("<8sII48x")  # magic, slots, probe; 64 bytes
VALUE = struct.Struct("<qq")  # expires_ms, count
KEY_SIZE = 16  # == VALUE.size: a value sits at the same offset in its region as its key
PROBE = 16
DEFAULT_SLOTS = 1 << 17  # 131072 live counters, 4 MiB


class CounterStoreFull(RateLimitStoreError):
    """No free slot for a new counter: every slot of its probe window holds a live counter."""


def default_counter_path(name: str = "gateway") -> str:
    """Where a gateway's host-wide counters live: tmpfs when the host has one."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    return os.path.join(base, f"carbonplane-{os.getuid()}-{name}.counters")


_forks = 0  # fork generation of this process: a store compares it instead of calling getpid()


def _after_fork_in_child() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def _digest(name: bytes) -> bytes:
    d = hashlib.blake2b(name, digest_size=KEY_SIZE).digest()
    return d if any(d) else b"\x01" + d[1:]  # all-zero marks a never-used slot


class HostCounters:
    """The host-wide store: see the module docstring. Open with ``HostCounters.open(path)``."""

    def __init__(self, path: str, fd: int, mm: mmap.mmap, slots: int) -> None:
        self.path = path
        self._fd = fd
        self._mm = mm
        self.slots = slots
        self._mask = slots - 1
        self._values = HEADER.size + (slots + PROBE - 1) * KEY_SIZE
        self._thread_lock = threading.Lock()
        self._lock_fd = fd
        self._pid = os.getpid()
        self._forks = _forks
        # the values as native int64s: the file is little-endian ("<qq"), so only on such hosts
        self._q = memoryview(mm).cast("q") if sys.byteorder == "little" else None
        self._located: dict[bytes, tuple[bytes, int]] = {}
        self._c_take = _c_take if self._q is not None else None  # None: the Python paths

    @classmethod
    def open(cls, path: str | None = None, slots: int = DEFAULT_SLOTS) -> HostCounters:
        """Open (creating and initialising when new) the store at ``path``. ``slots`` must be a
        power of two; an existing store keeps the size it was created with."""
        path = path or default_counter_path()
        if slots < PROBE or slots & (slots - 1):
            raise ValueError(f"slots must be a power of two >= {PROBE}, got {slots}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one process initialises a new file
            try:
                slots = cls._initialise(fd, path, slots)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            size = HEADER.size + (slots + PROBE - 1) * (KEY_SIZE + VALUE.size)
            mm = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, mm, slots)

    @staticmethod
    def _initialise(fd: int, path: str, slots: int) -> int:
        if os.fstat(fd).st_size == 0:
            os.ftruncate(fd, HEADER.size + (slots + PROBE - 1) * (KEY_SIZE + VALUE.size))
            os.pwrite(fd, HEADER.pack(MAGIC, slots, PROBE), 0)
            return slots
        magic, existing, probe = HEADER.unpack(os.pread(fd, HEADER.size, 0))
        if magic != MAGIC or probe != PROBE:
            raise RateLimitStoreError(
                f"{path} is not a carbonplane counter store (or one of another version); "
                "remove it or configure another path")
        return existing

    def take(self, cells: Sequence[Cell], now_ms: int) -> tuple[bool, list[int]]:
        """Admit-and-count one request atomically across the host; see the module docstring."""
        if self._forks != _forks:
            self._reopen()
        c_take = self._c_take
        if c_take is not None:
            # atomic for this process's threads too: no thread lock (a process never mixes the
            # C step with the Python paths, which a test does only on separate files)
            result = c_take(self._mm, self._lock_fd, self._values, cells, self._located,
                            self._locate, now_ms)
            if result is None:
                raise self._full(cells, now_ms)
            return result
        locate = self._locate
        located = [(locate(c[0]), locate(c[3]) if c[3] else None) for c in cells]
        with self._thread_lock:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                return self._take_locked(cells, located, now_ms)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _reopen(self) -> None:
        """After a fork: a lock descriptor of our own (``flock`` locks belong to the open file,
        which a forked child would share with its parent)."""
        self._lock_fd = os.open(self.path, os.O_RDWR)
        self._pid = os.getpid()
        self._forks = _forks

    def _locate(self, name: bytes) -> tuple[bytes, int]:
        """(digest, offset of its probe window) of a counter name, cached per name."""
        found = self._located.get(name)
        if found is None:
            key = _digest(name)
            found = (key, HEADER.size + (int.from_bytes(key[:8], "little") & self._mask) * KEY_SIZE)
            if len(self._located) >= 65536:
                self._located.clear()
            self._located[name] = found
        return found

    def _take_locked(self, cells, located, now_ms: int) -> tuple[bool, list[int]]:
        """One request's check-and-count under the lock, reading and writing the values as
        native int64s (no struct tuples); same steps as ``_take_locked_portable``."""
        q = self._q
        if q is None:
            return self._take_locked_portable(cells, located, now_ms)
        mm, base = self._mm, self._values - HEADER.size
        usages: list[int] = []
        slots: list[int] = []
        admitted = True
        for cell, (current, prev) in zip(cells, located):
            key, start = current
            at = mm.find(key, start, start + PROBE * KEY_SIZE)
            if at >= 0 and (at - start) % KEY_SIZE:  # found across a slot boundary: look on
                at = self._find_at(key, start)
            usage = 0
            i = (base + at) >> 3 if at >= 0 else -1  # index of (expires_ms, count) in q
            if i >= 0 and q[i] > now_ms:
                usage = q[i + 1]
            if prev is not None and cell[4] > 0.0:
                prev_at = self._find_at(*prev)
                if prev_at >= 0:
                    j = (base + prev_at) >> 3
                    if q[j] > now_ms:
                        usage += int(q[j + 1] * cell[4])
            usages.append(usage)
            slots.append(i)
            if usage >= cell[2]:
                admitted = False
        if admitted:
            for cell, (current, _), i in zip(cells, located, slots):
                if i >= 0:
                    count = q[i + 1] + 1 if q[i] > now_ms else 1
                    q[i] = cell[1]
                    q[i + 1] = count
                else:
                    self._insert(current[0], cell[1], now_ms)
        return admitted, usages

    def _take_locked_portable(self, cells, located, now_ms: int) -> tuple[bool, list[int]]:
        mm, unpack, values = self._mm, VALUE.unpack_from, self._values - HEADER.size
        usages: list[int] = []
        offsets: list[int] = []
        admitted = True
        for cell, (current, prev) in zip(cells, located):
            key, start = current
            at = mm.find(key, start, start + PROBE * KEY_SIZE)
            if at >= 0 and (at - start) % KEY_SIZE:  # found across a slot boundary: look on
                at = self._find_at(key, start)
            usage = 0
            if at >= 0:
                expires, usage = unpack(mm, values + at)
                if expires <= now_ms:
                    usage = 0
            if prev is not None and cell[4] > 0.0:
                prev_at = self._find_at(*prev)
                if prev_at >= 0:
                    expires, count = unpack(mm, values + prev_at)
                    if expires > now_ms:
                        usage += int(count * cell[4])
            usages.append(usage)
            offsets.append(at)
            if usage >= cell[2]:
                admitted = False
        if admitted:
            for cell, (current, _), at in zip(cells, located, offsets):
                if at >= 0:
                    old_expires, count = unpack(mm, values + at)
                    VALUE.pack_into(mm, values + at, cell[1], count + 1 if old_expires > now_ms else 1)
                else:
                    self._insert(current[0], cell[1], now_ms)
        return admitted, usages

    def _find_at(self, key: bytes, start: int) -> int:
        """The byte offset of ``key`` in its probe window (live or expired), or -1."""
        end = start + PROBE * KEY_SIZE
        at = self._mm.find(key, start, end)
        while at >= 0 and (at - start) % KEY_SIZE:
            at = self._mm.find(key, at + 1, end)
        return at

    def _insert(self, key: bytes, expires: int, now_ms: int) -> None:
        slot = self._free_slot(key, now_ms)
        self._mm[HEADER.size + slot * KEY_SIZE:HEADER.size + (slot + 1) * KEY_SIZE] = key
        VALUE.pack_into(self._mm, self._values + slot * VALUE.size, expires, 1)

    def _free_slot(self, key: bytes, now_ms: int) -> int:
        first = int.from_bytes(key[:8], "little") & self._mask
        for slot in range(first, first + PROBE):
            if VALUE.unpack_from(self._mm, self._values + slot * VALUE.size)[0] <= now_ms:
                return slot
        raise self._store_full(first)

    def _store_full(self, first: int) -> CounterStoreFull:
        return CounterStoreFull(
            f"rate-limit counter store {self.path} is full around slot {first} ({self.slots} "
            "slots, all live); give it more slots or shorten the windows")

    def _full(self, cells: Sequence[Cell], now_ms: int) -> CounterStoreFull:
        """The error for a C ``take`` that found no free slot: the first new name's window."""
        for cell in cells:
            key, start = self._locate(cell[0])
            if self._find_at(key, start) < 0:
                return self._store_full((start - HEADER.size) // KEY_SIZE)
        return self._store_full(0)  # pragma: no cover - the C step reports only a new name

    def live_counters(self, now_ms: int) -> int:
        """How many counters are live at ``now_ms`` (for status pages and tests)."""
        live = 0
        for slot in range(self.slots + PROBE - 1):
            if VALUE.unpack_from(self._mm, self._values + slot * VALUE.size)[0] > now_ms:
                live += 1
        return live

    def close(self) -> None:
        if self._fd >= 0:
            if self._q is not None:
                self._q.release()
                self._q = None
            self._mm.close()
            if self._lock_fd != self._fd and self._pid == os.getpid():
                os.close(self._lock_fd)
            os.close(self._fd)
            self._fd = -1

    def __repr__(self) -> str:
        return f"HostCounters({self.path!r}, slots={self.slots})"


class LocalCounters:
    """The same contract inside one process (a dict): exact for one worker only."""

    def __init__(self) -> None:
        self._counts: dict[bytes, list[int]] = {}  # name -> [expires_ms, count]
        self._lock = threading.Lock()
        self._c_take = _c_local_take  # None: the Python steps below
        self._sweep_at = 0

    def take(self, cells: Sequence[Cell], now_ms: int) -> tuple[bool, list[int]]:
        counts = self._counts
        c_take = self._c_take
        if c_take is not None:  # the same steps in C, each atomic under the GIL without a lock
            if now_ms >= self._sweep_at:
                _c_local_sweep(counts, now_ms)
                self._sweep_at = now_ms + 1000
            return c_take(counts, cells, now_ms)
        with self._lock:
            if now_ms >= self._sweep_at:
                self._sweep(now_ms)
            usages: list[int] = []
            admitted = True
            for name, _, limit, prev, weight in cells:
                entry = counts.get(name)
                usage = entry[1] if entry is not None and entry[0] > now_ms else 0
                if prev is not None and weight > 0.0:
                    pentry = counts.get(prev)
                    if pentry is not None and pentry[0] > now_ms:
                        usage += int(pentry[1] * weight)
                usages.append(usage)
                if usage >= limit:
                    admitted = False
            if admitted:
                for name, expires, _, _, _ in cells:
                    entry = counts.get(name)
                    if entry is None or entry[0] <= now_ms:
                        counts[name] = [expires, 1]
                    else:
                        entry[0] = expires
                        entry[1] += 1
        return admitted, usages

    def _sweep(self, now_ms: int) -> None:
        """Drop expired counters (at most once a second)."""
        for name in [n for n, e in self._counts.items() if e[0] <= now_ms]:
            del self._counts[name]
        self._sweep_at = now_ms + 1000

    def close(self) -> None:
        self._counts.clear()
