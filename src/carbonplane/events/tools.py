"""Read-side tools over any ``LogReader``/``LogAdmin``: tail a topic, the record's JSON form, time
arguments, and the catalog-versus-live topic report. ``replay`` and ``audit`` build on these.

The JSON form of a record (``events tail --json``, ``replay --to-file``, ``audit search --json``) is
exactly six keys, ``{"topic", "partition", "offset", "key", "headers", "value"}``: ``key`` is text
or null, ``headers`` an object of text values, ``value`` the decoded JSON payload (null for a
tombstone). Only when the value is not JSON does a seventh key appear: ``value`` then holds the
bytes as text and ``decodeError`` says why.

``tail`` reads history (``from_beginning``) up to the end the topic had when the tail started,
interleaving partitions in timestamp order; then, when following, yields new records as they
arrive. It never holds more than one read batch per partition in memory.
"""

from __future__ import annotations

import heapq
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec

from carbonplane.errors import ConfigError, UnknownTopicError
from carbonplane.events.backends.base import LogAdmin, LogReader, Record
from carbonplane.events.catalog import TOPICS, TopicSpec
from carbonplane.events.envelope import headers_dict, rfc3339_ms

BATCH = 500
HISTORY_READ_TIMEOUT_S = 2.0  # how long one read of history may wait for its first record

_json_decode = msgspec.json.Decoder().decode


# -- the record's JSON form -----------------------------------------------------------------------


def record_json(record: Record) -> dict[str, Any]:
    """The six-key JSON object of a record (seven when its value is not JSON)."""
    out: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": None if record.key is None else record.key.decode("utf-8", "backslashreplace"),
        "headers": headers_dict(record.headers),
        "value": None,
    }
    if record.value is not None:
        try:
            out["value"] = _json_decode(record.value)
        except msgspec.DecodeError as exc:
            out["value"] = record.value.decode("utf-8", "backslashreplace")
            out["decodeError"] = f"value is not JSON: {exc}"
    return out


def record_line(record: Record) -> str:
    """One compact human line: ``time topic[partition]@offset key=... EventType {json}``."""
    when = rfc3339_ms(record.timestamp_ms)
    key = "-" if record.key is None else record.key.decode("utf-8", "backslashreplace")
    obj = record_json(record)
    value = obj["value"]
    etype = value.get("eventType", "") if isinstance(value, dict) else ""
    if "decodeError" in obj:
        body = f"<not JSON> {value!r}"
    else:
        body = msgspec.json.encode(value).decode()
    head = f"{when} {record.topic}[{record.partition}]@{record.offset} key={key}"
    return f"{head} {etype} {body}" if etype else f"{head} {body}"


# -- time arguments -------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^-\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_time(text: str, *, where: str = "time", now_ms: int | None = None) -> int:
    """Epoch milliseconds from RFC 3339 (``2026-11-27T15:51:03Z``, a date alone is midnight UTC),
    epoch ms (``1795794663000``), ``now``, or relative to now (``-90s``, ``-15m``, ``-1h``, ``-7d``,
    ``-2w``)."""
    raw = text.strip()
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if raw == "now":
        return now
    if raw.isdigit():
        return int(raw)
    m = _RELATIVE.match(raw)
    if m:
        return now - int(float(m.group(1)) * _UNIT_MS[m.group(2)])
    try:
        dt = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"cannot read {text!r} as a time: use RFC 3339 (2026-11-27T15:51:03Z), epoch ms, or "
            "relative (-1h, -30m, -7d)",
            where=where,
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


# -- reading ranges -------------------------------------------------------------------------------


@dataclass
class PartitionRange:
    """Offsets ``[start, end)`` of one partition to read."""

    partition: int
    start: int
    end: int


def resolve_partitions(reader: LogReader, topic: str, partition: int | None) -> list[int]:
    parts = reader.partitions(topic)
    if partition is None:
        return parts
    if partition not in parts:
        raise UnknownTopicError(
            topic, f"it has no partition {partition} (partitions {parts[0]}..{parts[-1]})"
        )
    return [partition]


def scan_range(
    reader: LogReader, topic: str, r: PartitionRange, batch: int = BATCH
) -> Iterator[Record]:
    """Every record of ``topic``/``r.partition`` with an offset in ``[r.start, r.end)``, in order.

    Offsets may have gaps (compaction). A read that comes back empty before ``r.end`` is checked
    against the watermarks: records removed by retention are skipped (``low`` moved past them); else
    the read is tried once more, and a second empty read ends the range (the records left were
    removed by compaction)."""
    offset, empty_reads = r.start, 0
    while offset < r.end:
        records = reader.read(
            topic, r.partition, offset, max_records=batch, timeout=HISTORY_READ_TIMEOUT_S
        )
        if not records:
            low, high = reader.watermarks(topic, r.partition)
            if low > offset:
                offset = low
                continue
            empty_reads += 1
            if high <= offset or empty_reads == 2:
                return
            continue
        empty_reads = 0
        for record in records:
            if record.offset >= r.end:
                return
            yield record
        offset = records[-1].offset + 1


