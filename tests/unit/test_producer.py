"""EventProducer over an in-test backend: accounting, futures, callbacks, flush results, facade."""

from __future__ import annotations

import pytest

from carbonplane.errors import DeliveryError, EventValidationError
from carbonplane.events.backends.base import Delivery, ProducerBackend
from carbonplane.events.producer import EventProducer
from carbonplane.events.samples import sample_event


class ScriptedBackend(ProducerBackend):
    """Queues records; ``poll`` acknowledges them, failing the topics listed in ``fail``."""

    name = "scripted"

    def __init__(self, fail: set[str] = frozenset(), hold: bool = False) -> None:
        self.fail, self.hold = set(fail), hold
        self.queue: list = []
        self.sent: list = []

    def produce(self, topic, value, key=None, headers=None, on_delivery=None, timestamp_ms=0):
        self.queue.append((topic, value, key, headers, on_delivery))

    def poll(self, timeout=0.0):
        if self.hold:
            return 0
        n, self.queue = self.queue, []
        for i, (topic, value, key, headers, cb) in enumerate(n):
            if topic in self.fail:
                cb(Delivery(topic, -1, -1, "Broker: not enough replicas"))
            else:
                self.sent.append((topic, value, key, headers))
                cb(Delivery(topic, 0, len(self.sent) - 1))
        return len(n)

    def flush(self, timeout=10.0):
        self.poll()
        return len(self.queue)

    def close(self, timeout=10.0):
        return self.flush(timeout)

    def __len__(self):
        return len(self.queue)


def test_stats_futures_and_callbacks():
    backend = ScriptedBackend(fail={"system-health"})
    seen = []
    p = EventProducer(source_service="unit", backend=backend)
    ok = p.produce(sample_event("DataIngestionEvent"), on_delivery=seen.append)
    bad = p.produce(sample_event("ServiceHealthEvent"), on_delivery=seen.append)
    result = p.flush(1)
    assert ok.result(1).offset == 0
    with pytest.raises(DeliveryError, match="not enough replicas"):
        bad.result(1)
    assert [d.ok for d in seen] == [True, False]
    assert (result.delivered, result.failed, result.remaining, result.ok) == (1, 1, 0, False)
    assert "system-health" in result.errors[0]
    assert p.get_stats() == {
        "delivered": 1,
        "errors": 1,
        "produced": 2,
        "pending": 0,
        "spooled": 0,
        "rejected": 0,
    }


def test_pending_events_are_reported_not_dropped():
    backend = ScriptedBackend(hold=True)
    p = EventProducer(source_service="unit", backend=backend)
    p.produce(sample_event("DeploymentEvent"))
    result = p.flush(0.01)
    assert result.remaining == 1 and not result
    assert p.get_stats()["pending"] == 1


def test_validation_error_names_type_and_field_and_queues_nothing():
    backend = ScriptedBackend()
    p = EventProducer(source_service="unit", backend=backend)
    with pytest.raises(EventValidationError) as info:
        p.produce_data_transformation_event(
            "job", ["a"], ["b"], records_in=1, records_out=1, duration_ms=-3
        )
    assert (info.value.event_type, info.value.field) == ("DataTransformationEvent", "durationMs")
    with pytest.raises(EventValidationError) as info:
        p.produce_admin_operation_event("root", "DROP", "db", "MAYBE")
    assert info.value.field == "result"
    with pytest.raises(EventValidationError) as info:
        p.produce_security_event("RATE_LIMITED", "LOW", "/x", colour="red")
    assert info.value.field == "colour"
    assert backend.queue == [] and p.get_stats()["rejected"] == 3


def test_facade_import_path_and_enums():
    from event_producer import EventType, Topic, get_event_producer

    assert len(EventType) == 12 and len(Topic) == 12
    backend = ScriptedBackend()
    with get_event_producer("facade", backend=backend) as p:
        p.produce_service_health_event(
            service_name="s",
            namespace="n",
            health_status="HEALTHY",
            latency_ms=25,
            error_rate=0.001,
        )
    assert p.get_stats()["delivered"] == 1
    topic, value, key, headers = backend.sent[0]
    assert (topic, key) == (Topic.SYSTEM_HEALTH.value, b"s")
    assert dict(headers)["ce_source"] == b"facade"


def test_every_produce_method_exists_per_catalog_type():
    names = [
        "data_ingestion",
        "data_quality",
        "data_lineage",
        "data_transformation",
        "service_health",
        "deployment",
        "config_change",
        "security",
        "user_action",
        "api_call",
        "data_access",
        "admin_operation",
    ]
    for n in names:
        assert callable(getattr(EventProducer, f"produce_{n}_event"))


def test_spooled_delivery_is_counted_apart_and_its_future_resolves():
    class SpoolingBackend(ScriptedBackend):
        def poll(self, timeout=0.0):
            n, self.queue = self.queue, []
            for topic, value, key, headers, cb in n:
                cb(Delivery(topic, -1, -1, "all brokers down", spooled=True))
            return len(n)

    p = EventProducer(source_service="unit", backend=SpoolingBackend())
    fut = p.produce(sample_event("ConfigChangeEvent"))
    result = p.flush(1)
    assert fut.result(1).spooled
    assert (result.spooled, result.failed, result.remaining) == (1, 0, 0)
    stats = p.get_stats()
    assert (stats["spooled"], stats["errors"], stats["delivered"]) == (1, 0, 0)


def test_lineage_column_errors_name_the_column_position():
    p = EventProducer(source_service="unit", backend=ScriptedBackend())
    with pytest.raises(EventValidationError) as info:
        p.produce_data_lineage_event(
            "a",
            "b",
            "COPY",
            "n",
            columns=[{"sourceColumn": "x", "targetColumn": "y"}, {"targetColumn": "y"}],
        )
    assert (info.value.event_type, info.value.field) == (
        "DataLineageEvent",
        "columns[1].sourceColumn",
    )
    assert p.get_stats()["rejected"] == 1


def test_none_means_absent_in_the_produce_methods():
    import msgspec

    backend = ScriptedBackend()
    p = EventProducer(source_service="unit", backend=backend)
    p.produce_data_ingestion_event(
        "prices", 1, 2, "s3://b/x", status=None, format=None
    )  # defaults apply
    p.produce_data_quality_event(
        "prices", "completeness", "nulls", "PASS", 0.9, 1, 10, message=None
    )
    p.produce_api_call_event(
        "gw", "/x", "GET", 200, 1.5, 10, 20, event_id="id-1", correlation_id=None
    )
    p.flush(1)
    ingestion, quality, api = (msgspec.json.decode(value) for _, value, _, _ in backend.sent)
    assert (ingestion["status"], ingestion["format"]) == ("SUCCESS", "parquet")
    assert "message" not in quality
    assert api["eventId"] == "id-1" and "correlationId" not in api and "userId" not in api
    with pytest.raises(EventValidationError) as info:
        p.produce_data_ingestion_event(None, 1, 2, "s3://b/x")  # a required field left out
    assert (info.value.event_type, info.value.field) == ("DataIngestionEvent", "datasetName")
    with pytest.raises(EventValidationError) as info:
        p.produce_data_transformation_event("job", None, ["out"], 1, 1, 5)
    assert info.value.field == "inputDatasets"
    assert p.get_stats()["rejected"] == 2 and p.get_stats()["produced"] == 3
