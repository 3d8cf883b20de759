"""``carbonplane audit search`` on the in-memory log: the table, option checks, custom and non-JSON
values, and that --limit keeps the newest matches in time order."""

from __future__ import annotations

import msgspec
import pytest
from typer.testing import CliRunner

from carbonplane.cli.main import app
from carbonplane.cli.output import Backends
from carbonplane.events import types as T
from carbonplane.events.audit import AuditQuery, audit_search
from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.catalog import TOPICS
from carbonplane.events.envelope import seal

runner = CliRunner()
T0 = 1_800_000_000_000


@pytest.fixture
def log() -> MemoryLog:
    log = MemoryLog()
    log.apply_topics(TOPICS)
    return log


def cli(log: MemoryLog, *args: str):
    return runner.invoke(app, list(args), obj=Backends.shared(log))


def _send(log: MemoryLog, event: T.Event, ts: int, source: str = "portal") -> None:
    event.timestamp = ts
    key, value, headers = seal(event, source)
    log.produce(event.TOPIC, value, key, headers, timestamp_ms=ts)


def test_table_shows_who_did_what(log):
    _send(
        log,
        T.AuditAPICallEvent(
            service="trino",
            endpoint="/v1/statement",
            method="POST",
            status_code=403,
            latency_ms=1.0,
            request_size_bytes=1,
            response_size_bytes=1,
            user_id="u-7",
            ip_address="10.0.0.1",
        ),
        T0,
    )
    _send(
        log,
        T.AuditDataAccessEvent(
            user_id="u-7", dataset="curated.prices", access_type="EXPORT", result="DENIED"
        ),
        T0 + 1,
    )
    result = cli(log, "audit", "search", "--user", "u-7")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "u-7" in line]
    assert len(rows) == 2
    assert (
        "2027-01-15T08:00:00.000Z" in rows[0]
        and "POST /v1/statement" in rows[0]
        and "403" in rows[0]
    )
    assert (
        "audit-data-access" in rows[1]
        and "EXPORT" in rows[1]
        and "curated.prices" in rows[1]
        and "DENIED" in rows[1]
    )
    assert result.stdout.rstrip().endswith("2 matches")
    assert cli(log, "audit", "search", "--user", "nobody").stdout.rstrip().endswith("0 matches")


def test_custom_and_non_json_values_match_only_without_filters(log):
    log.produce(
        "audit-user-actions",
        msgspec.json.encode({"userId": "u-9", "note": "custom"}),
        b"u-9",
        timestamp_ms=T0,
    )
    log.produce("audit-user-actions", b"\x00binary", b"u-9", timestamp_ms=T0 + 1)
    log.produce("audit-user-actions", msgspec.json.encode([1, 2]), b"u-9", timestamp_ms=T0 + 2)
    assert [h.event for h in audit_search(log, AuditQuery(user="u-9"))] == [
        {"userId": "u-9", "note": "custom"}
    ]
    everything = audit_search(log, AuditQuery())
    assert [h.record.offset for h in everything] == [0, 1, 2]
    lines = [
        msgspec.json.decode(x) for x in cli(log, "audit", "search", "--json").stdout.splitlines()
    ]
    assert [("decodeError" in line) for line in lines] == [False, True, False]


def test_limit_keeps_the_newest_in_time_order_across_topics(log):
    for i in range(6):
        event = (
            T.AuditAdminOperationEvent(
                admin_user="ops", operation=f"op{i}", target="t", result="SUCCESS"
            )
            if i % 2
            else T.AuditUserActionEvent(
                user_id="ops",
                username="Ops",
                action=f"op{i}",
                resource="r",
                resource_type="x",
                result="SUCCESS",
                ip_address="10.0.0.1",
            )
        )
        _send(log, event, T0 + 10 * (5 - i) if i < 3 else T0 + 100 + i)
    hits = audit_search(log, AuditQuery(user="OPS", limit=3))
    assert [h.action for h in hits] == ["op3", "op4", "op5"]
    assert [h.record.timestamp_ms for h in hits] == sorted(h.record.timestamp_ms for h in hits)
    oldest_first = audit_search(log, AuditQuery(user="ops"))
    assert [h.action for h in oldest_first] == ["op2", "op1", "op0", "op3", "op4", "op5"]


@pytest.mark.parametrize(
    "args, code, says",
    [
        (
            ["--since", "2027-01-15T09:00:00Z", "--until", "2027-01-15T08:00:00Z"],
            2,
            "--until must be later than --since",
        ),
        (["--topic", "audit-everything"], 1, "unknown topic 'audit-everything'"),
        (["--until", "soon"], 2, "--until: cannot read 'soon'"),
    ],
)
def test_option_mistakes(log, args, code, says):
    result = cli(log, "audit", "search", *args)
    assert (
        result.exit_code == code and says in result.stderr and len(result.stderr.splitlines()) == 1
    )
    assert cli(log, "audit", "search", "--limit", "0").exit_code == 2
