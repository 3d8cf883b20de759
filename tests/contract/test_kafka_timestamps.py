"""The producer's future-timestamp limit against the real broker: it is the broker's own limit.

Kafka brokers refuse a record whose timestamp is more than ``log.message.timestamp.after.max.ms``
ahead of their clock (3600000 ms by default since Kafka 4.0; topic setting
``message.timestamp.after.max.ms``) with a bare ``INVALID_TIMESTAMP``. The producer refuses such an
event before sending it (``envelope.MAX_FUTURE_MS``) with an error that says why. These tests check,
on the broker in use, that its limit is ours, that it does refuse what we refuse, and that an event
just inside the limit is delivered.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from prometheus_client import CollectorRegistry

from carbonplane.errors import EventValidationError
from carbonplane.events.config import EventsConfig
from carbonplane.events.envelope import MAX_FUTURE_MS
from carbonplane.events.metrics import ProducerMetrics
from carbonplane.events.producer import EventProducer

HOUR_MS = 3_600_000


@pytest.fixture
def topic(kafka_bootstrap, unique_name):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    name = unique_name("ts")
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.fixture
def producer(kafka_bootstrap, cp_home):
    cfg = EventsConfig.from_env({}, bootstrap_servers=kafka_bootstrap, home=cp_home)
    producer = EventProducer(
        source_service="timestamps", config=cfg, metrics=ProducerMetrics(CollectorRegistry())
    )
    yield producer
    producer.close(5)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_the_broker_limit_is_the_producer_limit(kafka_bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert MAX_FUTURE_MS == HOUR_MS
    assert int(configs["message.timestamp.after.max.ms"].value) == MAX_FUTURE_MS


def test_the_broker_refuses_a_record_two_hours_ahead_and_the_producer_refuses_it_first(
    kafka_bootstrap, topic, producer
):
    reports = []
    raw = Producer({"bootstrap.servers": kafka_bootstrap, "message.timeout.ms": 20_000})
    raw.produce(
        topic,
        b"{}",
        b"k",
        timestamp=_now_ms() + 2 * HOUR_MS,
        on_delivery=lambda err, msg: reports.append(err),
    )
    assert raw.flush(30) == 0
    assert (
        len(reports) == 1
        and reports[0] is not None
        and reports[0].code() == KafkaError.INVALID_TIMESTAMP
    )

    with pytest.raises(EventValidationError) as info:
        producer.produce_custom_event(topic, "k", {"timestamp": _now_ms() + 2 * HOUR_MS})
    assert (
        info.value.field == "timestamp"
        and "log.message.timestamp.after.max.ms" in info.value.problem
    )
    with pytest.raises(EventValidationError, match="INVALID_TIMESTAMP"):
        producer.produce_data_ingestion_event(
            "d", 1, 1, "s3://b/k", timestamp=_now_ms() + 2 * HOUR_MS
        )
    assert producer.get_stats()["produced"] == 0 and producer.get_stats()["rejected"] == 2


def test_an_event_59_minutes_ahead_is_delivered(topic, producer):
    ts = _now_ms() + 59 * 60_000
    delivery = producer.produce_custom_event(topic, "k", {"timestamp": ts, "n": 1}).result(30)
    assert delivery.ok and delivery.topic == topic
