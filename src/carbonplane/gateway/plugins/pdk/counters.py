"""Rate-limit counters of one host (policy ``local``), exact by design.

Kong's ``local`` policy keeps counters in an nginx shared dict and increments them in a timer
after the request was let through, so concurrent requests over-admit (Kong issues #2629, #3329,
#5311). Here the check and the increment are ONE atomic step under a lock: a request is admitted
only if every one of its windows is below its limit, and then all of them are incremented before
the lock is released. Exactly ``limit`` requests pass per window, whatever the number of worker
processes or concurrent clients.

``CounterTable`` is a fixed-size hash table in memory; ``HostCounters`` keeps it in a
memory-mapped file (``/dev/shm`` by default) that any process of the host opens by path, guarded
by an exclusive ``flock`` on the file (the kernel releases it when a holder dies, so a SIGKILLed
worker cannot wedge the others) plus a thread lock (``flock`` does not exclude threads sharing a
descriptor). A process forked after opening gets its own descriptor on first use, since ``flock``
locks belong to the open file. ``LocalCounters`` is the same table in this process's private
memory (tests, a single worker, a gateway given no host-wide store): no file, no ``flock``.

The check-and-count step exists twice: ``CounterTable._take_locked`` below is the specification,
and ``_native/counters.c`` its native version (built where a C compiler exists, on little-endian
hosts since the table is little-endian): every name is located first, then lock, check, count
and unlock run without Python code or a GIL release in between, which also makes it atomic for
this process's threads. ``impl`` ("python" | "native") chooses one per table (default: native
where built); tests run every case on both. The Redis policy's Lua script
(rate_limiting/redis_policy.py) is the same contract on another backend. Measured on the
development machine (2 cores shared, Python 3.11), a ``take`` of two windows: ~2.8 us in Python,
~1.0 us in C, of which ~0.8 us are the two ``flock`` calls; see docs/plugins/rate-limiting.md.

Layout (constants in ``_native/layout.py``, shared with the C code through ``layout.h``): a
64-byte header (magic, slot count, probe window), then the keys of 16 bytes (blake2b digest of
the counter name; ``slots + PROBE - 1`` of them, so that every probe window fits without
wrapping) and as many values ``(expires_ms: i64, count: i64)``. A name lives in one of the
``PROBE`` slots after its hash; a slot whose ``expires_ms`` has passed is free (an all-zero slot
has expired at 0). When the probe window of a new name holds only live counters the table is
full: ``take`` raises ``CounterStoreFull`` (the plugin then follows ``fault_tolerant``) rather
than evicting a live counter and breaking exactness.

A ``take`` is given ``cells``: ``(name, expires_ms, limit, prev_name, prev_weight)`` tuples, one
per window. ``prev_name``/``prev_weight`` serve the sliding-window estimate
``count + floor(prev_count * prev_weight)``; fixed windows pass ``(None, 0.0)``. It returns
``(admitted, usages)`` where ``usages`` are the estimates *before* this request; nothing is
incremented unless every window admits. ``amount`` (default 1) is what each counter grows by
when admitted: response-ratelimiting counts what the upstream reports (``X-Kong-Limit``) with a
limit no usage reaches, and reads usages without counting with limit 0 (nothing admits).
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
from carbonplane.gateway.plugins.pdk._native.layout import (
    HEADER_SIZE,
    KEY_SIZE,
    MAGIC,
    PROBE,
    VALUE_SIZE,
)

try:  # built at install time where a C compiler exists (setup.py); optional
    from carbonplane.gateway.plugins.pdk._native.counters import take as _native_take
except ImportError:  # pragma: no cover - depends on the install
    _native_take = None

Cell = tuple[bytes, int, int, "bytes | None", float]

HEADER = struct.Struct("<8sII48x")  # magic, slots, probe
VALUE = struct.Struct("<qq")  # expires_ms, count
assert HEADER.size == HEADER_SIZE and VALUE.size == VALUE_SIZE
DEFAULT_SLOTS = 1 << 17  # 131072 live counters, 4 MiB
IMPLS = ("python", "native")
NATIVE_BUILT = _native_take is not None and sys.byteorder == "little"


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


def _impl(impl: str | None) -> str:
    if impl is None:
        return "native" if NATIVE_BUILT else "python"
    if impl not in IMPLS:
        raise ValueError(f"counter table impl must be one of {IMPLS}, got {impl!r}")
    if impl == "native" and not NATIVE_BUILT:
        raise ValueError(
            "counter table impl 'native': _native/counters.c is not built in this "
            "install (or the host is not little-endian); rebuild with make setup"
        )
    return impl


class CounterTable:
    """The table in ``mm`` (see the module docstring); ``lock_fd`` -1: this process's only."""

    def __init__(
        self, name: str, mm: mmap.mmap, slots: int, lock_fd: int, impl: str | None
    ) -> None:
        self.name = name
        self.impl = _impl(impl)
        self._mm = mm
        self.slots = slots
        self._mask = slots - 1
        self._values = HEADER_SIZE + (slots + PROBE - 1) * KEY_SIZE
        self._thread_lock = threading.Lock()
        self._lock_fd = lock_fd
        self._located: dict[bytes, tuple[bytes, int]] = {}
        self._native = _native_take if self.impl == "native" else None

    @staticmethod
    def size(slots: int) -> int:
        """Bytes of a table of ``slots`` slots."""
        if slots < PROBE or slots & (slots - 1):
            raise ValueError(f"slots must be a power of two >= {PROBE}, got {slots}")
        return HEADER_SIZE + (slots + PROBE - 1) * (KEY_SIZE + VALUE_SIZE)

    def take(self, cells: Sequence[Cell], now_ms: int, amount: int = 1) -> tuple[bool, list[int]]:
        """Admit-and-count one request atomically (each counter grows by ``amount``); see the
        module docstring."""
        native = self._native
        if native is not None:  # atomic for this process's threads too: no thread lock
            result = native(
                self._mm,
                self._lock_fd,
                self._values,
                cells,
                self._located,
                self._locate,
                now_ms,
                amount,
            )
            if result is None:
                raise self._full(cells, now_ms)
            return result
        locate = self._locate
        located = [(locate(c[0]), locate(c[3]) if c[3] else None) for c in cells]
        with self._thread_lock:
            if self._lock_fd < 0:
                return self._take_locked(cells, located, now_ms, amount)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                return self._take_locked(cells, located, now_ms, amount)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _locate(self, name: bytes) -> tuple[bytes, int]:
        """(digest, offset of its probe window) of a counter name, cached per name."""
        found = self._located.get(name)
        if found is None:
            key = _digest(name)
            found = (key, HEADER_SIZE + (int.from_bytes(key[:8], "little") & self._mask) * KEY_SIZE)
            if len(self._located) >= 65536:
                self._located.clear()
            self._located[name] = found
        return found

    def _take_locked(self, cells, located, now_ms: int, amount: int) -> tuple[bool, list[int]]:
        """One request's check-and-count under the lock: the specification of the C step."""
        mm, unpack, values = self._mm, VALUE.unpack_from, self._values - HEADER_SIZE
        usages: list[int] = []
        offsets: list[int] = []
        admitted = True
        for cell, (current, prev) in zip(cells, located):
            at = self._find_at(*current)
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
        if not admitted:
            return admitted, usages
        # free slots for the new counters, found before any write, none of them a slot that
        # this take rewrites (an expired counter of another window) or gave another new one
        taken = [(at - HEADER_SIZE) // KEY_SIZE for at in offsets if at >= 0]
        fresh: list[int] = []
        for (current, _), at in zip(located, offsets):
            if at < 0:
                fresh.append(self._free_slot(current[0], now_ms, taken + fresh))
        for cell, (current, _), at in zip(cells, located, offsets):
            if at >= 0:
                old_expires, count = unpack(mm, values + at)
                VALUE.pack_into(
                    mm, values + at, cell[1], count + amount if old_expires > now_ms else amount
                )
            else:
                slot = fresh.pop(0)
                mm[HEADER_SIZE + slot * KEY_SIZE : HEADER_SIZE + (slot + 1) * KEY_SIZE] = current[0]
                VALUE.pack_into(mm, self._values + slot * VALUE_SIZE, cell[1], amount)
        return admitted, usages

    def _find_at(self, key: bytes, start: int) -> int:
        """The byte offset of ``key`` in its probe window (live or expired), or -1."""
        end = start + PROBE * KEY_SIZE
        at = self._mm.find(key, start, end)
        while at >= 0 and (at - start) % KEY_SIZE:
            at = self._mm.find(key, at + 1, end)
        return at

    def _free_slot(self, key: bytes, now_ms: int, taken: list[int]) -> int:
        first = int.from_bytes(key[:8], "little") & self._mask
        for slot in range(first, first + PROBE):
            if (
                slot not in taken
                and VALUE.unpack_from(self._mm, self._values + slot * VALUE_SIZE)[0] <= now_ms
            ):
                return slot
        raise self._store_full(first)

    def _store_full(self, first: int) -> CounterStoreFull:
        return CounterStoreFull(
            f"rate-limit counter store {self.name} is full around slot {first} ({self.slots} "
            "slots, all live); give it more slots or shorten the windows"
        )

    def _full(self, cells: Sequence[Cell], now_ms: int) -> CounterStoreFull:
        """The error for a C ``take`` that found no free slot: the first new name's window."""
        for cell in cells:
            key, start = self._locate(cell[0])
            if self._find_at(key, start) < 0:
                return self._store_full((start - HEADER_SIZE) // KEY_SIZE)
        return self._store_full(0)  # pragma: no cover - the C step reports only a new name

    def live_counters(self, now_ms: int) -> int:
        """How many counters are live at ``now_ms`` (for status pages and tests)."""
        live = 0
        for slot in range(self.slots + PROBE - 1):
            if VALUE.unpack_from(self._mm, self._values + slot * VALUE_SIZE)[0] > now_ms:
                live += 1
        return live

    def close(self) -> None:
        if not self._mm.closed:
            self._mm.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, slots={self.slots}, impl={self.impl!r})"


class HostCounters(CounterTable):
    """The table in a file shared by the processes of the host: ``HostCounters.open(path)``."""

    def __init__(
        self, path: str, fd: int, mm: mmap.mmap, slots: int, impl: str | None = None
    ) -> None:
        super().__init__(path, mm, slots, fd, impl)
        self.path = path
        self._fd = fd
        self._pid = os.getpid()
        self._forks = _forks

    @classmethod
    def open(
        cls, path: str | None = None, slots: int = DEFAULT_SLOTS, impl: str | None = None
    ) -> HostCounters:
        """Open (creating and initialising when new) the store at ``path``. ``slots`` must be a
        power of two; an existing store keeps the size it was created with. ``impl``: which
        check-and-count step runs ("python" | "native"; default native where built)."""
        path = path or default_counter_path()
        cls.size(slots)
        _impl(impl)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one process initialises a new file
            try:
                slots = cls._initialise(fd, path, slots)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            mm = mmap.mmap(fd, cls.size(slots))
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, mm, slots, impl)

    @classmethod
    def _initialise(cls, fd: int, path: str, slots: int) -> int:
        if os.fstat(fd).st_size == 0:
            os.ftruncate(fd, cls.size(slots))
            os.pwrite(fd, HEADER.pack(MAGIC, slots, PROBE), 0)
            return slots
        magic, existing, probe = HEADER.unpack(os.pread(fd, HEADER_SIZE, 0))
        if magic != MAGIC or probe != PROBE:
            raise RateLimitStoreError(
                f"{path} is not a carbonplane counter store (or one of another version); "
                "remove it or configure another path"
            )
        return existing

    def take(self, cells: Sequence[Cell], now_ms: int, amount: int = 1) -> tuple[bool, list[int]]:
        if self._forks != _forks:
            self._reopen()
        return super().take(cells, now_ms, amount)

    def _reopen(self) -> None:
        """After a fork: a lock descriptor of our own (``flock`` locks belong to the open file,
        which a forked child would share with its parent)."""
        self._lock_fd = os.open(self.path, os.O_RDWR)
        self._pid = os.getpid()
        self._forks = _forks

    def close(self) -> None:
        if self._fd >= 0:
            super().close()
            if self._lock_fd != self._fd and self._pid == os.getpid():
                os.close(self._lock_fd)
            os.close(self._fd)
            self._fd = -1


class LocalCounters(CounterTable):
    """The same table in this process's private memory: exact for one worker only (a forked
    child gets a copy of its own)."""

    def __init__(self, slots: int = DEFAULT_SLOTS, impl: str | None = None) -> None:
        mm = mmap.mmap(-1, self.size(slots), flags=mmap.MAP_PRIVATE)
        HEADER.pack_into(mm, 0, MAGIC, slots, PROBE)
        super().__init__("<process memory>", mm, slots, -1, impl)
