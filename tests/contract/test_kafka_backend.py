"""The Kafka backend against the real broker on 127.0.0.1:9092 (``make kafka-up``).

Producer -> reader round trip (key, value, headers, timestamp), key -> partition parity with Kafka's
Java murmur2, fast unknown-topic errors, topic administration (create, idempotent re-apply, config
update, partition growth, a smaller spec reported and not applied), and the reader's watermarks,
offset-for-time, batched reads and consumer-group offsets. Every test uses its own topics and
deletes them afterwards.
"""

from __future__ import annotations

import time

import pytest

from carbonplane.errors import DeliveryError, UnknownTopicError
from carbonplane.events.backends.base import Delivery
from carbonplane.events.backends.kafka import KafkaAdmin, KafkaProducerBackend, KafkaReader
from carbonplane.events.catalog import DAY_MS, TopicSpec
from carbonplane.events.config import EventsConfig
from carbonplane.events.partitioner import murmur2, partition_for


@pytest.fixture
def cfg(kafka_bootstrap, cp_home) -> EventsConfig:
    return EventsConfig.from_env({}, bootstrap_servers=kafka_bootstrap, home=cp_home)


@pytest.fixture
def admin(cfg):
    admin = KafkaAdmin(cfg)
    admin.created = []  # type: ignore[attr-defined]
    yield admin
    admin.delete_topics(admin.created)  # type: ignore[attr-defined]


@pytest.fixture
def make_topic(admin, unique_name):
    def make(partitions: int = 3, retention_days: int = 7, cleanup: str = "delete") -> TopicSpec:
        spec = TopicSpec(
            unique_name("kb"),
            "data",
            partitions,
            retention_days * DAY_MS,
            cleanup,
            "DataIngestionEvent",
            "datasetName",
        )
        admin.apply_topics([spec])
        admin.created.append(spec.name)
        return spec

    return make


@pytest.fixture
def producer(cfg):
    backend = KafkaProducerBackend(cfg, "kafka-contract")
    yield backend
    backend.close(5)


@pytest.fixture
def reader(cfg):
    reader = KafkaReader(cfg)
    yield reader
    reader.close()


def _produce_all(producer, topic, records) -> list[Delivery]:
    slots: list[Delivery | None] = [None] * len(records)
    for i, (key, value, headers, ts) in enumerate(records):
        producer.produce(topic, value, key, headers, lambda d, i=i: slots.__setitem__(i, d), ts)
    assert producer.flush(30) == 0
    assert len(producer) == 0
    assert all(d is not None and d.ok for d in slots), [d for d in slots if d is None or not d.ok][
        :3
    ]
    return slots  # type: ignore[return-value]


def test_round_trip_keeps_key_value_headers_and_timestamp(producer, reader, make_topic):
    topic = make_topic(partitions=3).name
    now = int(time.time() * 1000)
    sent = [
        (
            b"dataset-%d" % i,
            b'{"n": %d}' % i,
            [("ce_id", b"id-%d" % i), ("empty", b"")],
            now - 1000 * i,
        )
        for i in range(20)
    ]
    deliveries = _produce_all(producer, topic, sent)
    for (key, value, headers, ts), d in zip(sent, deliveries):
        assert d.topic == topic and d.offset >= 0 and d.latency_s > 0
        [record] = reader.read(topic, d.partition, d.offset, max_records=1, timeout=10)
        assert (record.key, record.value, record.headers, record.timestamp_ms) == (
            key,
            value,
            headers,
            ts,
        )
        assert (record.partition, record.offset) == (d.partition, d.offset)


def test_keys_land_on_the_java_murmur2_partition(producer, make_topic):
    topic = make_topic(partitions=12).name
    assert murmur2(b"21") == -973932308  # Java Utils.murmur2("21".getBytes())
    keys = [b"21"] + [f"dataset-{i}".encode() for i in range(300)] + ["ünïcode-ключ".encode()]
    deliveries = _produce_all(producer, topic, [(k, b"{}", None, 0) for k in keys])
    assert deliveries[0].partition == (-973932308 & 0x7FFFFFFF) % 12
    wrong = [
        (k, d.partition, partition_for(k, 12))
        for k, d in zip(keys, deliveries)
        if d.partition != partition_for(k, 12)
    ]
    assert not wrong, wrong[:5]
    assert len({d.partition for d in deliveries}) == 12


def test_produce_to_a_missing_topic_fails_at_once(producer, unique_name):
    started = time.monotonic()
    with pytest.raises(UnknownTopicError) as raised:
        producer.produce(unique_name("missing"), b"{}", b"k")
    assert time.monotonic() - started < 5
    assert "create it with `carbonplane topics apply`" in str(raised.value)
    assert len(producer) == 0 and producer.flush(1) == 0


