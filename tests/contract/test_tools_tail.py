"""``events tail`` and ``tools.tail`` on every backend: history in timestamp order, the six-key JSON
form, --limit, --partition, following new records, values that are not JSON, unknown topics."""

from __future__ import annotations

import queue
import threading
import time

import msgspec
import pytest
from tools_backends import ingestion_at

from carbonplane.errors import UnknownTopicError
from carbonplane.events.codec import decode_event
from carbonplane.events.tools import TailOptions, tail

BASE_MS = (
    (time.time_ns() // 1_000_000 - 2 * 3_600_000) // 1000 * 1000
)  # two hours ago, whole second


def _jsonl(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [msgspec.json.decode(line) for line in result.stdout.splitlines()]


def test_history_is_interleaved_by_time_in_the_six_key_form(log):
    topic = log.new_topic(partitions=3)
    events = [ingestion_at(i, BASE_MS + 1000 * i) for i in range(24)]
    deliveries = log.produce(events, topic=topic)
    assert len({d.partition for d in deliveries}) > 1, "keys should spread over partitions"

    lines = _jsonl(log.cli("events", "tail", topic, "--from-beginning", "--json"))

    assert [line["value"]["eventId"] for line in lines] == [e.event_id for e in events]
    for line, event, d in zip(lines, events, deliveries):
        assert list(line) == ["topic", "partition", "offset", "key", "headers", "value"]
        assert (line["topic"], line["partition"], line["offset"]) == (topic, d.partition, d.offset)
        assert line["key"] == event.dataset_name
        assert decode_event(msgspec.json.encode(line["value"])) == event
        assert line["headers"]["ce_id"] == event.event_id
        assert line["headers"]["ce_type"] == "com.carbon254.data.ingestion"
        assert line["headers"]["content-type"] == "application/json"


def test_limit_partition_and_human_lines(log):
    topic = log.new_topic(partitions=3)
    events = [ingestion_at(i, BASE_MS + i) for i in range(12)]
    deliveries = log.produce(events, topic=topic)

    first = _jsonl(log.cli("events", "tail", topic, "--from-beginning", "--limit", "4", "--json"))
    assert [line["value"]["eventId"] for line in first] == [e.event_id for e in events[:4]]

    p = deliveries[0].partition
    mine = [(d.offset, e.event_id) for d, e in zip(deliveries, events) if d.partition == p]
    only = _jsonl(
        log.cli("events", "tail", topic, "--from-beginning", "--partition", str(p), "--json")
    )
    assert [(line["offset"], line["value"]["eventId"]) for line in only] == mine
    assert {line["partition"] for line in only} == {p}

    human = log.cli("events", "tail", topic, "--from-beginning", "-n", "2")
    assert human.exit_code == 0, human.output
    rows = human.stdout.splitlines()
    assert len(rows) == 2
    assert f"{topic}[{deliveries[0].partition}]@{deliveries[0].offset}" in rows[0]
    assert "DataIngestionEvent" in rows[0] and events[0].event_id in rows[0]


def test_follow_sees_only_records_produced_after_the_start(log):
    topic = log.new_topic(partitions=3)
    log.produce([ingestion_at(i, BASE_MS + i) for i in range(5)], topic=topic)

    records = tail(log.reader, topic, TailOptions(limit=3))  # the end is taken here
    fresh = [ingestion_at(100 + i, BASE_MS + 100 + i) for i in range(3)]
    log.produce(fresh, topic=topic)

    assert sorted(decode_event(r.value).event_id for r in records) == sorted(
        e.event_id for e in fresh
    )


def test_follow_waits_for_records_that_arrive_later(log):
    topic = log.new_topic(partitions=2)
    got: queue.Queue = queue.Queue()
    stop = threading.Event()
    records = tail(log.reader, topic, TailOptions(limit=2, poll_timeout=0.2), stop=stop)

    def consume() -> None:
        for record in records:
            got.put(record)

    reader_thread = threading.Thread(target=consume, daemon=True)
    reader_thread.start()
    try:
        for i in range(2):
            event = ingestion_at(200 + i, BASE_MS + 200 + i)
            log.produce([event], topic=topic)
            record = got.get(timeout=30)
            assert decode_event(record.value).event_id == event.event_id
        reader_thread.join(timeout=30)
        assert not reader_thread.is_alive(), "tail did not stop after --limit records"
    finally:
        stop.set()


def test_a_value_that_is_not_json_is_shown_with_a_decode_error(log):
    topic = log.new_topic(partitions=1)
    log.produce_raw(topic, [(b"k1", b"\xffnot json", [("h", b"v")], BASE_MS)])

    [line] = _jsonl(log.cli("events", "tail", topic, "--from-beginning", "--json"))

    assert list(line) == ["topic", "partition", "offset", "key", "headers", "value", "decodeError"]
    assert line["key"] == "k1" and line["headers"] == {"h": "v"}
    assert line["value"] == "\\xffnot json"
    assert "not JSON" in line["decodeError"]


def test_no_follow_without_history_prints_nothing_and_stops(log):
    topic = log.new_topic(partitions=2)
    log.produce([ingestion_at(1, BASE_MS)], topic=topic)
    result = log.cli("events", "tail", topic, "--no-follow", "--json")
    assert result.exit_code == 0 and result.stdout == ""


def test_unknown_topic_and_partition_are_one_line_errors(log):
    with pytest.raises(UnknownTopicError):
        tail(log.reader, "no-such-topic-for-tools")
    result = log.cli("events", "tail", "no-such-topic-for-tools", "--from-beginning")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "no-such-topic-for-tools" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output

    topic = log.new_topic(partitions=2)
    result = log.cli("events", "tail", topic, "--partition", "7", "--from-beginning")
    assert result.exit_code == 1 and "partition 7" in result.stderr
