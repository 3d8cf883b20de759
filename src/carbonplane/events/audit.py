"""Audit search: find records in the four ``audit-*`` topics by user, service and time.

Matching (case-insensitive, whole value):
- ``user`` matches the payload's ``userId``, ``username`` or ``adminUser``;
- ``service`` matches the payload's ``service`` (API calls) or ``source`` (the producing service);
- ``since_ms``/``until_ms`` select by record timestamp, ``[since, until)``.
Filters combine with AND; a record whose value is not a JSON object matches only when no user or
service filter is given.

Each partition is scanned from the first record at or after ``since`` (offsets-for-times) to the end
it had when the search started; ``until`` filters rather than cuts, because record timestamps need
not grow with offsets. Results are sorted by (timestamp, topic, partition, offset); with ``limit``
the newest ``limit`` matches are kept (still in ascending time order), holding at most ``limit``
records in memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from carbonplane.errors import ConfigError, UnknownTopicError
from carbonplane.events.backends.base import LogReader, Record
from carbonplane.events.catalog import TOPICS
from carbonplane.events.tools import PartitionRange, scan_range

AUDIT_TOPICS: tuple[str, ...] = tuple(t.name for t in TOPICS if t.category == "audit")
USER_FIELDS = ("userId", "username", "adminUser")
SERVICE_FIELDS = ("service", "source")

_decode = msgspec.json.Decoder().decode


@dataclass
class AuditQuery:
    user: str | None = None
    service: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    topics: tuple[str, ...] = AUDIT_TOPICS
    limit: int | None = None

    def check(self) -> None:
        unknown = [t for t in self.topics if t not in AUDIT_TOPICS]
        if unknown:
            raise UnknownTopicError(
                unknown[0], "audit search reads the audit topics: " + ", ".join(AUDIT_TOPICS)
            )
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(f"{self.limit} is not a positive number of results", where="--limit")
        if (
            self.since_ms is not None
            and self.until_ms is not None
            and self.until_ms <= self.since_ms
        ):
            raise ConfigError("--until must be later than --since", where="--until")


@dataclass(order=True)
class AuditHit:
    """One matching record and its decoded payload; ordered by time, then position."""

    sort_key: tuple[int, str, int, int]
    record: Record = field(compare=False)
    event: dict[str, Any] = field(compare=False)

    @property
    def user(self) -> str:
        return next((str(self.event[f]) for f in USER_FIELDS if self.event.get(f)), "")

    @property
    def service(self) -> str:
        return str(self.event.get("service") or self.event.get("source") or "")

    @property
    def action(self) -> str:
        for name in ("action", "operation", "accessType"):
            if self.event.get(name):
                return str(self.event[name])
        if self.event.get("method"):
            return f"{self.event['method']} {self.event.get('endpoint', '')}".strip()
        return ""

    @property
    def target(self) -> str:
        return str(
            self.event.get("resource")
            or self.event.get("target")
            or self.event.get("dataset")
            or ""
        )

    @property
    def result(self) -> str:
        if "result" in self.event:
            return str(self.event["result"])
        return str(self.event.get("statusCode", ""))


def audit_search(reader: LogReader, query: AuditQuery) -> list[AuditHit]:
    """Every audit record matching ``query``, oldest first (see the module docstring)."""
    query.check()
    kept: list[AuditHit] = []
    for record, event in _candidates(reader, query):
        if not _matches(event, query):
            continue
        hit = AuditHit(
            (record.timestamp_ms, record.topic, record.partition, record.offset), record, event
        )
        if query.limit is None:
            kept.append(hit)
        elif len(kept) < query.limit:
            heapq.heappush(kept, hit)
        elif hit > kept[0]:
            heapq.heapreplace(kept, hit)
    return sorted(kept)


def _plan(reader: LogReader, query: AuditQuery) -> list[tuple[str, PartitionRange]]:
    """Every partition's range, taken before the first read: one consistent end for the search."""
    plan = []
    for topic in query.topics:
        for p in reader.partitions(topic):
            low, high = reader.watermarks(topic, p)
            if high <= low:
                continue
            start = (
                low
                if query.since_ms is None
                else max(low, reader.offset_for_time(topic, p, query.since_ms))
            )
            if start < high:
                plan.append((topic, PartitionRange(p, start, high)))
    return plan


def _candidates(reader: LogReader, query: AuditQuery) -> Iterable[tuple[Record, dict[str, Any]]]:
    for topic, part_range in _plan(reader, query):
        for record in scan_range(reader, topic, part_range):
            if query.since_ms is not None and record.timestamp_ms < query.since_ms:
                continue
            if query.until_ms is not None and record.timestamp_ms >= query.until_ms:
                continue
            yield record, _payload(record)


def _payload(record: Record) -> dict[str, Any]:
    if record.value is None:
        return {}
    try:
        value = _decode(record.value)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _matches(event: dict[str, Any], query: AuditQuery) -> bool:
    if query.user is not None and not _any_equal(event, USER_FIELDS, query.user):
        return False
    if query.service is not None and not _any_equal(event, SERVICE_FIELDS, query.service):
        return False
    return True


def _any_equal(event: dict[str, Any], fields: tuple[str, ...], wanted: str) -> bool:
    folded = wanted.casefold()
    return any(isinstance(event.get(f), str) and event[f].casefold() == folded for f in fields)
