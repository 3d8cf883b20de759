"""event-log end to end: requests through the engine become AuditAPICallEvents in the local
event log's ``audit-api-calls`` topic, read back through the LogReader seam."""

from __future__ import annotations

from gwharness import http
from tests.kits.plugins import handler

from carbonplane.events.backends.factory import open_reader
from carbonplane.events.codec import decode_event
from carbonplane.events.config import EventsConfig
from carbonplane.events.producer import EventProducer
from carbonplane.gateway.plugins import PluginServices

from .proxykit import ChainProxy

TOPIC = "audit-api-calls"


def read_all(reader) -> list:
    events = []
    for partition in reader.partitions(TOPIC):
        low, high = reader.watermarks(TOPIC, partition)
        if high > low:
            events += [
                decode_event(r.value) for r in reader.read(TOPIC, partition, low, 1000, timeout=1.0)
            ]
    return events


def test_requests_become_audit_events_in_the_local_log(upstream, cp_home):
    producer = EventProducer(source_service="api-gateway", config=EventsConfig.from_env())
    services = PluginServices(producer=lambda: producer)
    audit = handler("event-log", {}, services=services)
    with ChainProxy(upstream.port, [audit]) as proxy:
        for path in ("/api/datahub/a?apikey=secret", "/api/datahub/__status/503", "/api/datahub/b"):
            http(proxy.port, "POST", path, body=b"{}", headers={"Content-Type": "application/json"})
        assert audit.drain.flush(15.0)
    assert producer.flush(15.0)
    reader = open_reader(EventsConfig.from_env())
    try:
        events = sorted(read_all(reader), key=lambda e: e.timestamp)
    finally:
        reader.close()
        producer.close()
    assert len(events) == 3
    assert {e.endpoint for e in events} == {"/api/datahub"}
    assert [e.status_code for e in events] == [200, 503, 200]
    first = events[0]
    assert (first.service, first.method, first.ip_address, first.source) == (
        "datahub-gms",
        "POST",
        "127.0.0.1",
        "api-gateway",
    )
    assert first.request_size_bytes > 2 and first.response_size_bytes > 0 and first.latency_ms >= 0
    assert events[1].error_message == "upstream answered 503"
    assert all("secret" not in repr(e) for e in events)


def test_a_gateway_process_produces_audit_events(upstream, cp_home, tmp_path):
    from gwharness import GatewayProcess, write_config

    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "datahub-gms",
                "url": f"http://{upstream.address}/",
                "routes": [{"name": "datahub-api", "paths": ["/api/datahub"]}],
            }
        ],
        "plugins": [{"name": "event-log"}],
    }
    path = write_config(tmp_path / "kong.yml", doc)
    with GatewayProcess(path, workers=1, env={"CARBONPLANE_HOME": str(cp_home)}) as gw:
        for _ in range(3):
            assert http(gw.proxy_port, "GET", "/api/datahub/x")[0] == 200
        reader = open_reader(EventsConfig.from_env())
        try:
            from tests.kits.net import wait_until

            events = wait_until(
                lambda: (lambda e: e if len(e) >= 3 else None)(read_all(reader)),
                timeout=15,
                what="3 audit events from the gateway process",
            )
        finally:
            reader.close()
    assert {e.service for e in events} == {"datahub-gms"}
