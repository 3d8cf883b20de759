"""Retention and compaction of the embedded event log, on topics with tiny custom settings.

Time is moved by passing ``now_ms`` to ``maintain()`` or by producing records with old timestamps,
so no test waits for a retention period to pass.
"""

from __future__ import annotations

import time

import pytest

from carbonplane.events.backends.local import LocalLog
from carbonplane.events.catalog import TopicSpec

MINUTE_MS = 60_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def log(tmp_path):
    opened = LocalLog(tmp_path / "log.db", create_catalog=False)
    yield opened
    opened.close(5)


def produce(
    log: LocalLog, topic: str, items: list[tuple[bytes | None, bytes | None]], ts: int = 0
) -> list:
    reports: list = []
    for key, value in items:
        log.produce(topic, value, key=key, on_delivery=reports.append, timestamp_ms=ts)
    assert log.flush(10) == 0 and all(d.ok for d in reports)
    return reports


def contents(
    log: LocalLog, topic: str, partition: int = 0
) -> list[tuple[int, bytes | None, bytes | None]]:
    return [
        (r.offset, r.key, r.value)
        for r in log.read(topic, partition, 0, max_records=10_000, timeout=0)
    ]


def test_retention_removes_expired_records_and_moves_the_low_watermark(log):
    log.apply_topics([TopicSpec("short-lived", "data", 1, MINUTE_MS, "delete", "Custom", "id")])
    produce(
        log, "short-lived", [(b"a", b"old-%d" % i) for i in range(5)], ts=now_ms() - 2 * MINUTE_MS
    )
    produce(log, "short-lived", [(b"a", b"new-%d" % i) for i in range(3)])

    report = log.maintain()
    assert report.expired == 5 and report.compacted == 0
    assert log.watermarks("short-lived", 0) == (5, 8)
    assert contents(log, "short-lived") == [(5 + i, b"a", b"new-%d" % i) for i in range(3)]
    assert log.offset_for_time("short-lived", 0, 0) == 5
    [after] = produce(log, "short-lived", [(b"a", b"later")])
    assert after.offset == 8, "offsets are never reused"
    assert log.maintain().expired == 0, "a second pass finds nothing more"

    assert log.maintain(now_ms=now_ms() + 2 * MINUTE_MS).expired == 4
    assert log.watermarks("short-lived", 0) == (9, 9) and contents(log, "short-lived") == []
    log.check()


def test_retention_leaves_keep_forever_and_compact_only_topics_alone(log):
    log.apply_topics(
        [
            TopicSpec("forever", "data", 1, -1, "delete", "Custom", "id"),
            TopicSpec("latest-only", "system", 1, MINUTE_MS, "compact", "Custom", "id"),
        ]
    )
    produce(log, "forever", [(b"k", b"v")], ts=1)
    produce(log, "latest-only", [(b"k", b"v")], ts=1)
    assert log.maintain().expired == 0
    assert contents(log, "forever") == [(0, b"k", b"v")]
    assert contents(log, "latest-only") == [(0, b"k", b"v")]


def test_compaction_keeps_the_newest_record_per_key_and_their_offsets(log):
    log.apply_topics([TopicSpec("config", "system", 1, MINUTE_MS, "compact", "Custom", "resource")])
    produce(log, "config", [(b"a", b"a1"), (b"b", b"b1"), (b"a", b"a2"), (b"c", b"c1")])
    produce(log, "config", [(b"b", None), (b"c", b"c2"), (b"c", b"c3")])

    assert log.maintain().compacted == 4  # a1, b1, c1, c2 superseded
    assert contents(log, "config") == [(2, b"a", b"a2"), (4, b"b", None), (6, b"c", b"c3")]
    assert log.watermarks("config", 0) == (0, 7), "compaction leaves the watermarks alone"
    assert log.maintain().compacted == 0, "nothing new: nothing to do"

    [d] = produce(log, "config", [(b"a", b"a3")])
    assert d.offset == 7
    assert log.maintain().compacted == 1
    assert contents(log, "config") == [(4, b"b", None), (6, b"c", b"c3"), (7, b"a", b"a3")]
    log.check()


def test_tombstones_go_once_older_than_retention(log):
    log.apply_topics([TopicSpec("config", "system", 1, MINUTE_MS, "compact", "Custom", "resource")])
    produce(log, "config", [(b"gone", b"v1"), (b"kept", b"v1"), (b"gone", None)])
    assert log.maintain().compacted == 1
    assert contents(log, "config") == [(1, b"kept", b"v1"), (2, b"gone", None)]

    assert log.maintain(now_ms=now_ms() + 2 * MINUTE_MS).compacted == 1
    assert contents(log, "config") == [(1, b"kept", b"v1")], (
        "the expired tombstone is dropped, the live value stays"
    )


def test_compact_and_delete_together(log):
    log.apply_topics([TopicSpec("both", "system", 1, MINUTE_MS, "compact,delete", "Custom", "id")])
    produce(log, "both", [(b"x", b"x1"), (b"y", b"y1")], ts=now_ms() - 2 * MINUTE_MS)
    produce(log, "both", [(b"x", b"x2"), (b"x", b"x3")])
    report = log.maintain()
    assert report.expired == 2 and report.compacted == 1
    assert contents(log, "both") == [(3, b"x", b"x3")]
    assert log.watermarks("both", 0) == (2, 4)


def test_the_writer_runs_maintenance_by_itself(tmp_path):
    log = LocalLog(tmp_path / "log.db", create_catalog=False, maintain_every_s=0.1)
    try:
        log.apply_topics([TopicSpec("short-lived", "data", 1, MINUTE_MS, "delete", "Custom", "id")])
        produce(log, "short-lived", [(b"a", b"old")], ts=now_ms() - 2 * MINUTE_MS)
        deadline = time.monotonic() + 10
        while log.watermarks("short-lived", 0)[0] == 0:  # the writer thread's next tick expires it
            assert time.monotonic() < deadline, "the writer did not run retention within 10 s"
            time.sleep(0.02)
        assert log.watermarks("short-lived", 0) == (1, 1)
    finally:
        log.close(5)


def test_a_large_compacted_partition_shrinks_to_its_keys(log):
    log.apply_topics(
        [TopicSpec("health", "system", 1, MINUTE_MS, "compact", "Custom", "serviceName")]
    )
    for round_no in range(5):
        produce(log, "health", [(b"svc-%d" % i, b"%d-%d" % (round_no, i)) for i in range(2000)])
    assert log.maintain().compacted == 8000
    kept = contents(log, "health")
    assert len(kept) == 2000 and {v for _, _, v in kept} == {b"4-%d" % i for i in range(2000)}
    assert [o for o, _, _ in kept] == list(range(8000, 10000))
    log.check()
