"""``audit search`` on every backend: matching by user (userId / username / adminUser) and service
(service / source) across the four audit topics, time windows, --limit, --topic, output forms.

The audit topics are shared (on Kafka, across runs), so every test uses users and services no other
test or run has: a match can only be one of the records the test produced.
"""

from __future__ import annotations

import time
import uuid

import msgspec
import pytest

from carbonplane.errors import UnknownTopicError
from carbonplane.events import types as T
from carbonplane.events.audit import AuditQuery, audit_search

NOW_MS = time.time_ns() // 1_000_000


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _at(event: T.Event, ts: int) -> T.Event:
    event.timestamp = ts
    return event


def _user_events(uid: str, username: str, base: int) -> list[T.Event]:
    return [
        _at(
            T.AuditUserActionEvent(
                user_id=uid,
                username=username,
                action="LOGIN",
                resource="portal",
                resource_type="app",
                result="SUCCESS",
                ip_address="10.0.0.1",
            ),
            base + 1,
        ),
        _at(
            T.AuditAPICallEvent(
                service="trino",
                endpoint="/v1/statement",
                method="POST",
                status_code=200,
                latency_ms=3.0,
                request_size_bytes=1,
                response_size_bytes=2,
                user_id=uid,
                ip_address="10.0.0.1",
            ),
            base + 2,
        ),
        _at(
            T.AuditDataAccessEvent(
                user_id=uid, dataset="curated.prices", access_type="EXPORT", result="DENIED"
            ),
            base + 3,
        ),
        _at(
            T.AuditAdminOperationEvent(
                admin_user=uid, operation="ROTATE_KEY", target="jwt/portal", result="SUCCESS"
            ),
            base + 4,
        ),
        _at(
            T.AuditUserActionEvent(
                user_id=_unique("other"),
                username="someone",
                action="LOGIN",
                resource="portal",
                resource_type="app",
                result="SUCCESS",
                ip_address="10.0.0.2",
            ),
            base + 5,
        ),
    ]


def test_user_matches_user_id_username_and_admin_user_sorted_by_time(log):
    uid, username = _unique("u"), _unique("Analyst")
    events = _user_events(uid, username, NOW_MS - 60_000)
    log.produce(list(reversed(events)))  # produced newest first; results must still be oldest first

    hits = audit_search(log.reader, AuditQuery(user=uid))
    assert [h.event["eventId"] for h in hits] == [e.event_id for e in events[:4]]
    assert [h.record.topic for h in hits] == [
        "audit-user-actions",
        "audit-api-calls",
        "audit-data-access",
        "audit-admin-operations",
    ]
    assert [h.user for h in hits] == [uid] * 4

    by_name = audit_search(log.reader, AuditQuery(user=username.upper()))
    assert [h.event["eventId"] for h in by_name] == [events[0].event_id]


def test_service_matches_the_api_service_or_the_producing_source(log):
    service = _unique("svc")
    call = T.AuditAPICallEvent(
        service=service,
        endpoint="/x",
        method="GET",
        status_code=503,
        latency_ms=1.0,
        request_size_bytes=0,
        response_size_bytes=0,
        ip_address="10.0.0.3",
    )
    _at(call, NOW_MS - 30_000)
    log.produce([call])
    admin = _at(
        T.AuditAdminOperationEvent(
            admin_user="root", operation="RESTART", target="gateway", result="FAILURE"
        ),
        NOW_MS - 20_000,
    )
    log.produce([admin], source=service)

    result = log.cli("audit", "search", "--service", service, "--json")

    assert result.exit_code == 0, result.output
    lines = [msgspec.json.decode(line) for line in result.stdout.splitlines()]
    assert [line["value"]["eventId"] for line in lines] == [call.event_id, admin.event_id]
    assert all(
        list(line) == ["topic", "partition", "offset", "key", "headers", "value"] for line in lines
    )
    assert lines[1]["headers"]["ce_source"] == service


def test_time_window_limit_and_topic(log):
    uid = _unique("u")
    base = NOW_MS - 600_000
    events = [
        _at(
            T.AuditDataAccessEvent(
                user_id=uid, dataset=f"ds{i}", access_type="READ", result="SUCCESS"
            ),
            base + 1000 * i,
        )
        for i in range(5)
    ]
    log.produce(events)
    ids = [e.event_id for e in events]

    window = audit_search(
        log.reader, AuditQuery(user=uid, since_ms=base + 1000, until_ms=base + 4000)
    )
    assert [h.event["eventId"] for h in window] == ids[1:4]
    newest = audit_search(log.reader, AuditQuery(user=uid, limit=2))
    assert [h.event["eventId"] for h in newest] == ids[3:]
    assert audit_search(log.reader, AuditQuery(user=uid, topics=("audit-user-actions",))) == []

    since = log.cli(
        "audit",
        "search",
        "--user",
        uid,
        "--since",
        str(base + 3000),
        "--topic",
        "audit-data-access",
        "--json",
    )
    assert [msgspec.json.decode(x)["value"]["eventId"] for x in since.stdout.splitlines()] == ids[
        3:
    ]
    table = log.cli("audit", "search", "--user", uid, "--since", "-1h", "--limit", "3")
    assert table.exit_code == 0, table.output
    assert "3 matches" in table.stdout and "ds4" in table.stdout and "ds1" not in table.stdout


def test_a_topic_outside_the_audit_set_is_refused(log):
    with pytest.raises(UnknownTopicError):
        audit_search(log.reader, AuditQuery(topics=("data-ingestion",)))
    result = log.cli("audit", "search", "--topic", "data-ingestion")
    assert result.exit_code == 1 and "audit-user-actions" in result.stderr
