"""The integrations' shared core without a server: settings refused by name, exclusion and sampling,
client IP behind trusted proxies, W3C trace context, the emitter's bounded queue (a producer that
blocks: submits stay instant, the overflow is counted), and the event library's extension headers
(checked names, written after the CloudEvents headers, read back from the in-memory log). Also that
importing carbonplane and the adapters loads no web framework.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from carbonplane.errors import ConfigError, EventValidationError
from carbonplane.events import TOPICS, AuditAPICallEvent, EventProducer, MemoryLog
from carbonplane.events.envelope import extension_headers
from carbonplane.integrations import AuditSettings, Call, Emitter
from carbonplane.integrations.core import trace_context

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"service": " "}, "service"),
        ({"service": "s", "namespace": ""}, "namespace"),
        ({"service": "s", "sample_rate": 1.5}, "sample_rate"),
        ({"service": "s", "sample_rate": True}, "sample_rate"),
        ({"service": "s", "sample_rate": "0.5"}, "sample_rate"),
        ({"service": "s", "exclude": "/health"}, "exclude"),
        ({"service": "s", "exclude": ["/ok", "nope"]}, "exclude[1]"),
        ({"service": "s", "trusted_proxies": ["10.0.0.0/8", "proxy.local"]}, "trusted_proxies[1]"),
        ({"service": "s", "queue_size": 0}, "queue_size"),
        ({"service": "s", "audit_topic": " "}, "audit_topic"),
    ],
)
def test_bad_settings_name_the_setting(kwargs, where):
    with pytest.raises(ConfigError) as err:
        AuditSettings(**kwargs)
    assert err.value.where == where


def test_exclusion_exact_and_prefix_and_sampling():
    s = AuditSettings("s", exclude=["/health", "/internal/*"])
    assert not s.wants("/health") and s.wants("/health/deep") and s.wants("/healthz")
    assert not s.wants("/internal/") and not s.wants("/internal/x/y") and s.wants("/internal")
    assert not any(AuditSettings("s", sample_rate=0.0).wants("/x") for _ in range(1000))
    half = sum(AuditSettings("s", sample_rate=0.5).wants("/x") for _ in range(4000))
    assert 1700 < half < 2300  # binomial(4000, 0.5): more than 9 standard deviations of room


def test_client_ip_believes_forwarded_for_only_from_trusted_peers():
    s = AuditSettings("s", trusted_proxies="10.0.0.0/8, 192.0.2.1")
    assert s.client_ip("203.0.113.1", "1.2.3.4") == "203.0.113.1"  # untrusted peer: spoof ignored
    assert s.client_ip("10.1.1.1", "1.2.3.4") == "1.2.3.4"
    # the client wrote "6.6.6.6"; the trusted proxies appended the real addresses on the right
    assert s.client_ip("10.1.1.1", "6.6.6.6, 198.51.100.2, 192.0.2.1") == "198.51.100.2"
    assert s.client_ip("10.1.1.1", "10.2.2.2, 10.3.3.3") == "10.2.2.2"  # all trusted: left-most
    assert s.client_ip("10.1.1.1", "1.2.3.4, not-an-ip") == "10.1.1.1"  # malformed hop: peer
    assert s.client_ip("10.1.1.1", "") == "10.1.1.1"
    assert s.client_ip(None, "1.2.3.4") == "unknown"
    assert AuditSettings("s").client_ip("10.1.1.1", "1.2.3.4") == "10.1.1.1"  # none trusted


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        TP.upper(),
        TP + "-00",
        "ff" + TP[2:],
        "00-" + "0" * 32 + TP[35:],  # all-zero trace id
        TP[:36] + "0" * 16 + TP[52:],  # all-zero parent id
        TP[:-1] + "g",
        "00_" + TP[3:],
    ],
)
def test_invalid_traceparent_is_dropped_with_its_tracestate(header):
    assert trace_context(header, "a=b") == (None, None)


def test_valid_traceparent_and_tracestate():
    assert trace_context(TP, "a=b,c=d") == (TP, "a=b,c=d")
    assert trace_context(TP, "x" * 600) == (TP, None)  # too long: dropped, traceparent kept
    assert trace_context(TP, "a=b\n") == (TP, None)
    assert trace_context(TP, "a=caf\u00e9") == (TP, None)  # W3C: printable ASCII only


def call(i: int) -> Call:
    return Call("GET", f"/c/{i}", 200, 1.0, 0, 2, None, "127.0.0.1", None, None, None)


def test_a_blocked_producer_never_blocks_submit_and_overflow_is_counted():
    release = threading.Event()
    log = MemoryLog()
    log.apply_topics(TOPICS)

    def slow_factory():  # the backend is stuck (a broker that does not answer) until released
        release.wait(10)
        return EventProducer(source_service="slow", backend=log)

    emitter = Emitter(AuditSettings("slow", queue_size=5), slow_factory)
    start = time.perf_counter()
    for i in range(50):
        emitter.submit(call(i))
    assert time.perf_counter() - start < 0.05
    assert emitter.stats()["submitted"] == 5 and emitter.stats()["dropped_queue_full"] == 45
    release.set()
    emitter.close()
    assert emitter.stats() == {
        "submitted": 5,
        "sent": 5,
        "dropped_queue_full": 45,
        "dropped_error": 0,
        "queued": 0,
    }
    records = [
        r
        for p in log.partitions("audit-api-calls")
        for r in log.read("audit-api-calls", p, 0, 100, timeout=0)
    ]
    assert sorted(r.value.count(b"/c/") for r in records) == [1] * 5


def test_a_producer_that_cannot_be_made_drops_and_counts():
    def broken():
        raise ConfigError("no such backend", where="CARBONPLANE_EVENTS_BACKEND")

    emitter = Emitter(AuditSettings("broken"), broken)
    for i in range(3):
        emitter.submit(call(i))
    emitter.close()
    assert emitter.stats()["dropped_error"] == 3 and emitter.stats()["sent"] == 0


def test_extension_headers_are_checked_and_follow_the_cloudevents_headers():
    for bad, why in [
        ("TraceParent", "lowercase"),
        ("trace-parent", "lowercase"),
        ("x" * 21, "1-20"),
        ("time", "core attribute"),
    ]:
        with pytest.raises(EventValidationError, match=why):
            extension_headers("AuditAPICallEvent", {bad: "v"})
    with pytest.raises(EventValidationError, match="must be a str"):
        extension_headers("AuditAPICallEvent", {"traceparent": b"00-..."})
    with pytest.raises(EventValidationError, match="name must be a str") as info:
        extension_headers("AuditAPICallEvent", {1: "v"})  # type: ignore[dict-item]
    assert info.value.field == "extensions[1]"
    with pytest.raises(EventValidationError, match="got tuple") as info:
        extension_headers("AuditAPICallEvent", (("traceparent", TP),))  # type: ignore[arg-type]
    assert info.value.field == "extensions"
    with pytest.raises(EventValidationError, match="over 4096"):
        extension_headers("AuditAPICallEvent", {"big": "x" * 5000})
    log = MemoryLog()
    log.apply_topics(TOPICS)
    producer = EventProducer(source_service="ext", backend=log)
    event = AuditAPICallEvent(
        service="ext",
        endpoint="/x",
        method="GET",
        status_code=200,
        latency_ms=1.0,
        request_size_bytes=0,
        response_size_bytes=0,
        ip_address="127.0.0.1",
    )
    producer.produce(event, extensions={"traceparent": TP}, topic="audit-api-calls")
    with pytest.raises(EventValidationError, match="extensions"):
        producer.produce(event, extensions={"id": "x"})
    producer.flush()
    [record] = [
        r
        for p in log.partitions("audit-api-calls")
        for r in log.read("audit-api-calls", p, 0, 10, timeout=0)
    ]
    names = [k for k, _ in record.headers]
    assert names == [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "content-type",
        "ce_traceparent",
    ]
    assert record.headers[-1][1] == TP.encode()
    assert producer.get_stats()["rejected"] == 1


def test_importing_carbonplane_and_the_adapters_loads_no_framework():
    code = (
        "import sys, carbonplane, carbonplane.integrations, carbonplane.integrations.asgi, "
        "carbonplane.integrations.wsgi\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'flask', 'django', 'uvicorn', 'werkzeug'))\n"
        "print(loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_after_close_calls_are_dropped_and_counted_until_the_app_starts_again():
    log = MemoryLog()
    log.apply_topics(TOPICS)
    emitter = Emitter(
        AuditSettings("again"), lambda: EventProducer(source_service="again", backend=log)
    )
    emitter.submit(call(0))
    emitter.close()
    emitter.submit(call(1))  # e.g. a request finishing during shutdown
    assert emitter.stats()["dropped_error"] == 1 and emitter.stats()["queued"] == 0
    emitter.health("HEALTHY", "started")  # a second lifespan (a test client used twice)
    emitter.submit(call(2))
    emitter.close()
    assert emitter.stats()["sent"] == 3  # call 0, the health event, call 2


@pytest.mark.parametrize("lifetime", [0.0, 0.5])  # exits before / after the producer exists
def test_the_exit_hook_sends_stopping_before_the_backend_closes(cp_home, lifetime):
    # the embedded log closes itself from an atexit hook too; ours must run first
    code = (
        "from carbonplane.integrations.wsgi import CarbonplaneWSGIMiddleware\n"
        "mw = CarbonplaneWSGIMiddleware(lambda e, s: [], service='exiting')\n"
        f"import time; time.sleep({lifetime})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    from carbonplane.events.backends.local import LocalLog
    from carbonplane.events.codec import decode_event
    from carbonplane.events.config import EventsConfig

    reader = LocalLog(EventsConfig.from_env({}, home=cp_home).log_path, create_catalog=False)
    try:
        events = [
            decode_event(r.value)
            for p in reader.partitions("system-health")
            for r in reader.read("system-health", p, 0, 10, timeout=0)
        ]
    finally:
        reader.close()
    assert [(e.service_name, e.health_status) for e in events] == [
        ("exiting", "HEALTHY"),
        ("exiting", "UNKNOWN"),
    ]


def test_counts_and_bound_stay_exact_under_concurrent_submits():
    release = threading.Event()
    log = MemoryLog()
    log.apply_topics(TOPICS)

    def stuck_factory():
        release.wait(10)
        return EventProducer(source_service="busy", backend=log)

    emitter = Emitter(AuditSettings("busy", queue_size=1000), stuck_factory)
    go = threading.Barrier(8)

    def hammer():
        go.wait()
        for i in range(5000):
            emitter.submit(call(i))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = emitter.stats()
    assert stats["submitted"] == 1000 and stats["queued"] == 1000
    assert stats["dropped_queue_full"] == 8 * 5000 - 1000
    release.set()
    emitter.close()
    assert emitter.stats()["sent"] == 1000


def test_a_forked_child_sends_its_own_calls_not_its_parents():
    import multiprocessing

    release = threading.Event()

    def factory():
        release.wait(10)  # the parent's thread stays stuck, its calls queued, during the fork
        log = MemoryLog()
        log.apply_topics(TOPICS)
        return EventProducer(source_service="forked", backend=log)

    emitter = Emitter(AuditSettings("forked"), factory)
    for i in range(3):
        emitter.submit(call(i))

    def child(conn):
        release.set()  # the child's own event: its new thread makes its producer at once
        emitter.submit(call(99))
        emitter.close()
        conn.send(emitter.stats())

    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    proc = ctx.Process(target=child, args=(child_end,))
    proc.start()
    assert parent_end.poll(30), "the forked child did not report"
    child_stats = parent_end.recv()
    proc.join(10)
    release.set()
    emitter.close()
    # neither the parent's queue nor its counts came along
    assert child_stats == {
        "submitted": 1,
        "sent": 1,
        "dropped_queue_full": 0,
        "dropped_error": 0,
        "queued": 0,
    }
    assert emitter.stats()["sent"] == 3
