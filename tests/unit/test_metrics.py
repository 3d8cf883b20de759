"""Producer metrics: values move with the calls, the exposition names them, a real scrape serves
them."""

from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from carbonplane.events import metrics as M
from carbonplane.events.metrics import (
    FAILURE_REASONS,
    ProducerMetrics,
    default_metrics,
    serve_metrics,
)

REPO = Path(__file__).resolve().parents[2]
NAMES = [
    "carbonplane_events_produced_total",
    "carbonplane_events_delivered_total",
    "carbonplane_events_failed_total",
    "carbonplane_events_spooled_total",
    "carbonplane_event_delivery_seconds",
    "carbonplane_events_pending",
]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_counters_move_per_topic_and_type(registry):
    m = ProducerMetrics(registry)
    m.produced("data-ingestion", "DataIngestionEvent")
    m.produced("data-ingestion", "DataIngestionEvent")
    m.produced("system-health", "ServiceHealthEvent")
    m.spooled("data-ingestion")
    assert (
        value(
            registry,
            "carbonplane_events_produced_total",
            topic="data-ingestion",
            event_type="DataIngestionEvent",
        )
        == 2
    )
    assert (
        value(
            registry,
            "carbonplane_events_produced_total",
            topic="system-health",
            event_type="ServiceHealthEvent",
        )
        == 1
    )
    assert value(registry, "carbonplane_events_spooled_total", topic="data-ingestion") == 1
    assert (
        value(
            registry,
            "carbonplane_events_delivered_total",
            topic="data-ingestion",
            event_type="DataIngestionEvent",
        )
        is None
    )


def test_delivery_counts_and_latency_histogram(registry):
    m = ProducerMetrics(registry)
    for seconds in (0.0004, 0.003, 0.003, 12.0):
        m.delivered("audit-api-calls", "AuditAPICallEvent", seconds)
    labels = dict(topic="audit-api-calls", event_type="AuditAPICallEvent")
    assert value(registry, "carbonplane_events_delivered_total", **labels) == 4
    bucket = "carbonplane_event_delivery_seconds_bucket"
    assert value(registry, bucket, topic="audit-api-calls", le="0.0005") == 1
    assert value(registry, bucket, topic="audit-api-calls", le="0.001") == 1
    assert value(registry, bucket, topic="audit-api-calls", le="0.005") == 3
    assert value(registry, bucket, topic="audit-api-calls", le="10.0") == 3
    assert value(registry, bucket, topic="audit-api-calls", le="30.0") == 4
    assert value(registry, "carbonplane_event_delivery_seconds_count", topic="audit-api-calls") == 4
    assert value(
        registry, "carbonplane_event_delivery_seconds_sum", topic="audit-api-calls"
    ) == pytest.approx(12.0064)


def test_a_batch_of_latencies_lands_as_one_by_one_would(registry):
    samples = [
        0.0005,
        0.0001,
        0.001,
        0.0011,
        30.0,
        31.0,
        0.0005,
        2.5,
    ]  # bounds are inclusive ("le")
    batch, single = ProducerMetrics(registry), ProducerMetrics(CollectorRegistry())
    batch.delivered_many("data-quality", "DataQualityEvent", samples)
    batch.delivered_many("data-quality", "DataQualityEvent", [])
    for seconds in samples:
        single.delivered("data-quality", "DataQualityEvent", seconds)
    ((topic, counts),) = batch._s.latency.items()
    assert (
        counts[:-1] == single._s.latency[topic][:-1]
    )  # per bucket; then the sum, added in another order
    assert (
        counts[-1] == pytest.approx(single._s.latency[topic][-1])
        and batch._s.delivered == single._s.delivered
    )
    bucket = "carbonplane_event_delivery_seconds_bucket"
    assert value(registry, bucket, topic="data-quality", le="0.0005") == 3
    assert value(registry, bucket, topic="data-quality", le="0.001") == 4
    assert value(registry, bucket, topic="data-quality", le="30.0") == 7
    assert value(registry, bucket, topic="data-quality", le="+Inf") == 8


def test_buckets_span_half_a_millisecond_to_thirty_seconds():
    assert M.DELIVERY_BUCKETS[0] == 0.0005 and M.DELIVERY_BUCKETS[-1] == 30.0
    assert list(M.DELIVERY_BUCKETS) == sorted(set(M.DELIVERY_BUCKETS))


def test_failures_by_reason_and_unknown_reason_refused(registry):
    m = ProducerMetrics(registry)
    for reason in sorted(FAILURE_REASONS):
        m.failed("security-events", "SecurityEvent", reason)
    m.failed("security-events", "SecurityEvent", "delivery")
    for reason in FAILURE_REASONS:
        expected = 2 if reason == "delivery" else 1
        assert (
            value(
                registry,
                "carbonplane_events_failed_total",
                topic="security-events",
                event_type="SecurityEvent",
                reason=reason,
            )
            == expected
        )
    with pytest.raises(ValueError, match="unknown failure reason 'timeout'.*backpressure"):
        m.failed("security-events", "SecurityEvent", "timeout")
    assert (
        value(
            registry,
            "carbonplane_events_failed_total",
            topic="security-events",
            event_type="SecurityEvent",
            reason="timeout",
        )
        is None
    )
    assert FAILURE_REASONS == {"validation", "delivery", "backpressure", "unknown_topic"}


