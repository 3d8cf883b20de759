"""Valid keyword arguments for every event type: FULL sets every field, MINIMAL only the required.

Shared by the schema and event-type tests. FULL must name every field of its type (a test checks
it), so a field added to a type without a sample here makes the tests fail.
"""

from __future__ import annotations

import copy
from typing import Any

from carbonplane.events import codec
from carbonplane.events import types as T

ENVELOPE = dict(
    event_id="0b5e7d4c-3f1a-4c2e-9d8b-1a2b3c4d5e6f",
    timestamp=1_795_795_200_123,
    source="unit-tests",
    version="1.0.0",
    correlation_id="corr-1",
    causation_id="cause-1",
)

MINIMAL: dict[type[T.Event], dict[str, Any]] = {
    T.DataIngestionEvent: dict(
        dataset_name="commodity_prices",
        record_count=10_000,
        size_bytes=1_024_000,
        location="s3://bucket/data.parquet",
    ),
    T.DataQualityEvent: dict(
        dataset_name="commodity_prices",
        check_type="completeness",
        check_name="no_nulls",
        result="PASS",
        score=1.0,
        failed_records=0,
        total_records=10_000,
    ),
    T.DataLineageEvent: dict(
        source_dataset="raw.prices",
        target_dataset="curated.prices",
        transformation_type="COPY",
        transformation_name="copy_prices",
    ),
    T.DataTransformationEvent: dict(
        job_name="curate",
        input_datasets=["raw.prices"],
        output_datasets=["curated.prices"],
        records_in=10,
        records_out=9,
        duration_ms=1_200,
        status="PARTIAL",
    ),
    T.ServiceHealthEvent: dict(
        service_name="trino",
        namespace="data-platform",
        health_status="DEGRADED",
        latency_ms=250.5,
        error_rate=0.02,
    ),
    T.DeploymentEvent: dict(
        deployment_name="trino-coordinator",
        namespace="data-platform",
        action="SCALE",
        deployed_version="v1.2.0",
        replicas=3,
        deployed_by="ci",
    ),
    T.ConfigChangeEvent: dict(
        resource="gateway/routes/trino-api", change_type="DELETE", changed_by="ops"
    ),
    T.SecurityEvent: dict(category="AUTHN_FAILURE", severity="HIGH", resource="/api/trino"),
    T.AuditUserActionEvent: dict(
        user_id="u-1",
        username="analyst",
        action="LOGIN",
        resource="portal",
        resource_type="app",
        result="DENIED",
        ip_address="10.0.0.1",
    ),
    T.AuditAPICallEvent: dict(
        service="trino",
        endpoint="/api/trino/v1/statement",
        method="POST",
        status_code=201,
        latency_ms=12.5,
        request_size_bytes=512,
        response_size_bytes=2_048,
        ip_address="10.0.0.2",
    ),
    T.AuditDataAccessEvent: dict(
        user_id="u-2", dataset="curated.prices", access_type="EXPORT", result="FAILURE"
    ),
    T.AuditAdminOperationEvent: dict(
        admin_user="root", operation="ROTATE_KEY", target="jwt/portal", result="SUCCESS"
    ),
}

_OPTIONAL: dict[type[T.Event], dict[str, Any]] = {
    T.DataIngestionEvent: dict(
        format="csv", status="FAILURE", metadata={"region": "eu-west", "owner": "lake"}
    ),
    T.DataQualityEvent: dict(message="all rows complete"),
    T.DataLineageEvent: dict(
        query="INSERT INTO curated.prices SELECT * FROM raw.prices",
        columns=[
            T.ColumnLineage(source_column="px", target_column="price", transformation="px / 100"),
            T.ColumnLineage(source_column="ts", target_column="as_of"),
        ],
    ),
    T.DataTransformationEvent: dict(engine="trino", error_message="30 rows rejected"),
    T.ServiceHealthEvent: dict(message="p99 above target"),
    T.DeploymentEvent: dict(previous_version="v1.1.3"),
    T.ConfigChangeEvent: dict(
        config_version="42", diff="- rate: 50\n+ rate: 100", reason="load test"
    ),
    T.SecurityEvent: dict(
        principal="consumer-7", source_ip="203.0.113.9", details={"route": "trino-api"}
    ),
    T.AuditUserActionEvent: dict(user_agent="Mozilla/5.0", details={"mfa": "totp"}),
    T.AuditAPICallEvent: dict(user_id="u-1", api_key_id="key-7f3a", error_message="none"),
    T.AuditDataAccessEvent: dict(
        row_count=120, query="SELECT price FROM curated.prices", ip_address="10.0.0.3"
    ),
    T.AuditAdminOperationEvent: dict(ip_address="10.0.0.4", details={"ticket": "OPS-1"}),
}

FULL: dict[type[T.Event], dict[str, Any]] = {
    cls: {**ENVELOPE, **MINIMAL[cls], **_OPTIONAL[cls]} for cls in T.EVENT_TYPES
}


def full_event(cls: type[T.Event]) -> T.Event:
    """An instance with every field set (fresh objects each call, safe to mutate)."""
    return codec.build_event(cls, **copy.deepcopy(FULL[cls]))


def minimal_event(cls: type[T.Event]) -> T.Event:
    """An instance with only the required fields (the envelope left for the producer to fill)."""
    return codec.build_event(cls, **copy.deepcopy(MINIMAL[cls]))


def produce_path(cls: type[T.Event], **changes: Any) -> bytes:
    """What ``produce_*_event`` does: keyword arguments -> struct -> validated JSON."""
    return codec.encode_event(codec.build_event(cls, **{**copy.deepcopy(FULL[cls]), **changes}))
