"""Sidecar pieces without processes: the event sink never raises or blocks, flags are checked."""

from __future__ import annotations

import threading
import time

import pytest

from carbonplane.mesh.sidecar import split_addr
from carbonplane.mesh.sidecar.events import EventSink


def _until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Recorder:
    def __init__(self, fail=False, gate=None):
        self.events, self.fail, self.gate = [], fail, gate

    def produce(self, event):
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise RuntimeError("broker down")
        self.events.append(event)

    def flush(self, timeout):
        pass


def test_events_are_produced_off_the_caller():
    rec = Recorder()
    sink = EventSink("mesh-sidecar-t", producer_factory=lambda: rec)
    sink.security(
        "AUTHZ_DENIED",
        "MEDIUM",
        "default/orders",
        principal="cluster.local/ns/a/sa/b",
        source_ip="127.0.0.1",
        path="/x",
    )
    sink.health("orders", "default", "UNHEALTHY", "app lost")
    _until(lambda: sink.produced == 2)
    assert [type(e).__name__ for e in rec.events] == ["SecurityEvent", "ServiceHealthEvent"]
    assert rec.events[0].category == "AUTHZ_DENIED" and rec.events[0].details == {"path": "/x"}
    sink.close()


def test_a_failing_backend_is_counted_never_raised():
    sink = EventSink("mesh-sidecar-t", producer_factory=lambda: Recorder(fail=True))
    for _ in range(3):
        sink.security("TLS_ERROR", "HIGH", "default/orders", reason="x")
    _until(lambda: sink.failed == 3)
    assert sink.produced == 0
    broken = EventSink("mesh-sidecar-t", producer_factory=lambda: 1 / 0)
    broken.health("orders", "default", "HEALTHY", "started")
    _until(lambda: broken.failed == 1)
    sink.close()
    broken.close()


def test_a_full_queue_drops_and_counts_without_blocking():
    gate = threading.Event()
    sink = EventSink("mesh-sidecar-t", capacity=2, producer_factory=lambda: Recorder(gate=gate))
    start = time.monotonic()
    for _ in range(10):
        sink.security("TLS_ERROR", "HIGH", "default/orders")
    assert time.monotonic() - start < 0.5
    assert sink.dropped >= 7 and sink.emitted == 10
    gate.set()
    sink.close()


def test_an_invalid_event_is_counted_not_raised():
    from carbonplane.events import EventProducer, MemoryLog

    sink = EventSink(
        "mesh-sidecar-t",
        producer_factory=lambda: EventProducer("mesh-sidecar-t", backend=MemoryLog()),
    )
    sink.security("NOT_A_CATEGORY", "HIGH", "default/orders")  # refused when produced
    _until(lambda: sink.failed == 1)
    assert sink.produced == 0
    sink.close()


@pytest.mark.parametrize("value", ["8080", "host:", ":80", "h:99999", "h:x"])
def test_addresses_are_checked_with_the_flag_named(value):
    with pytest.raises(ValueError, match="--app"):
        split_addr(value, "--app")
    assert split_addr("[::1]:80", "--app") == ("::1", 80)
