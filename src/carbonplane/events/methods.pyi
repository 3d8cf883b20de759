# Generated from the catalog by tests/unit/test_event_api.py: do not edit. After changing the catalog,
# the event types or events/methods.py: CARBONPLANE_WRITE_STUB=1 .venv/bin/pytest tests/unit/test_event_api.py
from collections.abc import Mapping
from typing import Any, Literal, TypedDict, Unpack

from carbonplane.events.delivery import DeliveryFuture, UserCallback
from carbonplane.events.types import ColumnLineage

FIELD_OF_PARAMETER: dict[str, str]
METHOD_DEFAULTS: dict[tuple[str, str], Any]

class EnvelopeArguments(TypedDict, total=False):
    event_id: str
    timestamp: int
    source: str
    version: str
    correlation_id: str
    causation_id: str
    on_delivery: UserCallback | None

class CatalogMethods:
    def produce_data_ingestion_event(
        self,
        dataset_name: str,
        record_count: int,
        size_bytes: int,
        location: str,
        status: Literal['SUCCESS', 'FAILURE', 'PARTIAL'] = 'SUCCESS',
        format: str = 'parquet',
        metadata: dict[str, str] | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_data_quality_event(
        self,
        dataset_name: str,
        check_type: str,
        check_name: str,
        result: Literal['PASS', 'FAIL', 'WARNING'],
        score: float,
        failed_records: int,
        total_records: int,
        message: str | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_data_lineage_event(
        self,
        source_dataset: str,
        target_dataset: str,
        transformation_type: Literal['COPY', 'TRANSFORM', 'AGGREGATE', 'JOIN', 'FILTER'],
        transformation_name: str,
        query: str | None = None,
        columns: list[ColumnLineage | Mapping[str, Any]] | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_data_transformation_event(
        self,
        job_name: str,
        input_datasets: list[str],
        output_datasets: list[str],
        records_in: int,
        records_out: int,
        duration_ms: int,
        status: Literal['SUCCESS', 'FAILURE', 'PARTIAL'] = 'SUCCESS',
        engine: str | None = None,
        error_message: str | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_service_health_event(
        self,
        service_name: str,
        namespace: str,
        health_status: Literal['HEALTHY', 'DEGRADED', 'UNHEALTHY', 'UNKNOWN'],
        latency_ms: float,
        error_rate: float,
        message: str | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_deployment_event(
        self,
        deployment_name: str,
        namespace: str,
        action: Literal['DEPLOY', 'ROLLBACK', 'SCALE', 'RESTART'],
        deployed_version: str,
        deployed_by: str,
        replicas: int = 1,
        previous_version: str | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_config_change_event(
        self,
        resource: str,
        change_type: Literal['CREATE', 'UPDATE', 'DELETE'],
        changed_by: str,
        config_version: str | None = None,
        diff: str | None = None,
        reason: str | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_security_event(
        self,
        category: Literal['AUTHN_FAILURE', 'AUTHZ_DENIED', 'RATE_LIMITED', 'CERT_ISSUED', 'CERT_EXPIRING', 'POLICY_VIOLATION', 'TLS_ERROR'],
        severity: Literal['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'],
        resource: str,
        principal: str | None = None,
        source_ip: str | None = None,
        details: dict[str, str] | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_user_action_event(
        self,
        user_id: str,
        username: str,
        action: str,
        resource: str,
        resource_type: str,
        result: Literal['SUCCESS', 'FAILURE', 'DENIED'],
        ip_address: str,
        user_agent: str | None = None,
        details: dict[str, str] | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_api_call_event(
        self,
        service: str,
        endpoint: str,
        method: str,
        status_code: int,
        latency_ms: float,
        request_size: int,
        response_size: int,
        user_id: str | None = None,
        ip_address: str = 'unknown',
        error_message: str | None = None,
        api_key_id: str | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_data_access_event(
        self,
        user_id: str,
        dataset: str,
        access_type: Literal['READ', 'WRITE', 'DELETE', 'EXPORT'],
        result: Literal['SUCCESS', 'FAILURE', 'DENIED'],
        row_count: int | None = None,
        query: str | None = None,
        ip_address: str | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
    def produce_admin_operation_event(
        self,
        admin_user: str,
        operation: str,
        target: str,
        result: Literal['SUCCESS', 'FAILURE', 'DENIED'],
        ip_address: str | None = None,
        details: dict[str, str] | None = None,
        **extra: Unpack[EnvelopeArguments],
    ) -> DeliveryFuture: ...
