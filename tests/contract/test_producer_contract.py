"""The producer contract, run against every backend (embedded log and real Kafka).

Every catalog event type round-trips (produce -> read back -> equal, with its key on the murmur2
partition and CloudEvents headers matching the envelope); invalid events are rejected before
anything is written; stats and futures agree with what the log holds.
"""

from __future__ import annotations

import socket

import msgspec
import pytest

from carbonplane.errors import EventValidationError
from carbonplane.events import codec
from carbonplane.events import types as T
from carbonplane.events.backends.factory import open_admin, open_reader
from carbonplane.events.catalog import TOPICS, TOPICS_BY_NAME
from carbonplane.events.config import EventsConfig
from carbonplane.events.envelope import rfc3339_ms
from carbonplane.events.partitioner import partition_for
from carbonplane.events.producer import EventProducer
from carbonplane.events.samples import sample_events

BROKER = "127.0.0.1:9092"


def _kafka_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 9092), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(params=["local", "kafka"])
def events_config(request, tmp_path) -> EventsConfig:
    if request.param == "local":
        return EventsConfig.from_env(env={"CARBONPLANE_HOME": str(tmp_path)})
    if not _kafka_up():
        pytest.fail(f"Kafka is not reachable on {BROKER}: start it with `make kafka-up`")
    cfg = EventsConfig.from_env(
        env={"KAFKA_BOOTSTRAP_SERVERS": BROKER, "CARBONPLANE_HOME": str(tmp_path)}
    )
    open_admin(cfg).apply_topics(TOPICS)
    return cfg


@pytest.fixture
def producer(events_config):
    p = EventProducer(source_service="contract-test", config=events_config)
    yield p
    p.close(5)


def _read_one(reader, topic: str, partition: int, offset: int):
    records = reader.read(topic, partition, offset, max_records=1, timeout=10)
    assert records, f"nothing at {topic}/{partition}@{offset}"
    assert records[0].offset == offset
    return records[0]


def test_every_event_type_round_trips(producer, events_config):
    events = sample_events(7)
    futures = [producer.produce(e) for e in events]
    assert producer.flush(30).ok
    reader = open_reader(events_config)
    try:
        for event, fut in zip(events, futures):
            d = fut.result(5)
            spec = TOPICS_BY_NAME[event.TOPIC]
            rec = _read_one(reader, event.TOPIC, d.partition, d.offset)
            back = codec.decode_event(rec.value)
            assert (event.event_id, event.timestamp, event.source) == (
                "",
                0,
                "",
            )  # the caller's event is unchanged
            event = msgspec.structs.replace(
                event, event_id=fut.event_id, timestamp=back.timestamp, source="contract-test"
            )
            assert back == event, f"{type(event).__name__} changed on the way"
            assert rec.key == _expected_key(event)
            assert d.partition == partition_for(rec.key, spec.partitions)
            headers = dict(rec.headers)
            assert headers["ce_specversion"] == b"1.0"
            assert headers["ce_id"].decode() == event.event_id
            assert headers["ce_source"] == b"contract-test"
            assert headers["ce_type"].decode() == event.CE_TYPE
            assert headers["ce_time"].decode() == rfc3339_ms(event.timestamp)
            assert headers["content-type"] == b"application/json"
    finally:
        reader.close()
    stats = producer.get_stats()
    assert stats["delivered"] == 12 and stats["errors"] == 0 and stats["produced"] == 12


def _expected_key(event: T.Event) -> bytes:
    key_field = TOPICS_BY_NAME[event.TOPIC].key_field
    if "->" in key_field:
        return f"{event.source_dataset}->{event.target_dataset}".encode()
    raw = codec.decode_event(codec.encode_event(event))
    return str(T.msgspec.to_builtins(raw)[key_field]).encode()


