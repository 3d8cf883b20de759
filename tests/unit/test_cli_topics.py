"""``carbonplane topics apply|list`` on the in-memory log: what changed, idempotence, dry runs,
drift, missing and extra topics, in both the table and the JSON form."""

from __future__ import annotations

from dataclasses import replace

import msgspec
import pytest
from typer.testing import CliRunner

from carbonplane.cli.main import app
from carbonplane.cli.output import Backends
from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.catalog import TOPICS, TOPICS_BY_NAME, TopicSpec

runner = CliRunner()


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


def cli(log: MemoryLog, *args: str):
    result = runner.invoke(app, list(args), obj=Backends.shared(log))
    assert result.exit_code == 0, result.output
    return result


def test_list_on_an_empty_log_shows_every_catalog_topic_missing(log):
    rows = msgspec.json.decode(cli(log, "topics", "list", "--json").stdout)
    assert [r["topic"] for r in rows] == [t.name for t in TOPICS]
    assert {r["status"] for r in rows} == {"missing"}
    first = rows[0]
    assert list(first) == ["topic", "status", "drift", "replicationFactor", "catalog", "live"]
    assert first["live"] is None and first["catalog"] == {
        "partitions": "12",
        "retention.ms": "604800000",
        "cleanup.policy": "delete",
        "compression.type": "lz4",
        "min.insync.replicas": "1",
    }
    assert "12 missing" in cli(log, "topics", "list").stdout


def test_dry_run_reports_and_changes_nothing_then_apply_is_idempotent(log):
    dry = msgspec.json.decode(cli(log, "topics", "apply", "--dry-run", "--json").stdout)
    assert dry["dryRun"] is True
    assert {t["action"] for t in dry["topics"]} == {"created"}
    assert log.describe_topics() == {}
    assert "12 would be created" in cli(log, "topics", "apply", "--dry-run").stdout

    applied = msgspec.json.decode(cli(log, "topics", "apply", "--json").stdout)
    lineage = next(t for t in applied["topics"] if t["topic"] == "data-lineage")
    assert lineage["action"] == "created"
    assert lineage["changes"]["cleanup.policy"] == {"old": None, "new": "compact"}
    assert lineage["changes"]["partitions"] == {"old": None, "new": "3"}
    assert sorted(log.describe_topics()) == sorted(t.name for t in TOPICS)

    again = msgspec.json.decode(cli(log, "topics", "apply", "--json").stdout)
    assert {t["action"] for t in again["topics"]} == {"unchanged"}
    assert "0 created, 0 updated, 12 unchanged" in cli(log, "topics", "apply").stdout


def test_drift_is_flagged_and_apply_repairs_what_it_can(log):
    log.apply_topics(TOPICS)
    quality = TOPICS_BY_NAME["data-quality"]
    log.apply_topics([replace(quality, retention_ms=3_600_000, cleanup_policy="compact")])
    health = TOPICS_BY_NAME["system-health"]
    log.apply_topics([replace(health, partitions=5)])  # more partitions than the catalog's 3
    log.apply_topics(
        [TopicSpec("scratch", "data", 2, 1000, "delete", "DataIngestionEvent", "datasetName")]
    )

    rows = {r["topic"]: r for r in msgspec.json.decode(cli(log, "topics", "list", "--json").stdout)}
    assert rows["data-quality"]["status"] == "drift"
    assert rows["data-quality"]["drift"] == ["retention.ms", "cleanup.policy"]
    assert rows["data-quality"]["live"]["retention.ms"] == "3600000"
    assert rows["system-health"]["drift"] == ["partitions"]
    assert rows["scratch"]["status"] == "extra" and rows["scratch"]["catalog"] is None
    assert list(rows)[-1] == "scratch", "non-catalog topics come after the catalog's"
    table = cli(log, "topics", "list").stdout
    assert "1h != 30d" in table and "not in catalog" in table and "2 drift" in table

    fixed = {
        t["topic"]: t
        for t in msgspec.json.decode(cli(log, "topics", "apply", "--json").stdout)["topics"]
    }
    assert fixed["data-quality"]["action"] == "updated"
    assert fixed["data-quality"]["changes"]["retention.ms"] == {
        "old": "3600000",
        "new": "2592000000",
    }
    assert fixed["system-health"]["action"] == "unchanged"
    assert "never shrink" in fixed["system-health"]["changes"]["partitions"]["new"]
    assert "scratch" not in fixed
    after = {
        r["topic"]: r["status"]
        for r in msgspec.json.decode(cli(log, "topics", "list", "--json").stdout)
    }
    assert after["data-quality"] == "ok" and after["system-health"] == "drift"
    assert "data-quality" in cli(log, "topics", "apply", "--dry-run").stdout
