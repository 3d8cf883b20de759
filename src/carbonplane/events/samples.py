"""One realistic, valid event of each of the 12 catalog types.

Used by the demo (``carbonplane demo``), the contract tests and the benchmarks, so that all three
exercise the same payloads. ``sample_events(n)`` varies keys so records spread over partitions.
"""

from __future__ import annotations

from carbonplane.events import types as T


def sample_event(event_type: str, i: int = 0) -> T.Event:
    """A fresh valid instance of ``event_type`` (envelope fields left for the producer to fill)."""
    return _BUILDERS[event_type](i)


def sample_events(i: int = 0) -> list[T.Event]:
    """One fresh event of every type, in catalog order."""
    return [build(i) for build in _BUILDERS.values()]


_BUILDERS = {
    "DataIngestionEvent": lambda i: T.DataIngestionEvent(
        dataset_name=f"commodity_prices_{i % 16}",
        record_count=10_000 + i,
        size_bytes=1_024_000,
        location=f"s3://254carbon-lake/prices/{i}.parquet",
        metadata={"region": "eu-west"},
    ),
    "DataQualityEvent": lambda i: T.DataQualityEvent(
        dataset_name=f"commodity_prices_{i % 16}",
        check_type="completeness",
        check_name="no_null_prices",
        result="WARNING",
        score=0.97,
        failed_records=30,
        total_records=1000,
        message="30 null prices",
    ),
    "DataLineageEvent": lambda i: T.DataLineageEvent(
        source_dataset=f"raw.prices_{i % 8}",
        target_dataset="curated.prices",
        transformation_type="TRANSFORM",
        transformation_name="normalise_units",
        query="SELECT * FROM raw.prices",
        columns=[
            T.ColumnLineage(source_column="px", target_column="price", transformation="px / 100")
        ],
    ),
    "DataTransformationEvent": lambda i: T.DataTransformationEvent(
        job_name=f"curate_prices_{i % 8}",
        input_datasets=["raw.prices"],
        output_datasets=["curated.prices"],
        records_in=10_000,
        records_out=9_970,
        duration_ms=5_400,
        status="SUCCESS",
        engine="trino",
    ),
    "ServiceHealthEvent": lambda i: T.ServiceHealthEvent(
        service_name=f"svc-{i % 12}",
        namespace="data-platform",
        health_status="HEALTHY",
        latency_ms=25.0,
        error_rate=0.001,
    ),
    "DeploymentEvent": lambda i: T.DeploymentEvent(
        deployment_name=f"trino-coordinator-{i % 4}",
        namespace="data-platform",
        action="DEPLOY",
        deployed_version="v1.2.0",
        previous_version="v1.1.3",
        replicas=2,
        deployed_by="ci",
    ),
    "ConfigChangeEvent": lambda i: T.ConfigChangeEvent(
        resource=f"gateway/routes/trino-api-{i % 4}",
        change_type="UPDATE",
        changed_by="ops@254carbon.com",
        config_version="42",
        reason="raise rate limit",
    ),
    "SecurityEvent": lambda i: T.SecurityEvent(
        category="RATE_LIMITED",
        severity="LOW",
        resource="/api/trino",
        principal="consumer-7",
        source_ip="10.0.0.7",
        details={"limit": "50/min"},
    ),
    "AuditUserActionEvent": lambda i: T.AuditUserActionEvent(
        user_id=f"u-{i % 64}",
        username=f"analyst{i % 64}",
        action="EXPORT",
        resource="dashboards/prices",
        resource_type="dashboard",
        result="SUCCESS",
        ip_address="10.0.0.9",
        user_agent="Mozilla/5.0",
    ),
    "AuditAPICallEvent": lambda i: T.AuditAPICallEvent(
        service=f"trino-{i % 12}",
        endpoint="/api/trino/v1/statement",
        method="POST",
        status_code=200,
        latency_ms=12.5,
        request_size_bytes=512,
        response_size_bytes=2048,
        user_id="u-1",
        api_key_id="key-7f3a",
        ip_address="10.0.0.10",
    ),
    "AuditDataAccessEvent": lambda i: T.AuditDataAccessEvent(
        user_id=f"u-{i % 64}",
        dataset="curated.prices",
        access_type="READ",
        result="SUCCESS",
        row_count=120,
        query="SELECT price FROM curated.prices",
        ip_address="10.0.0.11",
    ),
    "AuditAdminOperationEvent": lambda i: T.AuditAdminOperationEvent(
        admin_user=f"admin-{i % 4}",
        operation="ROTATE_KEY",
        target="jwt/portal-service",
        result="SUCCESS",
        ip_address="10.0.0.12",
        details={"ticket": "OPS-1"},
    ),
}
assert list(_BUILDERS) == [t.__name__ for t in T.EVENT_TYPES]