def test_pending_is_summed_over_producers_sharing_a_registry(registry):
    a, b = ProducerMetrics(registry), ProducerMetrics(registry)
    a.set_pending(3)
    b.set_pending(4)
    assert value(registry, "carbonplane_events_pending") == 7
    a.set_pending(0)
    assert value(registry, "carbonplane_events_pending") == 4
    b.set_pending(1)
    assert value(registry, "carbonplane_events_pending") == 1


def test_producers_on_one_registry_share_collectors_without_duplicate_errors(registry):
    a, b = ProducerMetrics(registry), ProducerMetrics(registry)
    a.produced("t", "E")
    b.produced("t", "E")
    assert value(registry, "carbonplane_events_produced_total", topic="t", event_type="E") == 2
    other = CollectorRegistry()
    ProducerMetrics(other).produced("t", "E")
    assert value(other, "carbonplane_events_produced_total", topic="t", event_type="E") == 1
    assert value(registry, "carbonplane_events_produced_total", topic="t", event_type="E") == 2


def test_default_instance_is_shared_on_the_default_registry():
    assert default_metrics() is default_metrics()
    assert default_metrics().registry is REGISTRY
    before = (
        REGISTRY.get_sample_value(
            "carbonplane_events_produced_total", {"topic": "metrics-test", "event_type": "E"}
        )
        or 0
    )
    ProducerMetrics().produced("metrics-test", "E")  # a second instance on REGISTRY: no ValueError
    default_metrics().produced("metrics-test", "E")
    assert (
        REGISTRY.get_sample_value(
            "carbonplane_events_produced_total", {"topic": "metrics-test", "event_type": "E"}
        )
        == before + 2
    )


def test_exposition_text_names_every_metric(registry):
    m = ProducerMetrics(registry)
    m.produced("data-quality", "DataQualityEvent")
    m.delivered("data-quality", "DataQualityEvent", 0.01)
    m.failed("data-quality", "DataQualityEvent", "validation")
    m.spooled("data-quality")
    m.set_pending(2)
    text = generate_latest(registry).decode()
    for name in NAMES:
        assert f"# HELP {name.removesuffix('_total')}" in text and re.search(
            rf"^{name}", text, re.M
        ), name
    assert "# TYPE carbonplane_event_delivery_seconds histogram" in text
    assert (
        'carbonplane_events_failed_total{event_type="DataQualityEvent",reason="validation",'
        'topic="data-quality"} 1.0' in text
    )
    assert "carbonplane_events_pending 2.0" in text


def test_scrape_over_http(registry):
    m = ProducerMetrics(registry)
    m.produced("config-changes", "ConfigChangeEvent")
    m.delivered("config-changes", "ConfigChangeEvent", 0.002)
    server = serve_metrics(0, registry=registry)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1" and port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
            body = resp.read().decode()
        assert (
            "carbonplane_events_delivered_total"
            '{event_type="ConfigChangeEvent",topic="config-changes"} 1.0' in body
        )
        m.produced("config-changes", "ConfigChangeEvent")  # a second scrape sees the new value
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert (
            "carbonplane_events_produced_total"
            '{event_type="ConfigChangeEvent",topic="config-changes"} 2.0' in body
        )
    finally:
        server.shutdown()
        server.server_close()


def test_serving_on_a_busy_port_says_so(registry):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            OSError, match=f"cannot serve metrics on 127.0.0.1:{port}.*another port"
        ):
            serve_metrics(port, registry=registry)


def test_producer_updates_metrics_on_the_default_backend(cp_home, registry):
    from carbonplane.errors import EventValidationError
    from carbonplane.events.producer import EventProducer
    from carbonplane.events.samples import sample_events

    producer = EventProducer(source_service="metrics-test", metrics=ProducerMetrics(registry))
    try:
        for event in sample_events():
            producer.produce(event)
        with pytest.raises(EventValidationError):
            producer.produce_service_health_event(
                service_name="s", namespace="n", health_status="OK", latency_ms=1.0, error_rate=0.0
            )
        result = producer.flush(30)
    finally:
        producer.close()
    assert result.remaining == 0 and result.delivered == 12
    labels = dict(topic="data-lineage", event_type="DataLineageEvent")
    assert value(registry, "carbonplane_events_produced_total", **labels) == 1
    assert value(registry, "carbonplane_events_delivered_total", **labels) == 1
    assert value(registry, "carbonplane_event_delivery_seconds_count", topic="data-lineage") == 1
    assert (
        value(
            registry,
            "carbonplane_events_failed_total",
            topic="system-health",
            event_type="ServiceHealthEvent",
            reason="validation",
        )
        == 1
    )
    assert value(registry, "carbonplane_events_pending") == 0


def test_docs_describe_every_metric():
    text = (REPO / "docs" / "metrics.md").read_text()
    for name in NAMES:
        assert f"`{name}" in text, f"docs/metrics.md does not describe {name}"
    for reason in FAILURE_REASONS:
        assert f"`{reason}`" in text
