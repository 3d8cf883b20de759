"""proxy-cache's memory strategy: a byte-bounded LRU per worker process, and the purge journal
that carries Admin API purges to every worker.

Why per worker: Kong's memory strategy keeps entries in an nginx shared dict, one per host. Here
an entry is kept as the Python objects a hit sends (status, header list, body bytes), so a hit
costs a dict lookup and no copy or decoding; a host-wide store would have to copy and decode every
body out of shared memory under a lock on each hit. The price: each worker fills its own cache
(with N workers, up to N misses per key and N times the memory), which the docs state.

``MemoryStore`` (one per ``memory.dictionary_name`` per process, ``store_for``): entries
``Entry(status, headers, body, timestamp, ttl, expires)`` under their cache key; ``size`` is
the bytes of bodies and headers kept (plus a fixed overhead per entry), never above
``max_bytes``: storing evicts the least recently used entries first, and an entry larger than
``max_bytes`` is not stored. Expired entries (``expires``, monotonic seconds) read as absent.

``PurgeJournal``: a small file in the gateway's runtime directory, written by the Admin API's
process, read by every worker before each lookup (one 8-byte read of a mapped page). Layout: a
sequence number (u64) then ``RING`` slots of ``(seq u64, key 64 bytes)``; a purge writes its
slot, then the sequence. A key of 64 ``*`` purges everything. A worker that finds more than
``RING`` new purges flushes its caches (nothing purged is ever served). A process reads the
journal through one reader (``journal_for``) for as long as it lives, like its stores: handlers
are rebuilt on every config change, and a purge published between two versions must still
reach the entries the stores kept.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections import OrderedDict
from typing import NamedTuple

ENTRY_OVERHEAD = 256  # bytes counted per entry besides its body and header bytes
RING = 256
HEAD = struct.Struct("<Q")
SLOT = struct.Struct("<Q64s")
JOURNAL_SIZE = HEAD.size + RING * SLOT.size
FLUSH = b"*" * 64
JOURNAL_NAME = "proxy-cache.purge"


class Entry(NamedTuple):
    status: int
    headers: tuple  # ((name, value), ...) as stored: no hop-by-hop, no Content-Length
    body: bytes
    timestamp: float  # wall-clock seconds when stored (Age, max-age checks)
    ttl: float  # the response's freshness lifetime (Kong's res_ttl)
    expires: float  # monotonic seconds when the store drops it (storage TTL)
    size: int


class MemoryStore:
    """Byte-bounded LRU of one worker (see the module docstring)."""

    def __init__(self, name: str, max_bytes: int) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.evictions = 0

    def fetch(self, key: str) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            self.purge(key)
            return None
        self.entries.move_to_end(key)
        return entry

    def store(
        self, key: str, status: int, headers: tuple, body: bytes, ttl: float, storage_ttl: float
    ) -> bool:
        """Keep a response; False when it is larger than the whole store."""
        size = len(body) + sum(len(n) + len(v) for n, v in headers) + ENTRY_OVERHEAD
        if size > self.max_bytes or storage_ttl <= 0:
            return False
        self.purge(key)
        while self.size + size > self.max_bytes and self.entries:
            _, old = self.entries.popitem(last=False)
            self.size -= old.size
            self.evictions += 1
        self.entries[key] = Entry(
            status, headers, body, time.time(), ttl, time.monotonic() + storage_ttl, size
        )
        self.size += size
        return True

    def purge(self, key: str) -> bool:
        entry = self.entries.pop(key, None)
        if entry is None:
            return False
        self.size -= entry.size
        return True

    def flush(self) -> None:
        self.entries.clear()
        self.size = 0

    def resize(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        while self.size > max_bytes and self.entries:
            _, old = self.entries.popitem(last=False)
            self.size -= old.size


_stores: dict[str, MemoryStore] = {}


def store_for(name: str, max_bytes: int) -> MemoryStore:
    """This process's store named ``name`` (Kong's ``memory.dictionary_name``); the latest
    configured size applies."""
    found = _stores.get(name)
    if found is None:
        found = _stores[name] = MemoryStore(name, max_bytes)
    elif found.max_bytes != max_bytes:
        found.resize(max_bytes)
    return found


def all_stores() -> list[MemoryStore]:
    return list(_stores.values())


def _check_key(key: bytes) -> bytes:
    if len(key) != 64 or not all(c in b"0123456789abcdef" for c in key):
        raise ValueError(f"a proxy-cache key is 64 lowercase hex digits, got {key[:80]!r}")
    return key


_journals: dict[str, PurgeJournal] = {}


def journal_for(directory: str) -> PurgeJournal:
    """This process's reader of the purge journal in ``directory``."""
    found = _journals.get(directory)
    if found is None:
        found = _journals[directory] = PurgeJournal.in_dir(directory)
    return found


class PurgeJournal:
    """The purge journal file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < JOURNAL_SIZE:
                os.ftruncate(fd, JOURNAL_SIZE)
            self.mm = mmap.mmap(fd, JOURNAL_SIZE)
        finally:
            os.close(fd)
        self.seen = self.sequence()

    @classmethod
    def in_dir(cls, directory: str) -> PurgeJournal:
        return cls(os.path.join(directory, JOURNAL_NAME))

    def sequence(self) -> int:
        return HEAD.unpack_from(self.mm, 0)[0]

    def publish(self, key: str | None) -> None:
        """Ask every worker to drop ``key`` (None: everything). One writer: the Admin API."""
        raw = FLUSH if key is None else _check_key(key.encode("ascii", "replace"))
        seq = self.sequence() + 1
        SLOT.pack_into(self.mm, HEAD.size + (seq % RING) * SLOT.size, seq, raw)
        HEAD.pack_into(self.mm, 0, seq)

    def apply(self, stores: list[MemoryStore]) -> None:
        """Apply the purges published since the last call to ``stores``."""
        seq = HEAD.unpack_from(self.mm, 0)[0]
        if seq == self.seen:
            return
        keys: list[bytes] = []
        if seq - self.seen > RING:
            keys = [FLUSH]
        else:
            for n in range(self.seen + 1, seq + 1):
                got, key = SLOT.unpack_from(self.mm, HEAD.size + (n % RING) * SLOT.size)
                keys.append(key if got == n else FLUSH)
        self.seen = seq
        for key in keys:
            for store in stores:
                if key == FLUSH:
                    store.flush()
                else:
                    store.purge(key.decode("ascii"))
