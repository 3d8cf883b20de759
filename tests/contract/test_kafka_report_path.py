"""The producer's direct report path on the real broker (``base.ReportSink``).

Once a topic is known, the Kafka backend hands each event's ``DeliveryFuture`` to librdkafka as the
record's own callback. These tests check that this path counts exactly like the wrapped one: a
success resolves the future and the stats, a record the broker refuses (larger than the topic's
``max.message.bytes``, which bounds a whole record batch) comes back as a failure through the
backend's failure handler, and
``pending`` returns to 0 in both cases.
"""

from __future__ import annotations

import os

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import CollectorRegistry

from carbonplane.errors import DeliveryError
from carbonplane.events.config import EventsConfig
from carbonplane.events.metrics import ProducerMetrics
from carbonplane.events.producer import EventProducer


@pytest.fixture
def small_topic(kafka_bootstrap, unique_name):
    """A topic whose broker-side batch limit is 64 KiB (the producer's own limit stays at 1 MB)."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    name = unique_name("small")
    futures = admin.create_topics([NewTopic(name, 1, 1, config={"max.message.bytes": "65536"})])
    futures[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.fixture
def producer(kafka_bootstrap, cp_home):
    cfg = EventsConfig.from_env({}, bootstrap_servers=kafka_bootstrap, home=cp_home)
    producer = EventProducer(
        source_service="report-path", config=cfg, metrics=ProducerMetrics(CollectorRegistry())
    )
    yield producer
    producer.close(5)


def test_successes_and_a_refused_record_are_counted_once_each(producer, small_topic):
    first = producer.produce_custom_event(
        small_topic, "k", {"n": 0}
    )  # checks the topic: the wrapped path
    assert first.result(30).ok and producer.flush(5).delivered == 1
    assert producer._backend._direct == 0

    small = [producer.produce_custom_event(small_topic, "k", {"n": i}) for i in range(1, 6)]
    assert (
        producer._backend._direct == 5
    )  # the topic is known now: futures went to librdkafka as they are
    assert producer.flush(30).delivered == 5
    assert [f.result(0).offset for f in small] == [1, 2, 3, 4, 5]

    big = producer.produce_custom_event(
        small_topic, "k", {"blob": os.urandom(100_000).hex()}
    )  # ~100 KB as lz4
    result = producer.flush(30)
    assert result.remaining == 0 and result.delivered == 0 and result.failed == 1
    assert "MSG_SIZE_TOO_LARGE" in result.errors[0]
    with pytest.raises(DeliveryError, match="MSG_SIZE_TOO_LARGE"):
        big.result(0)
    stats = producer.get_stats()
    assert (stats["delivered"], stats["errors"], stats["pending"], stats["produced"]) == (
        6,
        1,
        0,
        7,
    )


def test_pending_counts_records_on_the_direct_path_until_reported(producer, small_topic):
    producer.produce_custom_event(small_topic, "k", {"n": 0}).result(30)
    futures = [producer.produce_custom_event(small_topic, "k", {"n": i}) for i in range(1, 201)]
    assert producer._backend._direct == 200
    assert (
        0 < producer.get_stats()["pending"] <= 200
    )  # some may be served by the producer's own polls
    assert producer.flush(30).ok
    assert producer.get_stats()["pending"] == 0
    assert all(f.done() and f.result(0).ok for f in futures)
