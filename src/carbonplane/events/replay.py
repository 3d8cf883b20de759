"""Replay: copy a time or offset window of a topic to another topic or to a JSON-lines file, and
load such a file back into a topic.

Window (``ReplayWindow``): exactly one start (``from_time_ms`` or ``from_offset``), at most one end
(``to_time_ms`` or ``to_offset``); ranges are half-open, ``[from, to)``, so consecutive windows
never overlap. Offsets apply to every selected partition (use ``partition`` to pick one); times
select by record timestamp: the scan starts at the first record at or after ``from_time_ms``
(Kafka's offsets-for-times) and, since timestamps need not grow with offsets, reads on to the end
and keeps the records before ``to_time_ms``. The end is never later than the end the topic had when
the replay started, so replaying a topic into itself terminates.

Invariants:
- records are copied with the same key, value and headers (CloudEvents ``ce_*`` included) and, to a
  topic, the same record timestamp; the target partition is chosen by key (murmur2), not copied;
- per-partition order is kept (partitions are interleaved by timestamp, like ``events tail``);
- to a topic, every delivery is awaited; any failure or missing acknowledgement raises
  ``DeliveryError`` with counts, so a replay never reports success for records that were not
  written;
- to a file, lines are written to ``<file>.partial`` and renamed into place only when complete;
- from a file, every line is checked before the first record is sent (a bad line sends nothing).

The file format is ``record_json`` (the objects of ``events tail --json``), one per line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from carbonplane.errors import ConfigError, DeliveryError
from carbonplane.events.backends.base import Delivery, Headers, LogReader, ProducerBackend, Record
from carbonplane.events.tools import PartitionRange, merge_by_time, record_json, resolve_partitions

POLL_EVERY = 1000


@dataclass
class ReplayWindow:
    from_time_ms: int | None = None
    from_offset: int | None = None
    to_time_ms: int | None = None
    to_offset: int | None = None
    partition: int | None = None

    def check(self) -> None:
        if (self.from_time_ms is None) == (self.from_offset is None):
            raise ConfigError(
                "give exactly one start: --from-time or --from-offset", where="replay"
            )
        if self.to_time_ms is not None and self.to_offset is not None:
            raise ConfigError("give at most one end: --to-time or --to-offset", where="replay")
        for name in ("from_offset", "to_offset"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(
                    f"{value} is negative; offsets start at 0", where="--" + name.replace("_", "-")
                )

    def admits(self, record: Record) -> bool:
        ts = record.timestamp_ms
        return (self.from_time_ms is None or ts >= self.from_time_ms) and (
            self.to_time_ms is None or ts < self.to_time_ms
        )


@dataclass
class PartitionCopy:
    """What was copied from one source partition."""

    partition: int
    count: int = 0
    first_offset: int | None = None
    last_offset: int | None = None

    def add(self, offset: int) -> None:
        self.count += 1
        if self.first_offset is None:
            self.first_offset = offset
        self.last_offset = offset


@dataclass
class ReplaySummary:
    source: str
    target: str
    partitions: dict[int, PartitionCopy] = field(default_factory=dict)  # by source partition
    target_partitions: dict[int, int] = field(
        default_factory=dict
    )  # records acknowledged per target partition

    @property
    def total(self) -> int:
        return sum(c.count for c in self.partitions.values())

    def note(self, partition: int, offset: int) -> None:
        self.partitions.setdefault(partition, PartitionCopy(partition)).add(offset)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "copied": self.total,
            "partitions": [
                {
                    "partition": c.partition,
                    "count": c.count,
                    "firstOffset": c.first_offset,
                    "lastOffset": c.last_offset,
                }
                for c in sorted(self.partitions.values(), key=lambda c: c.partition)
            ],
            "targetPartitions": {str(p): n for p, n in sorted(self.target_partitions.items())},
        }


# -- selecting the window -------------------------------------------------------------------------


def plan(reader: LogReader, topic: str, window: ReplayWindow) -> list[PartitionRange]:
    """The offset range of each selected partition, ``[start, end)``, bounded by today's end."""
    window.check()
    ranges = []
    for p in resolve_partitions(reader, topic, window.partition):
        low, high = reader.watermarks(topic, p)
        if window.from_offset is not None:
            start = max(low, window.from_offset)
        else:
            start = max(low, reader.offset_for_time(topic, p, window.from_time_ms))
        end = high if window.to_offset is None else min(high, window.to_offset)
        ranges.append(PartitionRange(p, start, max(start, end)))
    return ranges


def select(reader: LogReader, topic: str, window: ReplayWindow) -> Iterator[Record]:
    """The window's records, partitions interleaved by timestamp, per-partition order kept."""
    for record in merge_by_time(reader, topic, plan(reader, topic, window)):
        if window.admits(record):
            yield record


# -- sinks ----------------------------------------------------------------------------------------


