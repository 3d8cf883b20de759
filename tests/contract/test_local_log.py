"""The embedded event log (``LocalLog``) in one process: what a producer, an admin and a reader see.

Real files in a temporary folder, real threads; the multi-process and crash tests are in
test_local_processes.py, retention and compaction in test_local_maintenance.py.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from carbonplane.errors import (
    BackendUnavailableError,
    ConfigError,
    DeliveryError,
    LogCorruptionError,
    LogError,
    UnknownTopicError,
)
from carbonplane.events.backends.base import Delivery
from carbonplane.events.backends.local import LocalLog
from carbonplane.events.catalog import TOPICS, TopicSpec
from carbonplane.events.config import EventsConfig
from carbonplane.events.partitioner import partition_for

CE_HEADERS = [("ce_specversion", b"1.0"), ("ce_id", b"id-1"), ("content-type", b"application/json")]


@pytest.fixture
def log(tmp_path):
    opened = LocalLog(tmp_path / "log.db")
    yield opened
    opened.close(5)


def produce_all(log: LocalLog, records: list[dict]) -> list[Delivery]:
    """Produce ``records`` and return their deliveries in produce order (reports may come in
    another order across partitions, as on Kafka)."""
    reports: list[tuple[int, Delivery]] = []
    for i, rec in enumerate(records):
        log.produce(on_delivery=lambda d, i=i: reports.append((i, d)), **rec)
    assert log.flush(10) == 0
    assert sorted(i for i, _ in reports) == list(range(len(records))), (
        "exactly one report per record"
    )
    return [d for _, d in sorted(reports, key=lambda r: r[0])]


def read_partition(log: LocalLog, topic: str, partition: int) -> list:
    out, offset = [], 0
    while batch := log.read(topic, partition, offset, max_records=1000, timeout=0):
        out += batch
        offset = batch[-1].offset + 1
    return out


def test_records_round_trip_with_key_headers_timestamp_and_tombstones(log):
    sent = [
        dict(
            topic="audit-user-actions",
            value=b'{"n":1}',
            key=b"u-1",
            headers=CE_HEADERS,
            timestamp_ms=1_700_000_000_123,
        ),
        dict(topic="audit-user-actions", value=b"\x00\xffbinary", key=b"u-1", headers=[]),
        dict(
            topic="config-changes",
            value=None,
            key=b"gateway/routes/a",
            headers=[("ce_id", b"gone")],
        ),
        dict(topic="audit-user-actions", value=b"keyless", key=None, headers=None),
    ]
    before_ms = time.time_ns() // 1_000_000
    deliveries = produce_all(log, sent)
    for rec, d in zip(sent, deliveries):
        assert d.ok and d.topic == rec["topic"] and d.latency_s >= 0
        [back] = log.read(d.topic, d.partition, d.offset, max_records=1, timeout=0)
        assert (back.topic, back.partition, back.offset) == (d.topic, d.partition, d.offset)
        assert back.key == rec["key"] and back.value == rec["value"]
        assert back.headers == (rec["headers"] or [])
        if "timestamp_ms" in rec:
            assert back.timestamp_ms == rec["timestamp_ms"]
        else:
            assert before_ms <= back.timestamp_ms <= time.time_ns() // 1_000_000


def test_offsets_are_dense_per_partition_and_keys_land_on_their_murmur2_partition(log):
    keys = [f"dataset-{i % 37}".encode() for i in range(3000)]
    deliveries = produce_all(
        log, [dict(topic="data-ingestion", value=b"v%d" % i, key=k) for i, k in enumerate(keys)]
    )
    for k, d in zip(keys, deliveries):
        assert d.partition == partition_for(k, 12)
    for p in range(12):
        records = read_partition(log, "data-ingestion", p)
        assert [r.offset for r in records] == list(range(len(records)))
        assert log.watermarks("data-ingestion", p) == (0, len(records))
        expected = [b"v%d" % i for i, k in enumerate(keys) if partition_for(k, 12) == p]
        assert [r.value for r in records] == expected, "a partition keeps the produce order"


def test_java_murmur2_vector_and_round_robin_for_keyless_records(log):
    [d] = produce_all(log, [dict(topic="data-ingestion", value=b"x", key=b"21")])
    assert (
        d.partition == (-973932308 & 0x7FFFFFFF) % 12
    )  # Utils.murmur2("21".getBytes()) in Kafka's Java client
    keyless = produce_all(log, [dict(topic="security-events", value=b"%d" % i) for i in range(12)])
    assert sorted(d.partition for d in keyless) == sorted(list(range(6)) * 2)


def test_str_key_and_value_are_stored_as_utf8(log):
    [d] = produce_all(log, [dict(topic="audit-api-calls", value='{"é":1}', key="svc-é")])
    [rec] = log.read("audit-api-calls", d.partition, d.offset, timeout=0)
    assert rec.key == "svc-é".encode() and rec.value == '{"é":1}'.encode()
    assert d.partition == partition_for("svc-é".encode(), 12)


def test_unknown_topic_is_refused_naming_the_topic_and_the_fix(log):
    with pytest.raises(UnknownTopicError) as info:
        log.produce("no-such-topic", b"x")
    assert info.value.topic == "no-such-topic"
    assert "no-such-topic" in str(info.value) and "carbonplane topics apply" in str(info.value)
    with pytest.raises(UnknownTopicError):
        log.read("no-such-topic", 0, 0, timeout=0)
    with pytest.raises(UnknownTopicError, match="partition 3 does not exist"):
        log.watermarks("system-health", 3)


def test_keyless_record_on_a_compacted_topic_is_reported_failed(log):
    reports: list[Delivery] = []
    log.produce("system-health", b"x", key=None, on_delivery=reports.append)
    assert log.flush(5) == 1, "flush counts the record that was not written"
    [d] = reports
    assert not d.ok and "needs a key" in d.error
    assert all(log.watermarks("system-health", p) == (0, 0) for p in range(3))


def test_unstorable_headers_fail_only_their_record(log):
    reports: list[Delivery] = []
    log.produce("audit-api-calls", b"good", key=b"a", on_delivery=reports.append)
    log.produce(
        "audit-api-calls", b"bad", key=b"a", headers=[("h", object())], on_delivery=reports.append
    )
    log.produce("audit-api-calls", b"good2", key=b"a", on_delivery=reports.append)
    assert log.flush(5) == 1
    assert [d.ok for d in reports if d.offset >= 0] == [True, True]
    [bad] = [d for d in reports if not d.ok]
    assert "headers" in bad.error
    p = partition_for(b"a", 12)
    assert [r.value for r in read_partition(log, "audit-api-calls", p)] == [b"good", b"good2"]


def test_first_open_creates_the_catalog_topics(tmp_path):
    with_catalog = LocalLog(tmp_path / "a.db")
    try:
        topics = with_catalog.describe_topics()
        assert sorted(topics) == sorted(t.name for t in TOPICS)
        for spec in TOPICS:
            state = topics[spec.name]
            assert state.partitions == spec.partitions and state.replication_factor == 1
            assert state.config == {
                "retention.ms": str(spec.retention_ms),
                "cleanup.policy": spec.cleanup_policy,
                "compression.type": "lz4",
                "min.insync.replicas": "1",
            }
    finally:
        with_catalog.close()
    bare = LocalLog(tmp_path / "b.db", create_catalog=False)
    try:
        assert bare.describe_topics() == {}
    finally:
        bare.close()


def test_from_config_opens_the_log_under_carbonplane_home(tmp_path):
    cfg = EventsConfig.from_env(env={"CARBONPLANE_HOME": str(tmp_path / "home")})
    opened = LocalLog.from_config(cfg)
    try:
        assert opened.path == tmp_path / "home" / "events" / "log.db" and opened.path.exists()
    finally:
        opened.close()


def test_apply_topics_is_idempotent_updates_settings_and_never_shrinks(log):
    spec = TopicSpec("orders", "data", 3, 60_000, "delete", "Custom", "id")
    [created] = log.apply_topics([spec])
    assert created.action == "created" and created.details["partitions"] == (None, "3")
    assert [c.action for c in log.apply_topics([spec])] == ["unchanged"]
    assert [c.action for c in log.apply_topics(TOPICS)] == ["unchanged"] * 12

    bigger = TopicSpec("orders", "data", 5, 120_000, "delete", "Custom", "id")
    [planned] = log.apply_topics([bigger], dry_run=True)
    assert planned.action == "updated" and log.describe_topics()["orders"].partitions == 3
    [updated] = log.apply_topics([bigger])
    assert updated.details == {"partitions": ("3", "5"), "retention.ms": ("60000", "120000")}
    assert log.describe_topics()["orders"].partitions == 5
    assert log.partitions("orders") == [0, 1, 2, 3, 4]
    d = produce_all(
        log, [dict(topic="orders", value=b"x", key=k) for k in (b"a", b"b", b"c", b"d", b"e", b"f")]
    )
    assert {x.partition for x in d} == {
        partition_for(k, 5) for k in (b"a", b"b", b"c", b"d", b"e", b"f")
    }

    [shrink] = log.apply_topics([TopicSpec("orders", "data", 2, 120_000, "delete", "Custom", "id")])
    assert shrink.action == "unchanged" and "never shrink" in shrink.details["partitions"][1]
    assert log.describe_topics()["orders"].partitions == 5


def test_invalid_topic_specs_are_refused_before_anything_changes(log):
    with pytest.raises(ConfigError, match="partitions"):
        log.apply_topics([TopicSpec("ok-name", "data", 0, 1000, "delete", "X", "id")])
    with pytest.raises(ConfigError, match="cleanup_policy"):
        log.apply_topics([TopicSpec("ok-name", "data", 1, 1000, "shred", "X", "id")])
    with pytest.raises(ConfigError, match="topic name"):
        log.apply_topics([TopicSpec("bad name!", "data", 1, 1000, "delete", "X", "id")])
    assert "ok-name" not in log.describe_topics()


def test_consumer_group_offsets_are_kept_across_reopen(tmp_path):
    first = LocalLog(tmp_path / "log.db")
    first.commit("billing", "audit-api-calls", 4, 17)
    first.commit("billing", "audit-api-calls", 4, 18)
    first.commit("search", "audit-api-calls", 4, 3)
    assert first.committed("billing", "audit-api-calls", 4) == 18
    first.close()
    again = LocalLog(tmp_path / "log.db")
    try:
        assert again.committed("billing", "audit-api-calls", 4) == 18
        assert again.committed("search", "audit-api-calls", 4) == 3
        assert again.committed("billing", "audit-api-calls", 5) is None
        assert again.committed("nobody", "audit-api-calls", 4) is None
        with pytest.raises(UnknownTopicError):
            again.commit("billing", "missing-topic", 0, 1)
        with pytest.raises(LogError):
            again.commit("billing", "audit-api-calls", 0, -1)
    finally:
        again.close()


def test_read_waits_for_a_record_another_log_instance_writes(tmp_path):
    reader = LocalLog(tmp_path / "log.db")
    writer = LocalLog(tmp_path / "log.db")
    try:
        p = partition_for(b"svc", 3)
        got: list = []
        waiting = threading.Thread(
            target=lambda: got.extend(reader.read("system-health", p, 0, timeout=20))
        )
        waiting.start()
        waiting.join(0.1)
        assert waiting.is_alive() and got == [], "the read waits while the partition is empty"
        started = time.monotonic()
        writer.produce("system-health", b"up", key=b"svc")
        assert writer.flush(10) == 0
        waiting.join(20)
        assert [r.value for r in got] == [b"up"]
        assert time.monotonic() - started < 5, (
            "the read returned when the record arrived, not at its timeout"
        )

        started = time.monotonic()
        assert reader.read("system-health", p, 1, timeout=0.2) == []
        assert time.monotonic() - started >= 0.2, "an empty read waits for its timeout"
    finally:
        reader.close()
        writer.close()


def test_reads_outside_the_watermarks_and_offset_for_time(log):
    stamps = [1_000, 2_000, 2_000, 5_000]
    deliveries = produce_all(
        log,
        [
            dict(topic="deployment-events", value=b"%d" % t, key=b"api", timestamp_ms=t)
            for t in stamps
        ],
    )
    p = deliveries[0].partition
    assert [r.offset for r in log.read("deployment-events", p, 2, timeout=0)] == [2, 3]
    assert log.read("deployment-events", p, 4, timeout=0) == []
    assert [r.offset for r in log.read("deployment-events", p, 0, max_records=2, timeout=0)] == [
        0,
        1,
    ]
    assert log.offset_for_time("deployment-events", p, 0) == 0
    assert log.offset_for_time("deployment-events", p, 1_500) == 1
    assert log.offset_for_time("deployment-events", p, 2_000) == 1
    assert log.offset_for_time("deployment-events", p, 4_999) == 3
    assert (
        log.offset_for_time("deployment-events", p, 9_999)
        == 4
        == log.watermarks("deployment-events", p)[1]
    )


def test_full_queue_blocks_produce_then_raises_after_queue_timeout(tmp_path):
    path = tmp_path / "log.db"
    log = LocalLog(path, queue_max=3, queue_timeout=0.5)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute(
        "BEGIN IMMEDIATE"
    )  # another process holding the write lock: the writer cannot commit
    try:
        for i in range(3):
            log.produce("audit-api-calls", b"%d" % i, key=b"k")
        assert len(log) == 3
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError, match="queue stayed full"):
            log.produce("audit-api-calls", b"overflow", key=b"k")
        assert time.monotonic() - started >= 0.5, "produce blocked for queue_timeout before raising"

        log.queue_timeout = 30.0
        outcome: list = []
        blocked = threading.Thread(
            target=lambda: outcome.append(log.produce("audit-api-calls", b"3", key=b"k"))
        )
        blocked.start()
        blocked.join(0.3)
        assert blocked.is_alive(), "produce waits for room instead of raising"
        blocker.execute("ROLLBACK")  # the lock goes away: the writer commits and makes room
        blocked.join(30)
        assert outcome == [None]
        assert log.flush(30) == 0
        p = partition_for(b"k", 12)
        assert [r.value for r in log.read("audit-api-calls", p, 0, timeout=0)] == [
            b"0",
            b"1",
            b"2",
            b"3",
        ]
    finally:
        blocker.close()
        log.close(5)


def test_poll_runs_callbacks_on_the_calling_thread_once(log):
    threads: list[str] = []
    log.produce(
        "audit-api-calls",
        b"x",
        key=b"k",
        on_delivery=lambda d: threads.append(threading.current_thread().name),
    )
    assert log.flush(10) == 0
    assert threads == [threading.current_thread().name]
    assert log.poll(0) == 0 and len(log) == 0
    assert log.stats() == {"delivered": 1, "failed": 0, "queued": 0}


def test_a_closed_log_refuses_work_with_a_clear_error(tmp_path):
    log = LocalLog(tmp_path / "log.db")
    log.produce("audit-api-calls", b"x", key=b"k")
    assert log.close(10) == 0
    assert log.close() == 0
    with pytest.raises(BackendUnavailableError, match="closed"):
        log.produce("audit-api-calls", b"x", key=b"k")
    with pytest.raises(LogError, match="closed"):
        log.watermarks("audit-api-calls", 0)
    again = LocalLog(tmp_path / "log.db")
    try:
        assert again.watermarks("audit-api-calls", partition_for(b"k", 12)) == (0, 1), (
            "close flushed the queue"
        )
    finally:
        again.close()


@pytest.mark.parametrize(
    "content",
    [
        b"this is a text file, not an event log\n" * 100,
        b"x",
        b"{}",
        b"SQLite format 3\x00" + b"\xff" * 200,
    ],
    ids=["text", "1 byte", "2 bytes", "bad header"],
)
def test_a_file_that_is_not_a_log_is_refused_naming_it_and_left_alone(tmp_path, content):
    path = tmp_path / "log.db"
    path.write_bytes(content)
    with pytest.raises(LogCorruptionError) as info:
        LocalLog(path)
    assert str(path) in str(info.value) and "move it aside" in str(info.value)
    assert path.read_bytes() == content, "the file is not written to"


def test_a_damaged_page_is_found_by_check(tmp_path):
    path = tmp_path / "log.db"
    log = LocalLog(path)
    for i in range(3000):
        log.produce("data-ingestion", b"x" * 300, key=b"k%d" % i)
    assert log.close(10) == 0
    with sqlite3.connect(path) as conn:  # move everything into the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'batches_by_offset'"
        ).fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:  # scribble over the header of the index's root page
        f.seek((root - 1) * page_size)
        f.write(b"\xfe" * 64)
    with pytest.raises(LogCorruptionError) as info:
        LocalLog(path).check()
    assert str(path) in str(info.value)


def test_large_records_round_trip_and_oversized_ones_are_refused(log):
    big = [bytes([i]) * (1 << 20) for i in range(40)]  # 40 MiB for one partition in one commit
    deliveries = produce_all(
        log, [dict(topic="audit-data-access", value=v, key=b"bulk") for v in big]
    )
    p = deliveries[0].partition
    assert [r.value for r in read_partition(log, "audit-data-access", p)] == big
    with sqlite3.connect(log.path) as conn:
        rows = conn.execute("SELECT COUNT(*), MAX(LENGTH(payload)) FROM batches").fetchone()
    conn.close()
    assert rows[0] >= 3 and rows[1] <= 16 << 20, "a commit this large is stored as several batches"
    with pytest.raises(DeliveryError, match="exceeds the local log's limit"):
        log.produce("audit-data-access", b"x" * ((64 << 20) + 1), key=b"bulk")


def test_close_reports_what_a_locked_file_kept_it_from_writing(tmp_path):
    path = tmp_path / "log.db"
    log = LocalLog(path)
    reports: list[Delivery] = []
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for i in range(3):
            log.produce("audit-api-calls", b"%d" % i, key=b"k", on_delivery=reports.append)
        assert log.close(0.3) == 3, "close says how many records were not written"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(reports) == 3 and all(not d.ok and d.offset == -1 for d in reports)
    assert "locked" in reports[0].error
    again = LocalLog(path)
    try:
        assert again.watermarks("audit-api-calls", partition_for(b"k", 12)) == (0, 0)
    finally:
        again.close()
