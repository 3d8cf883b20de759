"""Spool drain after a real outage: a throwaway Kafka broker is SIGKILLed and restarted.

The shared broker on 127.0.0.1:9092 is never touched. A second single-node KRaft broker is started
from the same cached jars (``make kafka-up`` fetches them into .cache/kafka/<version>/lib), with its
own data dir and free loopback ports, so it can be killed and restarted at will.

1. Within one producer: produced while up -> delivered; broker SIGKILLed -> every record is reported
   spooled (none failed, none lost); broker restarted -> the spool drains by itself, and every
   record is in the topic, in production order per partition.
2. Across processes: process A produces while the broker is down and exits; after the broker is
   back, process B opens the same spool directory and delivers A's records.
3. Mid-stream: the broker is killed while records are queued and in flight; every record is
   delivered or spooled, and after the restart each one is in the topic at least once.
4. Sustained load: a producer opened during the outage produces 200 records/s through the restart
   and is back to direct delivery within ``HANDBACK_BOUND_S`` of the broker answering, with every
   record in the topic exactly once and in order per partition.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bench.kafka_throwaway import ThrowawayKafka, kafka_lib, read_seqs
from carbonplane.events.backends.base import Delivery
from carbonplane.events.backends.kafka import KafkaAdmin, KafkaProducerBackend
from carbonplane.events.catalog import DAY_MS, TopicSpec
from carbonplane.events.config import EventsConfig

pytestmark = pytest.mark.slow

BASE_TS = int(time.time() * 1000) - 3_600_000  # within the topics' retention
HANDBACK_BOUND_S = 10.0  # broker answers -> new records go straight to Kafka, under 200 records/s


@pytest.fixture
def broker(tmp_path):
    try:
        kafka = ThrowawayKafka(kafka_lib(), tmp_path / "kafka")
        kafka.start()
    except RuntimeError as exc:  # no jars, or the broker did not come up: say so, never skip
        pytest.fail(str(exc))
    yield kafka
    kafka.kill()


def _cfg(broker: ThrowawayKafka, home: Path, **overrides) -> EventsConfig:
    return EventsConfig.from_env(
        {},
        bootstrap_servers=broker.bootstrap,
        home=home,
        spool_dir=home / "spool",
        overrides={"message.timeout.ms": 5000, **overrides},
    )


def _create_topic(cfg: EventsConfig, name: str) -> None:
    KafkaAdmin(cfg).apply_topics(
        [TopicSpec(name, "data", 3, DAY_MS, "delete", "DataIngestionEvent", "datasetName")]
    )


def _record(seq: int) -> tuple[bytes, bytes, list[tuple[str, bytes]], int]:
    return b'{"seq": %d}' % seq, b"key-%d" % (seq % 11), [("seq", b"%d" % seq)], BASE_TS + seq


def test_a_broker_crash_loses_nothing_and_the_spool_drains_itself(broker, tmp_path):
    cfg = _cfg(broker, tmp_path)
    topic = "outage-orders"
    _create_topic(cfg, topic)
    producer = KafkaProducerBackend(cfg, "outage", metadata_timeout=1.0)
    outcomes: dict[int, Delivery] = {}

    def send(seqs: range) -> None:
        for seq in seqs:
            value, key, headers, ts = _record(seq)
            producer.produce(
                topic, value, key, headers, lambda d, s=seq: outcomes.__setitem__(s, d), ts
            )
            producer.poll(0)

    try:
        send(range(0, 200))
        assert producer.flush(30) == 0 and all(outcomes[s].ok for s in range(200))

        broker.kill()
        send(range(200, 400))
        assert producer.flush(30) == 0
        assert len(outcomes) == 400
        not_spooled = [(s, outcomes[s]) for s in range(200, 400) if not outcomes[s].spooled]
        assert not not_spooled, not_spooled[:3]
        assert producer.spool_status()["backlog"] == 200

        broker.start()
        send(range(400, 500))
        assert producer.flush(60) == 0
        assert producer.wait_drained(120), producer.spool_status()
        failed = [(s, d.error) for s, d in outcomes.items() if not d.ok and not d.spooled]
        assert not failed, failed[:3]
        assert producer.spool_status()["dead"] == 0
    finally:
        producer.close(10)

    per_partition = read_seqs(cfg, topic)
    everything = [s for seqs in per_partition.values() for s in seqs]
    assert set(everything) == set(range(500))  # every record arrived at least once
    assert len(everything) == 500  # no record was in flight at the crash: none should repeat
    for partition, seqs in per_partition.items():
        assert seqs == sorted(seqs), f"partition {partition} out of production order"


def test_a_later_process_delivers_what_an_earlier_one_spooled(broker, tmp_path):
    cfg = _cfg(broker, tmp_path)
    topic = "outage-restart"
    _create_topic(cfg, topic)
    broker.kill()

    script = textwrap.dedent(f"""
        from pathlib import Path
        from carbonplane.events.backends.kafka import KafkaProducerBackend
        from carbonplane.events.config import EventsConfig
        home = Path({str(tmp_path)!r})
        cfg = EventsConfig.from_env({{}}, bootstrap_servers={broker.bootstrap!r}, home=home,
                                    spool_dir=home / "spool",
                                    overrides={{"message.timeout.ms": 5000}})
        backend = KafkaProducerBackend(cfg, "process-a", metadata_timeout=1.0)
        reports = []
        for seq in range(250):
            value, key = b'{{"seq": %d}}' % seq, b"key-%d" % (seq % 11)
            backend.produce({topic!r}, value, key, [("seq", b"%d" % seq)], reports.append,
                            {BASE_TS} + seq)
        backend.close(30)
        assert len(reports) == 250 and all(d.spooled for d in reports), reports[:2]
        print("spooled", len(reports), flush=True)
    """)
    a = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert a.returncode == 0 and "spooled 250" in a.stdout, a.stderr[-3000:]

    broker.start()
    b = KafkaProducerBackend(cfg, "process-b")
    try:
        assert b.wait_drained(120), b.spool_status()
        assert b.spool_status()["drained"] == 250
    finally:
        b.close(10)
    per_partition = read_seqs(cfg, topic)
    everything = sorted(s for seqs in per_partition.values() for s in seqs)
    assert everything == list(range(250))
    assert all(seqs == sorted(seqs) for seqs in per_partition.values())


def test_a_crash_with_records_in_flight_delivers_each_at_least_once(broker, tmp_path):
    cfg = _cfg(broker, tmp_path)
    topic = "outage-in-flight"
    _create_topic(cfg, topic)
    producer = KafkaProducerBackend(cfg, "in-flight", metadata_timeout=1.0)
    outcomes: dict[int, Delivery] = {}
    try:
        for seq in range(3000):
            if seq == 1500:
                while not outcomes:  # the stream is flowing: the first acknowledgements are in
                    producer.poll(0.05)
                broker.kill()  # whatever is queued or in flight now is caught mid-way
            value, key, headers, ts = _record(seq)
            producer.produce(
                topic, value, key, headers, lambda d, s=seq: outcomes.__setitem__(s, d), ts
            )
            producer.poll(0)
        assert producer.flush(30) == 0
        assert len(outcomes) == 3000
        assert not [s for s, d in outcomes.items() if not d.ok and not d.spooled]
        assert any(d.ok for d in outcomes.values()) and any(d.spooled for d in outcomes.values())
        broker.start()
        assert producer.wait_drained(120), producer.spool_status()
    finally:
        producer.close(10)
    everything = [s for seqs in read_seqs(cfg, topic).values() for s in seqs]
    assert set(everything) == set(
        range(3000)
    )  # at least once; a record in flight at the crash may repeat


def test_under_sustained_load_the_producer_returns_to_direct_delivery_promptly(broker, tmp_path):
    """A producer opened during an outage keeps producing 200 records/s through the restart: within
    HANDBACK_BOUND_S of the broker answering, new records go straight to Kafka again (reported
    delivered, not spooled), and every record is in the topic exactly once, in production order per
    partition (the held records are released only after the spool's tail was acknowledged)."""
    cfg = _cfg(broker, tmp_path)
    topic = "outage-sustained"
    _create_topic(cfg, topic)
    broker.kill()
    producer = KafkaProducerBackend(cfg, "sustained", metadata_timeout=1.0)
    outcomes: dict[int, Delivery] = {}
    up_at: list[float] = []
    restart = threading.Thread(target=lambda: (broker.start(), up_at.append(time.monotonic())))
    seq, direct_at, t0 = 0, None, time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if now - t0 >= 3.0 and not up_at and not restart.is_alive():
                restart.start()
            if up_at and direct_at is None and not producer.spool_status()["routing"]:
                direct_at = now
            if direct_at is not None and now - direct_at >= 2.0 or up_at and now - up_at[0] >= 60:
                break
            value, key, headers, ts = _record(seq)
            producer.produce(
                topic, value, key, headers, lambda d, s=seq: outcomes.__setitem__(s, d), ts
            )
            producer.poll(0)
            seq += 1
            time.sleep(max(0.0, t0 + seq / 200 - time.monotonic()))
        restart.join()
        assert direct_at is not None, (
            f"still routing to the spool 60 s after the broker answered: {producer.spool_status()}"
        )
        took = direct_at - up_at[0]
        assert took <= HANDBACK_BOUND_S, (
            f"back to direct delivery only {took:.1f} s after the broker answered"
        )
        assert producer.flush(30) == 0 and producer.wait_drained(60), producer.spool_status()
        status = producer.spool_status()
        assert status["handbacks"] >= 1 and status["dead"] == 0 and not status["routing"]
    finally:
        producer.close(10)
    failed = [(s, d.error) for s, d in outcomes.items() if not d.ok and not d.spooled]
    assert not failed, failed[:3]
    spooled = [s for s, d in outcomes.items() if d.spooled]
    direct = [s for s, d in outcomes.items() if d.ok]
    assert (
        len(outcomes) == seq and len(spooled) >= 500 and len(direct) >= 200
    )  # ~2 s at 200/s after the return
    assert max(spooled) < max(direct)
    per_partition = read_seqs(cfg, topic)
    everything = [s for seqs in per_partition.values() for s in seqs]
    assert sorted(everything) == list(
        range(seq)
    )  # each exactly once: nothing was in flight at the crash
    for partition, seqs in per_partition.items():
        assert seqs == sorted(seqs), (
            f"partition {partition} out of production order across the hand-back"
        )