def merge_by_time(reader: LogReader, topic: str, ranges: list[PartitionRange]) -> Iterator[Record]:
    """The records of several partition ranges, interleaved by (timestamp, partition, offset)."""
    streams = [scan_range(reader, topic, r) for r in ranges if r.end > r.start]
    heap: list[tuple[int, int, int, int, Record]] = []
    for i, stream in enumerate(streams):
        first = next(stream, None)
        if first is not None:
            heap.append((first.timestamp_ms, first.partition, first.offset, i, first))
    heapq.heapify(heap)
    while heap:
        *_, i, record = heap[0]
        yield record
        following = next(streams[i], None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(
                heap, (following.timestamp_ms, following.partition, following.offset, i, following)
            )


# -- tail -----------------------------------------------------------------------------------------


@dataclass
class TailOptions:
    from_beginning: bool = False
    limit: int | None = None
    follow: bool | None = None  # None: follow unless reading from the beginning
    partition: int | None = None
    poll_timeout: float = 0.5  # longest wait for new records before checking the other partitions


def tail(
    reader: LogReader,
    topic: str,
    options: TailOptions | None = None,
    *,
    stop: threading.Event | None = None,
) -> Iterator[Record]:
    """Records of ``topic``: history first (when ``from_beginning``), then new ones (when
    following).

    The topic's current end is taken when ``tail`` is called, not at the first ``next()``: a record
    produced after the call is new (followed), one produced before it is history. Stops after
    ``limit`` records, when ``stop`` is set, or (when not following) at the end of history.
    """
    opts = options or TailOptions()
    parts = resolve_partitions(reader, topic, opts.partition)
    marks = {p: reader.watermarks(topic, p) for p in parts}
    return _tail(reader, topic, opts, marks, stop)


def _tail(
    reader: LogReader,
    topic: str,
    opts: TailOptions,
    marks: dict[int, tuple[int, int]],
    stop: threading.Event | None,
) -> Iterator[Record]:
    if opts.limit is not None and opts.limit <= 0:
        return
    follow = (not opts.from_beginning) if opts.follow is None else opts.follow
    count = 0
    if opts.from_beginning:
        ranges = [PartitionRange(p, low, high) for p, (low, high) in marks.items()]
        for record in merge_by_time(reader, topic, ranges):
            yield record
            count += 1
            if count == opts.limit or (stop is not None and stop.is_set()):
                return
    if not follow:
        return
    positions = {p: high for p, (_low, high) in marks.items()}
    for record in _follow(reader, topic, positions, opts.poll_timeout, stop):
        yield record
        count += 1
        if count == opts.limit:
            return


def _follow(
    reader: LogReader,
    topic: str,
    positions: dict[int, int],
    wait_s: float,
    stop: threading.Event | None,
) -> Iterator[Record]:
    """New records from ``positions`` on, batch by batch; waits on the backend when all are idle."""
    parts = sorted(positions)
    turn = 0
    while stop is None or not stop.is_set():
        fresh: list[Record] = []
        for p in parts:
            low, high = reader.watermarks(topic, p)
            positions[p] = max(positions[p], low)
            if high > positions[p]:
                fresh.extend(_take(reader, topic, p, positions, wait_s))
        if not fresh:
            p = parts[turn % len(parts)]
            turn += 1
            fresh = _take(reader, topic, p, positions, wait_s)
        fresh.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
        yield from fresh


def _take(
    reader: LogReader, topic: str, p: int, positions: dict[int, int], wait_s: float
) -> list[Record]:
    records = reader.read(topic, p, positions[p], max_records=BATCH, timeout=wait_s)
    if records:
        positions[p] = records[-1].offset + 1
    return records


# -- topics: catalog beside live -------------------------------------------------------------------

SETTINGS = (
    "partitions",
    "retention.ms",
    "cleanup.policy",
    "compression.type",
    "min.insync.replicas",
)


@dataclass
class TopicRow:
    """One topic's catalog settings beside its live ones. ``status``: ok | drift |
    missing | extra."""

    name: str
    status: str
    catalog: dict[str, str] | None
    live: dict[str, str] | None
    replication_factor: int | None = None
    drift: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.name,
            "status": self.status,
            "drift": self.drift,
            "replicationFactor": self.replication_factor,
            "catalog": self.catalog,
            "live": self.live,
        }


def catalog_settings(spec: TopicSpec, replication_factor: int) -> dict[str, str]:
    """What the catalog asks of a topic on a cluster whose replication factor is
    ``replication_factor``."""
    wanted = spec.kafka_config(brokers=replication_factor)
    return {"partitions": str(spec.partitions), **{k: wanted[k] for k in SETTINGS[1:]}}


def topic_report(admin: LogAdmin, catalog: tuple[TopicSpec, ...] = TOPICS) -> list[TopicRow]:
    """Catalog topics in catalog order (each ``ok``, ``drift`` or ``missing``), then live
    non-catalog topics (``extra``) by name. ``min.insync.replicas`` is judged against the live
    replication
    factor."""
    live = admin.describe_topics()
    rows = []
    for spec in catalog:
        state = live.get(spec.name)
        if state is None:
            rows.append(TopicRow(spec.name, "missing", catalog_settings(spec, 1), None))
            continue
        want = catalog_settings(spec, state.replication_factor)
        have = {
            "partitions": str(state.partitions),
            **{k: state.config.get(k, "") for k in SETTINGS[1:]},
        }
        drift = [k for k in SETTINGS if have[k] != want[k]]
        rows.append(
            TopicRow(
                spec.name, "drift" if drift else "ok", want, have, state.replication_factor, drift
            )
        )
    in_catalog = {spec.name for spec in catalog}
    for name in sorted(set(live) - in_catalog):
        state = live[name]
        have = {
            "partitions": str(state.partitions),
            **{k: state.config.get(k, "") for k in SETTINGS[1:]},
        }
        rows.append(TopicRow(name, "extra", None, have, state.replication_factor))
    return rows
