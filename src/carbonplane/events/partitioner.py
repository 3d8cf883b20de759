"""Key -> partition, identical to Kafka's Java client (``Utils.murmur2`` / ``toPositive`` % n).

librdkafka's ``murmur2_random`` partitioner, KafkaJS's default partitioner and the Java client's
``BuiltInPartitioner`` all compute ``(murmur2(key) & 0x7fffffff) % partitions`` for a non-null key,
so a key lands on the same partition whichever client produced it. Known vector: Java
``Utils.murmur2("21".getBytes())`` == -973932308.
"""

from __future__ import annotations

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (seed 0x9747b28c), returned as a signed 32-bit int like Java's."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    nblocks = length // 4
    for i in range(0, nblocks * 4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    tail = nblocks * 4
    rem = length & 3
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes | None, partitions: int, *, fallback: int = 0) -> int:
    """The partition for ``key`` among ``partitions``; keyless records go to ``fallback``."""
    if key is None:
        return fallback % partitions
    return (murmur2(key) & 0x7FFFFFFF) % partitions