class TopicSink:
    """Produces records to ``target`` and, on ``finish``, waits for every acknowledgement."""

    def __init__(
        self, producer: ProducerBackend, target: str, summary: ReplaySummary, timeout_s: float
    ) -> None:
        self.producer, self.target, self.summary, self.timeout_s = (
            producer,
            target,
            summary,
            timeout_s,
        )
        self.sent = 0
        self.acked = 0
        self.failures: list[str] = []

    def _on_delivery(self, d: Delivery) -> None:
        if d.error is not None:
            self.failures.append(d.error)
            return
        self.acked += 1
        self.summary.target_partitions[d.partition] = (
            self.summary.target_partitions.get(d.partition, 0) + 1
        )

    def write(
        self, key: bytes | None, value: bytes | None, headers: Headers, timestamp_ms: int = 0
    ) -> None:
        self.producer.produce(self.target, value, key, headers, self._on_delivery, timestamp_ms)  # type: ignore[arg-type]
        self.sent += 1
        if self.sent % POLL_EVERY == 0:
            self.producer.poll(0)

    def finish(self) -> None:
        left = self.producer.flush(self.timeout_s)
        self.producer.poll(0)
        if self.failures:
            raise DeliveryError(
                self.target,
                f"{len(self.failures)} of {self.sent} records failed (first: {self.failures[0]})",
            )
        if left or self.acked != self.sent:
            raise DeliveryError(
                self.target,
                f"only {self.acked} of {self.sent} records were acknowledged within "
                f"{self.timeout_s:g} s; "
                "check the backend and replay the window again (replay copies, it does not move)",
            )


def replay_to_topic(
    reader: LogReader,
    producer: ProducerBackend,
    topic: str,
    window: ReplayWindow,
    target: str,
    *,
    timeout_s: float = 60.0,
) -> ReplaySummary:
    """Copy the window of ``topic`` to ``target`` (which must exist); returns once all are
    acknowledged."""
    reader.partitions(target)  # fail fast (UnknownTopicError) before reading anything
    summary = ReplaySummary(topic, target)
    sink = TopicSink(producer, target, summary, timeout_s)
    for record in select(reader, topic, window):
        sink.write(record.key, record.value, list(record.headers), record.timestamp_ms)
        summary.note(record.partition, record.offset)
    sink.finish()
    return summary


def replay_to_file(
    reader: LogReader, topic: str, window: ReplayWindow, path: Path
) -> ReplaySummary:
    """Write the window of ``topic`` to ``path`` as JSON lines (``record_json``), atomically."""
    summary = ReplaySummary(topic, str(path))
    partial = path.with_name(path.name + ".partial")
    encode = msgspec.json.Encoder().encode
    try:
        with partial.open("wb") as out:
            for record in select(reader, topic, window):
                out.write(encode(record_json(record)) + b"\n")
                summary.note(record.partition, record.offset)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot write the replay file: {exc.strerror or exc}", where=str(path)
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


# -- loading a file back --------------------------------------------------------------------------


class FileRecord(msgspec.Struct, rename={"decode_error": "decodeError"}):
    """One line of a replay file, as ``record_json`` wrote it."""

    value: Any
    topic: str = ""
    partition: int = -1
    offset: int = -1
    key: str | None = None
    headers: dict[str, str] = {}
    decode_error: str | None = None

    def wire(self) -> tuple[bytes | None, bytes | None, Headers]:
        key = None if self.key is None else self.key.encode()
        if self.value is None:
            value = None
        elif self.decode_error is not None and isinstance(self.value, str):
            value = self.value.encode()
        else:
            value = msgspec.json.encode(self.value)
        return key, value, [(k, v.encode()) for k, v in self.headers.items()]


def read_file(path: Path) -> Iterator[tuple[int, FileRecord]]:
    """``(line number, record)`` for every non-blank line; ConfigError naming ``file:line``
    otherwise."""
    decoder = msgspec.json.Decoder(FileRecord)
    try:
        with path.open("rb") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield number, decoder.decode(line)
                except msgspec.DecodeError as exc:
                    raise ConfigError(
                        f"not a replay record ({exc}); lines must be `events tail --json` objects",
                        where=f"{path}:{number}",
                    ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the replay file: {exc.strerror or exc}", where=str(path)
        ) from None


def replay_from_file(
    path: Path,
    producer: ProducerBackend,
    target: str,
    *,
    reader: LogReader | None = None,
    timeout_s: float = 60.0,
) -> ReplaySummary:
    """Produce every record of a replay file to ``target``; the whole file is checked first."""
    for _ in read_file(path):
        pass
    if reader is not None:
        reader.partitions(target)
    summary = ReplaySummary(str(path), target)
    sink = TopicSink(producer, target, summary, timeout_s)
    for number, rec in read_file(path):
        key, value, headers = rec.wire()
        sink.write(key, value, headers)
        summary.note(rec.partition, rec.offset if rec.offset >= 0 else number)
    sink.finish()
    return summary