def test_report_call_shape_and_original_layout(producer, events_config):
    fut = producer.produce_data_ingestion_event(
        dataset_name="commodity_prices",
        record_count=10000,
        size_bytes=1024000,
        location="s3://bucket/data.parquet",
        status="SUCCESS",
    )
    d = fut.result(30)
    reader = open_reader(events_config)
    try:
        rec = _read_one(reader, "data-ingestion", d.partition, d.offset)
    finally:
        reader.close()
    payload = T.msgspec.json.decode(rec.value)
    assert list(payload)[:5] == ["eventId", "eventType", "timestamp", "source", "version"]
    assert payload["eventType"] == "DataIngestionEvent" and payload["source"] == "contract-test"
    assert payload["format"] == "parquet" and payload["metadata"] == {}
    assert rec.key == b"commodity_prices"


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda p: p.produce_data_ingestion_event("ds", -1, 10, "s3://x"), "recordCount"),
        (lambda p: p.produce_data_ingestion_event("ds", 1, 10, "s3://x", status="DONE"), "status"),
        (
            lambda p: p.produce_data_quality_event("ds", "c", "n", "PASS", 0.5, 11, 10),
            "failedRecords",
        ),
        (lambda p: p.produce_service_health_event("s", "ns", "FINE", 1.0, 0.0), "healthStatus"),
        (lambda p: p.produce_api_call_event("s", "/x", "GET", 700, 1.0, 1, 1), "statusCode"),
        (lambda p: p.produce_service_health_event("s", "ns", "HEALTHY", 1.0, 1.5), "errorRate"),
    ],
)
def test_invalid_events_raise_and_send_nothing(producer, events_config, call, field):
    reader = open_reader(events_config)
    try:
        before = _total(reader)
        with pytest.raises(EventValidationError) as info:
            call(producer)
        assert info.value.field == field
        producer.flush(10)
        assert _total(reader) == before
    finally:
        reader.close()
    assert producer.get_stats()["rejected"] == 1 and producer.get_stats()["produced"] == 0


def _total(reader) -> int:
    total = 0
    for spec in TOPICS:
        for p in reader.partitions(spec.name):
            total += reader.watermarks(spec.name, p)[1]
    return total


def test_custom_event_passes_through_and_catalog_custom_is_validated(producer, events_config):
    fut = producer.produce_custom_event("audit-user-actions", "u-9", {"hello": "world", "n": 1})
    d = fut.result(30)
    reader = open_reader(events_config)
    try:
        rec = _read_one(reader, "audit-user-actions", d.partition, d.offset)
    finally:
        reader.close()
    assert T.msgspec.json.decode(rec.value) == {"hello": "world", "n": 1}
    assert dict(rec.headers)["ce_type"] == b"com.carbon254.custom.audit-user-actions"
    with pytest.raises(EventValidationError):
        producer.produce_custom_event(
            "data-ingestion", "k", {"eventType": "DataIngestionEvent", "recordCount": -5}
        )


def test_threads_producing_at_once_are_counted_exactly(events_config):
    """Four threads produce through one producer (each also polling, as result() does), while a
    fifth waits on futures: every event is counted once, in the stats and in the metrics."""
    import threading

    from prometheus_client import CollectorRegistry

    from carbonplane.events.metrics import ProducerMetrics

    registry = CollectorRegistry()
    producer = EventProducer(
        source_service="contract-threads", config=events_config, metrics=ProducerMetrics(registry)
    )
    per_thread, futures, errors = 2_000, [[] for _ in range(4)], []

    def work(i: int) -> None:
        try:
            for n in range(per_thread):
                futures[i].append(
                    producer.produce_data_ingestion_event(f"threads_{i}_{n % 7}", n, 1, "s3://b/x")
                )
                if n % 100 == 0:
                    producer.poll(0)
            futures[i][-1].result(60)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    result = producer.flush(60)
    stats = producer.get_stats()
    producer.close(5)
    assert not errors
    total = 4 * per_thread
    assert (stats["produced"], stats["delivered"], stats["errors"], stats["pending"]) == (
        total,
        total,
        0,
        0,
    )
    assert result.remaining == 0 and result.failed == 0
    assert all(f.done() and f.result(0).ok for fs in futures for f in fs)
    labels = {"topic": "data-ingestion", "event_type": "DataIngestionEvent"}
    assert registry.get_sample_value("carbonplane_events_produced_total", labels) == total
    assert registry.get_sample_value("carbonplane_events_delivered_total", labels) == total
    assert (
        registry.get_sample_value(
            "carbonplane_event_delivery_seconds_count", {"topic": "data-ingestion"}
        )
        == total
    )
