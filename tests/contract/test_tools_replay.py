"""``events replay`` on every backend: time and offset windows, to a topic (same key, value, headers
and timestamp; partition by key), to a JSON-lines file and back, and failures that send nothing."""

from __future__ import annotations

import time

import msgspec
import pytest
from tools_backends import ingestion_at

from carbonplane.errors import ConfigError, UnknownTopicError
from carbonplane.events.codec import decode_event
from carbonplane.events.partitioner import partition_for
from carbonplane.events.replay import (
    ReplayWindow,
    replay_from_file,
    replay_to_file,
    replay_to_topic,
)
from carbonplane.events.tools import TailOptions, tail

BASE_MS = (
    (time.time_ns() // 1_000_000 - 2 * 3_600_000) // 1000 * 1000
)  # two hours ago, whole second


def _history(log, topic: str):
    return list(tail(log.reader, topic, TailOptions(from_beginning=True)))


def test_time_window_to_topic_keeps_key_value_headers_and_time(log):
    source, target = log.new_topic(partitions=3), log.new_topic(partitions=2)
    events = [ingestion_at(i, BASE_MS + 1000 * i) for i in range(10)]
    log.produce(events, topic=source)

    result = log.cli(
        "events",
        "replay",
        source,
        "--from-time",
        str(BASE_MS + 3000),
        "--to-time",
        str(BASE_MS + 7000),
        "--to-topic",
        target,
        "--json",
    )

    assert result.exit_code == 0, result.output
    summary = msgspec.json.decode(result.stdout)
    assert summary["copied"] == 4 and summary["source"] == source and summary["target"] == target
    assert sum(p["count"] for p in summary["partitions"]) == 4
    assert sum(summary["targetPartitions"].values()) == 4
    copied = _history(log, target)
    originals = {r.value: r for r in _history(log, source)}
    assert [decode_event(r.value).event_id for r in copied] == [e.event_id for e in events[3:7]]
    for record in copied:
        original = originals[record.value]
        assert record.key == original.key and record.headers == original.headers
        assert record.timestamp_ms == original.timestamp_ms
        assert record.partition == partition_for(record.key, 2)


def test_offset_window_of_one_partition_is_half_open(log):
    source, target = log.new_topic(partitions=2), log.new_topic(partitions=2)
    deliveries = log.produce([ingestion_at(i, BASE_MS + i) for i in range(16)], topic=source)
    p = deliveries[0].partition
    offsets = sorted(d.offset for d in deliveries if d.partition == p)
    assert len(offsets) >= 3, "the sample keys should put several records on one partition"

    summary = replay_to_topic(
        log.reader,
        log.producer,
        source,
        ReplayWindow(from_offset=1, to_offset=3, partition=p),
        target,
    )

    assert summary.total == 2
    [copy] = summary.partitions.values()
    assert (copy.partition, copy.first_offset, copy.last_offset) == (p, 1, 2)
    wanted = {r.value for r in _history(log, source) if r.partition == p and r.offset in (1, 2)}
    assert {r.value for r in _history(log, target)} == wanted


def test_to_file_and_back_round_trips(log, tmp_path):
    source, target = log.new_topic(partitions=3), log.new_topic(partitions=3)
    log.produce([ingestion_at(i, BASE_MS + i) for i in range(9)], topic=source)
    log.produce_raw(source, [(None, b"plain text", [], BASE_MS + 100)])
    path = tmp_path / "window.jsonl"

    to_file = log.cli(
        "events", "replay", source, "--from-offset", "0", "--to-file", str(path), "--json"
    )
    assert to_file.exit_code == 0, to_file.output
    assert msgspec.json.decode(to_file.stdout)["copied"] == 10
    tail_json = log.cli("events", "tail", source, "--from-beginning", "--json")
    assert path.read_text() == tail_json.stdout, "the file holds exactly the objects of tail --json"
    assert not path.with_name(path.name + ".partial").exists()

    back = log.cli("events", "replay", "--from-file", str(path), "--to-topic", target)
    assert back.exit_code == 0, back.output
    assert f"copied 10 records from {path} to {target}" in back.stdout
    source_records = _history(log, source)
    copied = _history(log, target)
    assert sorted(map(_content, copied)) == sorted(map(_content, source_records))


def _content(record) -> tuple:
    return (record.key or b"", record.key is None, record.value, tuple(record.headers))


def test_a_bad_file_line_sends_nothing(log, tmp_path):
    target = log.new_topic(partitions=1)
    good = msgspec.json.encode(
        {"topic": "x", "partition": 0, "offset": 0, "key": "k", "headers": {}, "value": {"a": 1}}
    )
    path = tmp_path / "bad.jsonl"
    path.write_bytes(good + b"\n" + b'{"key": 5, "value": {}}\n')

    with pytest.raises(ConfigError) as info:
        replay_from_file(path, log.producer, target, reader=log.reader)
    assert f"{path}:2" in str(info.value) and "$.key" in str(info.value)
    assert log.reader.watermarks(target, 0) == (0, 0)

    result = log.cli("events", "replay", "--from-file", str(path), "--to-topic", target)
    assert result.exit_code == 2 and f"{path}:2" in result.stderr


def test_missing_target_fails_before_reading(log, tmp_path):
    source = log.new_topic(partitions=1)
    log.produce([ingestion_at(1, BASE_MS)], topic=source)
    with pytest.raises(UnknownTopicError):
        replay_to_topic(
            log.reader, log.producer, source, ReplayWindow(from_offset=0), "no-such-target-topic"
        )
    result = log.cli(
        "events", "replay", source, "--from-offset", "0", "--to-topic", "no-such-target-topic"
    )
    assert result.exit_code == 1 and "no-such-target-topic" in result.stderr


def test_relative_time_window_and_empty_windows(log, tmp_path):
    source = log.new_topic(partitions=2)
    log.produce([ingestion_at(i, BASE_MS + i) for i in range(4)], topic=source)  # long ago
    path = tmp_path / "recent.jsonl"
    summary = replay_to_file(log.reader, source, ReplayWindow(from_time_ms=BASE_MS + 10_000), path)
    assert summary.total == 0 and path.read_bytes() == b""

    result = log.cli("events", "replay", source, "--from-time", "-1h", "--to-file", str(path))
    assert result.exit_code == 0 and "copied 0 records" in result.stdout