def test_record_larger_than_the_broker_accepts_is_refused(producer, make_topic):
    topic = make_topic().name
    with pytest.raises(DeliveryError, match="message.max.bytes"):
        producer.produce(topic, b"x" * 2_000_000, b"k")
    assert len(producer) == 0


def test_apply_creates_then_reports_unchanged_then_updates(admin, unique_name):
    spec = TopicSpec(
        unique_name("apply"), "audit", 3, 7 * DAY_MS, "delete", "AuditUserActionEvent", "userId"
    )
    admin.created.append(spec.name)

    [first] = admin.apply_topics([spec])
    assert first.action == "created"
    assert first.details["partitions"] == (None, "3") and first.details["retention.ms"] == (
        None,
        str(7 * DAY_MS),
    )
    live = admin.describe_topics()[spec.name]
    assert (live.partitions, live.replication_factor) == (3, 1)
    assert live.config == {
        "retention.ms": str(7 * DAY_MS),
        "cleanup.policy": "delete",
        "compression.type": "lz4",
        "min.insync.replicas": "1",
    }

    assert [c.action for c in admin.apply_topics([spec])] == ["unchanged"]

    longer = TopicSpec(
        spec.name, "audit", 3, 30 * DAY_MS, "compact", "AuditUserActionEvent", "userId"
    )
    [dry] = admin.apply_topics([longer], dry_run=True)
    assert dry.action == "updated"
    assert admin.describe_topics()[spec.name].config["retention.ms"] == str(7 * DAY_MS)
    [changed] = admin.apply_topics([longer])
    assert changed.action == "updated"
    assert changed.details == {
        "retention.ms": (str(7 * DAY_MS), str(30 * DAY_MS)),
        "cleanup.policy": ("delete", "compact"),
    }
    live = admin.describe_topics()[spec.name]
    assert (
        live.config["retention.ms"] == str(30 * DAY_MS)
        and live.config["cleanup.policy"] == "compact"
    )
    assert [c.action for c in admin.apply_topics([longer])] == ["unchanged"]


def test_partitions_grow_but_never_shrink(admin, unique_name):
    spec = TopicSpec(
        unique_name("grow"), "data", 2, DAY_MS, "delete", "DataIngestionEvent", "datasetName"
    )
    admin.created.append(spec.name)
    admin.apply_topics([spec])
    bigger = TopicSpec(spec.name, "data", 4, DAY_MS, "delete", "DataIngestionEvent", "datasetName")
    [grown] = admin.apply_topics([bigger])
    assert grown.action == "updated" and grown.details == {"partitions": ("2", "4")}
    assert admin.describe_topics()[spec.name].partitions == 4
    [smaller] = admin.apply_topics([spec])
    assert smaller.action == "unchanged"
    assert (
        smaller.details["partitions"][0] == "4"
        and "not applied" in smaller.details["partitions"][1]
    )
    assert admin.describe_topics()[spec.name].partitions == 4


def test_describe_hides_internal_topics(admin, make_topic):
    name = make_topic().name
    topics = admin.describe_topics()
    assert name in topics
    assert not [t for t in topics if t.startswith("__")]


def test_reader_watermarks_time_lookup_and_batches(producer, reader, make_topic):
    topic = make_topic(partitions=1).name
    base = int(time.time() * 1000) - 60_000
    _produce_all(producer, topic, [(b"k", b"%d" % i, None, base + 1000 * i) for i in range(50)])
    assert reader.partitions(topic) == [0]
    assert reader.watermarks(topic, 0) == (0, 50)
    assert reader.offset_for_time(topic, 0, base + 10_500) == 11
    assert reader.offset_for_time(topic, 0, base + 10**9) == 50

    first = reader.read(topic, 0, 10, max_records=15, timeout=10)
    assert [r.offset for r in first] == list(range(10, 25))
    rest = reader.read(topic, 0, 25, max_records=100, timeout=10)
    assert [r.value for r in rest] == [b"%d" % i for i in range(25, 50)]
    again = reader.read(topic, 0, 0, max_records=3, timeout=10)
    assert [r.offset for r in again] == [0, 1, 2]
    started = time.monotonic()
    assert reader.read(topic, 0, 50, max_records=10, timeout=0.5) == []
    assert 0.4 < time.monotonic() - started < 5


def test_group_offsets_commit_and_read_back(reader, make_topic, unique_name):
    topic = make_topic(partitions=2).name
    group = unique_name("group")
    assert reader.committed(group, topic, 1) is None
    reader.commit(group, topic, 1, 7)
    assert reader.committed(group, topic, 1) == 7
    assert reader.committed(group, topic, 0) is None
    reader.commit(group, topic, 1, 9)
    assert reader.committed(group, topic, 1) == 9


def test_reader_names_a_missing_topic(reader, unique_name):
    with pytest.raises(UnknownTopicError, match="carbonplane topics apply"):
        reader.partitions(unique_name("missing"))
