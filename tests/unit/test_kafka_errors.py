"""Error paths of the Kafka backend that need no real broker.

What a delivery error means (permanent vs outage, the one-line description with its fix), the
producer settings the backend adds, the rate-limited failure log, and - on librdkafka's mock cluster
(``test.mock.num.brokers``, used only here) - fast unknown-topic errors, back-pressure that
recovers, and a too-large record refused before it is queued. Broker-down behaviour is tested
against real sockets in tests/contract/test_kafka_broker_down.py.
"""

from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import KafkaError

from carbonplane.errors import DeliveryError, UnknownTopicError
from carbonplane.events.backends.base import Delivery
from carbonplane.events.backends.kafka import KafkaProducerBackend
from carbonplane.events.backends.kafka_errors import (
    DEFAULT_MESSAGE_TIMEOUT_MS,
    FailureLog,
    describe,
    is_permanent,
    is_unknown_topic,
    message_timeout_ms,
    producer_config,
)
from carbonplane.events.config import EventsConfig

OUTAGES = [
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._PURGE_QUEUE,
    KafkaError._PURGE_INFLIGHT,
    KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._FATAL,
]
PERMANENT = [
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.INVALID_RECORD,
]


def _cfg(tmp_path, **overrides) -> EventsConfig:
    return EventsConfig.from_env(
        {}, bootstrap_servers="127.0.0.1:9092", home=tmp_path, overrides=overrides
    )


def _mock_cfg(tmp_path, **overrides) -> EventsConfig:
    return _cfg(tmp_path, **{"test.mock.num.brokers": 1, **overrides})


@pytest.mark.parametrize("code", OUTAGES)
def test_outage_errors_are_worth_retrying(code):
    assert not is_permanent(KafkaError(code))


@pytest.mark.parametrize("code", PERMANENT)
def test_refusals_are_permanent(code):
    assert is_permanent(KafkaError(code))


def test_descriptions_say_what_to_do():
    unknown = describe(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART), "orders")
    assert (
        "UNKNOWN_TOPIC_OR_PART" in unknown
        and "'orders'" in unknown
        and "carbonplane topics apply" in unknown
    )
    assert is_unknown_topic(KafkaError(KafkaError._UNKNOWN_TOPIC))
    timeout = describe(KafkaError(KafkaError._MSG_TIMED_OUT), "orders", 30_000)
    assert "message.timeout.ms=30000" in timeout and "reachable" in timeout
    assert "KAFKA_BOOTSTRAP_SERVERS" in describe(KafkaError(KafkaError._ALL_BROKERS_DOWN), "orders")
    assert "message.max.bytes" in describe(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), "orders")


def test_producer_settings_bound_the_delivery_timeout(tmp_path):
    conf = producer_config(_cfg(tmp_path), "svc")
    assert conf["message.timeout.ms"] == DEFAULT_MESSAGE_TIMEOUT_MS == 30_000
    assert conf["allow.auto.create.topics"] is False
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["compression.type"] == "lz4" and conf["partitioner"] == "murmur2_random"
    assert (
        message_timeout_ms(producer_config(_cfg(tmp_path, **{"message.timeout.ms": 5000}), "svc"))
        == 5000
    )
    aliased = producer_config(_cfg(tmp_path, **{"delivery.timeout.ms": 7000}), "svc")
    assert "message.timeout.ms" not in aliased and message_timeout_ms(aliased) == 7000


def test_failure_log_folds_repeats_and_reports_them(caplog):
    failures = FailureLog(logging.getLogger("carbonplane.events.kafka"), interval=60.0)
    with caplog.at_level(logging.WARNING, logger="carbonplane.events.kafka"):
        for _ in range(5):
            failures.warn("delivery failed", "orders", "_MSG_TIMED_OUT: Local: Message timed out")
        failures.warn("delivery failed", "audit", "_MSG_TIMED_OUT: Local: Message timed out")
        failures.summary()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "'orders'" in lines[0] and "'audit'" in lines[1]
    assert lines[2].startswith("4 more: delivery failed to 'orders'")


def test_missing_topic_fails_fast_with_the_fix(tmp_path):
    backend = KafkaProducerBackend(_mock_cfg(tmp_path), "unit")
    try:
        started = time.monotonic()
        with pytest.raises(UnknownTopicError) as raised:
            backend.produce("no-such-topic", b"{}", b"k")
        assert time.monotonic() - started < 2.0
        assert raised.value.topic == "no-such-topic"
        assert "carbonplane topics apply" in str(raised.value)
        assert len(backend) == 0
    finally:
        backend.close(1)


def test_full_queue_blocks_until_deliveries_free_it(tmp_path):
    cfg = _mock_cfg(
        tmp_path, **{"allow.auto.create.topics": True, "queue.buffering.max.messages": 5}
    )
    backend = KafkaProducerBackend(cfg, "unit", queue_timeout=10)
    deliveries: list[Delivery] = []
    try:
        for i in range(300):
            backend.produce("pressure", b"v%d" % i, b"k%d" % i, None, deliveries.append)
        assert backend.flush(10) == 0
        backend.poll(0)
    finally:
        backend.close(1)
    assert len(deliveries) == 300 and all(d.ok for d in deliveries)
    assert {d.offset for d in deliveries if d.partition == deliveries[0].partition} >= {0}


def test_record_over_message_max_bytes_is_refused_and_not_queued(tmp_path):
    cfg = _mock_cfg(tmp_path, **{"allow.auto.create.topics": True})
    backend = KafkaProducerBackend(cfg, "unit")
    try:
        with pytest.raises(DeliveryError) as raised:
            backend.produce("large", b"x" * 2_000_000, b"k")
        assert raised.value.topic == "large" and "message.max.bytes" in str(raised.value)
        assert len(backend) == 0
    finally:
        backend.close(1)
