"""event-log: the AuditAPICallEvent fields of a finished request, events read back from an
in-memory log through the LogReader seam, a blocked producer never blocking on_log (drops are
counted), and the counters in the worker registry and host totals."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, generate_latest
from reqkit import request, respond
from test_file_log import finished_request
from tests.kits.plugins import handler

from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.catalog import TOPICS
from carbonplane.events.codec import decode_event
from carbonplane.events.producer import EventProducer
from carbonplane.gateway.config.schema import freeze
from carbonplane.gateway.plugins import PluginServices
from carbonplane.gateway.plugins.event_log.handler import event_fields
from carbonplane.gateway.plugins.prometheus.exposition import render_metrics

TOPIC = "audit-api-calls"


def memory_log() -> MemoryLog:
    log = MemoryLog()
    log.apply_topics(TOPICS)
    return log


def read_events(log: MemoryLog) -> list:
    out = []
    for partition in log.partitions(TOPIC):
        out += [decode_event(r.value) for r in log.read(TOPIC, partition, 0, 1000, timeout=0)]
    return out


def test_fields_of_a_proxied_request():
    fields = event_fields("route_path", finished_request())
    assert fields == {
        "service": "trino",
        "endpoint": "/api/trino",
        "method": "POST",
        "status_code": 200,
        "latency_ms": 60.0,
        "request_size": fields["request_size"],
        "response_size": fields["response_size"],
        "ip_address": "203.0.113.7",
        "user_id": "ana",
        "api_key_id": "k-1",
    }
    assert fields["request_size"] > 5 and fields["response_size"] > 42


def test_endpoint_modes_never_carry_the_query():
    ctx = finished_request()
    assert event_fields("request_path", ctx)["endpoint"] == "/api/trino/v1/statement"
    assert event_fields("upstream_path", ctx)["endpoint"] == "/v1/statement"
    ctx.vars["route"] = None
    assert event_fields("route_path", ctx)["endpoint"] == "/api/trino/v1/statement"


def test_errors_and_missing_parts():
    ctx = request("GET", "/x", {"apikey": "secret-key"})
    ctx.vars["consumer"] = freeze({"id": "c-9", "custom_id": "ext-9"})
    ctx.vars["credential"] = freeze({"id": "cred-9", "key": "secret-key"})
    ctx.error = "connect failed: refused"
    ctx.finished = ctx.started + 0.001
    respond(ctx, 502)
    ctx.source = "proxy"
    fields = event_fields("route_path", ctx)
    assert fields["service"] == "none" and fields["status_code"] == 502
    assert fields["error_message"] == "connect failed: refused"
    assert fields["user_id"] == "ext-9" and fields["api_key_id"] == "cred-9"
    assert "secret-key" not in repr(fields)
    gone = request("GET", "/y")
    assert event_fields("route_path", gone)["status_code"] == 499


def test_events_reach_the_log():
    log = memory_log()
    producer = EventProducer(source_service="api-gateway", backend=log)
    h = handler("event-log", {}, services=PluginServices(producer=lambda: producer))
    for _ in range(5):
        h.on_log(finished_request())
    assert h.drain.flush(10.0)
    producer.flush()
    events = read_events(log)
    assert len(events) == 5
    e = events[0]
    assert (e.service, e.endpoint, e.method, e.status_code, e.user_id, e.api_key_id) == (
        "trino",
        "/api/trino",
        "POST",
        200,
        "ana",
        "k-1",
    )
    assert e.source == "api-gateway" and type(e).__name__ == "AuditAPICallEvent"


class _Blocked:
    """A real producer behind a gate: produce waits until the gate opens (back-pressure)."""

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer
        self.gate = threading.Event()
        self.entered = threading.Event()

    def produce_api_call_event(self, **fields):
        self.entered.set()
        self.gate.wait(10.0)
        return self.producer.produce_api_call_event(**fields)


def test_a_blocked_producer_drops_and_counts_instead_of_blocking(tmp_path):
    log = memory_log()
    blocked = _Blocked(EventProducer(source_service="api-gateway", backend=log))
    registry = CollectorRegistry()
    services = PluginServices(
        producer=lambda: blocked, registry=registry, runtime_dir=str(tmp_path)
    )
    h = handler("event-log", {"queue_size": 3}, services=services)
    h.on_log(finished_request())
    h.drain._wake.set()
    assert blocked.entered.wait(10.0)  # the thread holds request 1 and waits on the gate
    for _ in range(5):
        h.on_log(finished_request())  # 3 fit in the queue, 2 are dropped - and nothing waits
    assert h.drain.dropped == 2
    blocked.gate.set()
    assert h.drain.flush(10.0)
    blocked.producer.flush()
    assert len(read_events(log)) == 4 and h.drain.produced == 4
    text = generate_latest(registry).decode()
    assert (
        "carbonplane_event_log_dropped_total 2.0" in text
        and "carbonplane_event_log_produced_total 4.0" in text
    )
    h.on_log(finished_request())  # refresh the host counters
    assert "carbonplane_event_log_dropped_total 2" in render_metrics(h.metrics)


def test_no_producer_counts_failures():
    h = handler("event-log", {}, services=PluginServices(producer=None))
    h.on_log(finished_request())
    assert h.drain.flush(10.0)
    assert h.drain.failed == 1 and h.drain.produced == 0
