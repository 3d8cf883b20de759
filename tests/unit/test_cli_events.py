"""``carbonplane events tail|replay`` on the in-memory log: time arguments, option checks, follow
through the command, tombstones, and replays whose deliveries fail or are never acknowledged."""

from __future__ import annotations

import threading

import msgspec
import pytest
from typer.testing import CliRunner

from carbonplane.cli.main import app
from carbonplane.cli.output import Backends
from carbonplane.errors import ConfigError
from carbonplane.events import tools
from carbonplane.events.backends.base import Delivery
from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.catalog import TopicSpec
from carbonplane.events.tools import parse_time

runner = CliRunner()
NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z


@pytest.fixture
def log() -> MemoryLog:
    log = MemoryLog()
    log.apply_topics(
        [
            TopicSpec(name, "data", 3, 86_400_000, "delete", "DataIngestionEvent", "datasetName")
            for name in ("src", "dst")
        ]
    )
    return log


def cli(log: MemoryLog, *args: str):
    return runner.invoke(app, list(args), obj=Backends.shared(log))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1795794663000", 1795794663000),
        ("2026-11-27T15:51:03Z", 1795794663000),
        ("2026-11-27T15:51:03.250Z", 1795794663250),
        ("2026-11-27T16:51:03+01:00", 1795794663000),
        ("2026-11-27T15:51:03", 1795794663000),
        ("2026-11-27", 1795737600000),
        ("now", NOW),
        ("-90s", NOW - 90_000),
        ("-15m", NOW - 900_000),
        ("-1h", NOW - 3_600_000),
        ("-1.5h", NOW - 5_400_000),
        ("-7d", NOW - 7 * 86_400_000),
        ("-2w", NOW - 14 * 86_400_000),
        ("-250ms", NOW - 250),
    ],
)
def test_time_arguments(text, expected):
    assert parse_time(text, now_ms=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "-1y", "+1h", "2026-13-01", "", "12:00"])
