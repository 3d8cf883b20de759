"""Broker down: nothing vanishes silently, with or without the disk spool.

The shared broker stays up: "down" is a loopback port nothing listens on (checked before use).
Without a spool every record gets a failure callback (count == produced) once message.timeout.ms
passes, or when ``close`` gives up on it. With a spool, records are reported spooled once they are
on disk, and a later producer process (here: a real second Python process first spools, then this
one drains) delivers them to the real broker with key, value, headers and timestamp intact.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from carbonplane.errors import BackendUnavailableError
from carbonplane.events.backends.base import Delivery
from carbonplane.events.backends.kafka import KafkaAdmin, KafkaProducerBackend, KafkaReader
from carbonplane.events.backends.spool import Spool
from carbonplane.events.catalog import DAY_MS, TopicSpec
from carbonplane.events.config import EventsConfig

# Record times an hour back: old enough to tell apart from "now", young enough for the topic's
# retention (older records would be deleted by the broker's retention check mid-test).
BASE_TS = int(time.time() * 1000) - 3_600_000


@pytest.fixture(scope="module")
def dead_address() -> str:
    """A loopback address that refuses connections (port 1, checked)."""
    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex(("127.0.0.1", 1)) == 0:
            pytest.fail(
                "something listens on 127.0.0.1:1; these tests need a port that refuses connections"
            )
    return "127.0.0.1:1"


def _down_cfg(address, home, **extra) -> EventsConfig:
    spool_dir = extra.pop("spool_dir", None)
    return EventsConfig.from_env(
        {}, bootstrap_servers=address, home=home, spool_dir=spool_dir, overrides=extra
    )


def test_without_spool_every_event_gets_a_failure_callback(dead_address, cp_home, caplog):
    backend = KafkaProducerBackend(
        _down_cfg(dead_address, cp_home, **{"message.timeout.ms": 1500}),
        "down",
        metadata_timeout=0.5,
    )
    deliveries: list[Delivery] = []
    with caplog.at_level(logging.WARNING, logger="carbonplane.events.kafka"):
        for i in range(200):
            backend.produce(
                "data-ingestion",
                b'{"n": %d}' % i,
                b"k%d" % i,
                [("ce_id", b"%d" % i)],
                deliveries.append,
            )
        assert len(backend) == 200
        assert backend.flush(15) == 0
        backend.close(1)
    assert len(deliveries) == 200
    assert not [d for d in deliveries if d.ok or d.spooled]
    assert {d.error.split(":")[0] for d in deliveries} <= {"_MSG_TIMED_OUT", "_TRANSPORT"}
    assert "message.timeout.ms=1500" in deliveries[0].error
    assert any("delivery failed" in r.getMessage() for r in caplog.records)


def test_close_reports_what_it_gives_up_on(dead_address, cp_home):
    backend = KafkaProducerBackend(_down_cfg(dead_address, cp_home), "down", metadata_timeout=0.5)
    deliveries: list[Delivery] = []
    for i in range(50):
        backend.produce("data-ingestion", b"{}", b"k%d" % i, None, deliveries.append)
    assert backend.close(0.2) == 50  # still queued when it gave up (message.timeout.ms is 30 s)
    assert len(deliveries) == 50 and not [d for d in deliveries if d.ok]
    assert all(d.error.startswith("_PURGE_") for d in deliveries)


def test_full_queue_blocks_then_raises(dead_address, cp_home):
    cfg = _down_cfg(dead_address, cp_home, **{"queue.buffering.max.messages": 5})
    backend = KafkaProducerBackend(cfg, "down", queue_timeout=0.5, metadata_timeout=0.2)
    deliveries: list[Delivery] = []
    try:
        for i in range(5):
            backend.produce("data-ingestion", b"{}", b"k%d" % i, None, deliveries.append)
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError, match="local queue stayed full for 0.5 s"):
            backend.produce("data-ingestion", b"{}", b"k5", None, deliveries.append)
        assert time.monotonic() - started >= 0.5
        assert len(backend) == 5
    finally:
        backend.close(0)
    assert len(deliveries) == 5  # the five queued ones were reported; the refused one never queued


def test_spool_keeps_events_while_down_and_the_next_process_delivers_them(
    dead_address, cp_home, kafka_bootstrap, unique_name, tmp_path
):
    topic = unique_name("spool")
    good = EventsConfig.from_env({}, bootstrap_servers=kafka_bootstrap, home=cp_home)
    admin = KafkaAdmin(good)
    admin.apply_topics(
        [TopicSpec(topic, "data", 3, DAY_MS, "delete", "DataIngestionEvent", "datasetName")]
    )
    spool_dir = tmp_path / "spool"
    try:
        _spool_in_another_process(dead_address, spool_dir, topic, count=300)
        assert len(Spool(spool_dir)) == 300

        drainer = KafkaProducerBackend(
            EventsConfig.from_env(
                {}, bootstrap_servers=kafka_bootstrap, home=cp_home, spool_dir=spool_dir
            ),
            "drain",
        )
        try:
            assert drainer.wait_drained(60), drainer.spool_status()
            status = drainer.spool_status()
            assert status["backlog"] == 0 and status["dead"] == 0 and status["drained"] == 300
        finally:
            drainer.close(5)
        records = _read_all(KafkaReader(good), topic)
    finally:
        admin.delete_topics([topic])
    assert len(records) == 300  # one process drained: no duplicates here
    by_seq = {int(dict(r.headers)["seq"]): r for r in records}
    assert sorted(by_seq) == list(range(300))
    for seq, r in by_seq.items():
        assert r.key == b"key-%d" % (seq % 7) and r.value == b'{"seq": %d}' % seq
        assert r.timestamp_ms == BASE_TS + seq
    for partition in {
        r.partition for r in records
    }:  # spool order is production order, per partition
        seqs = [
            int(dict(r.headers)["seq"])
            for r in sorted(records, key=lambda r: r.offset)
            if r.partition == partition
        ]
        assert seqs == sorted(seqs)


def _spool_in_another_process(address: str, spool_dir, topic: str, count: int) -> None:
    """A separate Python process produces ``count`` records with the spool while the broker is down,
    checks each was reported spooled, then exits hard (no close): the records must already be on
    disk."""
    script = textwrap.dedent(f"""
        import os
        from carbonplane.events.backends.kafka import KafkaProducerBackend
        from carbonplane.events.config import EventsConfig
        cfg = EventsConfig.from_env({{}}, bootstrap_servers={address!r}, home={str(spool_dir)!r},
                                    spool_dir={str(spool_dir)!r})
        backend = KafkaProducerBackend(cfg, "spooler", metadata_timeout=0.5)
        reports = []
        for seq in range({count}):
            value, key = b'{{"seq": %d}}' % seq, b"key-%d" % (seq % 7)
            backend.produce({topic!r}, value, key, [("seq", b"%d" % seq)], reports.append,
                            {BASE_TS} + seq)
        left = backend.flush(30)
        assert left == 0 and len(reports) == {count}, (left, len(reports))
        spooled = [d.spooled and d.partition == -1 and "spooled to" in d.error for d in reports]
        assert all(spooled), reports[:2]
        print("spooled", len(reports), flush=True)
        os._exit(0)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and f"spooled {count}" in done.stdout, done.stderr[-3000:]


def _read_all(reader: KafkaReader, topic: str) -> list:
    try:
        records = []
        for partition in reader.partitions(topic):
            high = reader.watermarks(topic, partition)[1]
            offset = 0
            while offset < high:
                batch = reader.read(topic, partition, offset, max_records=1000, timeout=10)
                assert batch, f"{topic}[{partition}] stopped at {offset} of {high}"
                records += batch
                offset = batch[-1].offset + 1
        return records
    finally:
        reader.close()