def test_unreadable_times_name_the_flag_and_the_accepted_forms(text):
    with pytest.raises(ConfigError) as info:
        parse_time(text, where="--from-time")
    assert str(info.value).startswith("--from-time: cannot read") and "RFC 3339" in str(info.value)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--from-offset", "0", "--to-file", "x.jsonl"], "name the topic"),
        (["src", "--from-offset", "0"], "exactly one target"),
        (
            ["src", "--from-offset", "0", "--to-topic", "dst", "--to-file", "x.jsonl"],
            "exactly one target",
        ),
        (["src", "--to-topic", "dst"], "exactly one start"),
        (
            ["src", "--from-offset", "0", "--from-time", "-1h", "--to-topic", "dst"],
            "exactly one start",
        ),
        (
            [
                "src",
                "--from-offset",
                "0",
                "--to-offset",
                "5",
                "--to-time",
                "now",
                "--to-topic",
                "dst",
            ],
            "at most one end",
        ),
        (["--from-file", "x.jsonl"], "--from-file needs --to-topic"),
        (
            ["src", "--from-file", "x.jsonl", "--to-topic", "dst"],
            "TOPIC cannot be used with --from-file",
        ),
        (
            ["--from-file", "x.jsonl", "--from-offset", "3", "--to-topic", "dst"],
            "--from-offset cannot be used",
        ),
    ],
)
def test_replay_option_mistakes_exit_2_with_one_line(log, args, says):
    result = cli(log, "events", "replay", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and says in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_negative_offsets_and_limits_are_refused_by_the_parser(log):
    assert (
        cli(log, "events", "replay", "src", "--from-offset", "-1", "--to-topic", "dst").exit_code
        == 2
    )
    assert cli(log, "events", "tail", "src", "--limit", "0").exit_code == 2


def test_tail_json_of_a_tombstone_and_human_line_of_text(log):
    log.produce("src", None, b"gone", [], timestamp_ms=NOW)  # type: ignore[arg-type]
    log.produce("src", b"not json {", b"k", [], timestamp_ms=NOW + 1)
    lines = cli(log, "events", "tail", "src", "--from-beginning", "--json").stdout.splitlines()
    tombstone, text = (msgspec.json.decode(line) for line in lines)
    assert (
        tombstone["key"] == "gone" and tombstone["value"] is None and "decodeError" not in tombstone
    )
    assert text["value"] == "not json {" and "decodeError" in text
    human = cli(log, "events", "tail", "src", "--from-beginning").stdout.splitlines()
    assert human[0].startswith("2027-01-15T08:00:00.000Z src[") and human[0].endswith(
        "key=gone null"
    )
    assert human[1].endswith("key=k <not JSON> 'not json {'")


class _SignallingLog(MemoryLog):
    """Sets ``started`` once a tail has taken the topic's end (its first watermark query)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        marks = super().watermarks(topic, partition)
        self.started.set()
        return marks


def test_tail_follows_new_records_until_its_limit():
    log = _SignallingLog()
    log.apply_topics(
        [TopicSpec("live", "data", 2, 86_400_000, "delete", "DataIngestionEvent", "datasetName")]
    )
    log.produce("live", b'{"old":true}', b"a")

    def produce_after_start() -> None:
        assert log.started.wait(30)
        for i in range(2):
            log.produce("live", msgspec.json.encode({"n": i}), f"k{i}".encode())

    producer = threading.Thread(target=produce_after_start)
    producer.start()
    result = cli(log, "events", "tail", "live", "--limit", "2", "--json")
    producer.join(30)
    assert result.exit_code == 0, result.output
    assert sorted(
        msgspec.json.decode(line)["value"]["n"] for line in result.stdout.splitlines()
    ) == [0, 1]


class _FailingLog(MemoryLog):
    """Stores nothing for ``dst``: every record to it is reported failed."""

    def produce(self, topic, value, key=None, headers=None, on_delivery=None, timestamp_ms=0):  # noqa: ANN001
        if topic != "dst":
            return super().produce(topic, value, key, headers, on_delivery, timestamp_ms)
        self._pending.append(
            (on_delivery, Delivery(topic, -1, -1, "Broker: Not enough in-sync replicas"))
        )


class _SilentLog(MemoryLog):
    """Accepts records for ``dst`` and never acknowledges them."""

    def produce(self, topic, value, key=None, headers=None, on_delivery=None, timestamp_ms=0):  # noqa: ANN001
        if topic != "dst":
            return super().produce(topic, value, key, headers, on_delivery, timestamp_ms)

    def flush(self, timeout: float = 10.0) -> int:
        super().flush(timeout)
        return 3


@pytest.mark.parametrize(
    "log_class, says",
    [
        (_FailingLog, "3 of 3 records failed (first: Broker: Not enough in-sync replicas)"),
        (_SilentLog, "only 0 of 3 records were acknowledged within 1 s"),
    ],
)
def test_replay_fails_loudly_when_deliveries_fail(log_class, says):
    log = log_class()
    log.apply_topics(
        [
            TopicSpec(name, "data", 3, 86_400_000, "delete", "DataIngestionEvent", "datasetName")
            for name in ("src", "dst")
        ]
    )
    for i in range(3):
        log.produce("src", b"{}", f"k{i}".encode(), timestamp_ms=NOW + i)
    result = cli(
        log, "events", "replay", "src", "--from-offset", "0", "--to-topic", "dst", "--timeout", "1"
    )
    assert result.exit_code == 1
    assert result.stderr == f"error: delivery to 'dst' failed: {says}" + (
        "; check the backend and replay the window again (replay copies, it does not move)\n"
        if log_class is _SilentLog
        else "\n"
    )
    assert "copied" not in result.stdout


def test_replay_to_an_unwritable_file_leaves_nothing_behind(log, tmp_path):
    log.produce("src", b"{}", b"k", timestamp_ms=NOW)
    target = tmp_path / "no-such-dir" / "out.jsonl"
    result = cli(log, "events", "replay", "src", "--from-offset", "0", "--to-file", str(target))
    assert result.exit_code == 2 and str(target) in result.stderr
    assert not target.parent.exists()


class _RetainedLog(MemoryLog):
    """Partition 0 of ``src`` lost offsets below 4 to retention; reads below ``low``
    find nothing."""

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        return 4, super().watermarks(topic, partition)[1]

    def read(self, topic, partition, offset, max_records=500, timeout=1.0):  # noqa: ANN001
        return [] if offset < 4 else super().read(topic, partition, offset, max_records, timeout)


class _CompactedLog(MemoryLog):
    """Offsets 2, 3 and the last two of partition 0 were compacted away."""

    def read(self, topic, partition, offset, max_records=500, timeout=1.0):  # noqa: ANN001
        kept = [
            r
            for r in super().read(topic, partition, offset, max_records, 0)
            if r.offset not in (2, 3, 8, 9)
        ]
        return kept[:max_records]


@pytest.mark.parametrize(
    "log_class, offsets", [(_RetainedLog, [4, 5, 6, 7, 8, 9]), (_CompactedLog, [0, 1, 4, 5, 6, 7])]
)
def test_history_skips_retention_and_compaction_gaps(monkeypatch, log_class, offsets):
    monkeypatch.setattr(tools, "HISTORY_READ_TIMEOUT_S", 0.05)
    log = log_class()
    log.apply_topics(
        [TopicSpec("src", "data", 1, 86_400_000, "delete", "DataIngestionEvent", "datasetName")]
    )
    for i in range(10):
        log.produce("src", b"{}", b"k", timestamp_ms=NOW + i)
    assert [
        r.offset for r in tools.scan_range(log, "src", tools.PartitionRange(0, 0, 10), batch=3)
    ] == offsets
    lines = cli(log, "events", "tail", "src", "--from-beginning", "--json").stdout.splitlines()
    assert [msgspec.json.decode(line)["offset"] for line in lines] == offsets


def test_replaying_a_topic_into_itself_copies_the_window_once(log):
    for i in range(5):
        log.produce("src", msgspec.json.encode({"n": i}), f"k{i}".encode(), timestamp_ms=NOW + i)
    result = cli(
        log, "events", "replay", "src", "--from-offset", "0", "--to-topic", "src", "--json"
    )
    assert result.exit_code == 0, result.output
    assert msgspec.json.decode(result.stdout)["copied"] == 5
    values = [
        msgspec.json.decode(x)["value"]["n"]
        for x in cli(log, "events", "tail", "src", "--from-beginning", "--json").stdout.splitlines()
    ]
    assert sorted(values) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
