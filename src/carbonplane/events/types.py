"""The 12 event types: typed structures with the original platform's wire layout.

Each type is a ``msgspec.Struct`` whose JSON encoding is exactly the payload the original library
sent: the envelope first (``eventId``, ``eventType``, ``timestamp`` in epoch ms, ``source``,
``version``, optional ``correlationId``/``causationId``), then the type's own camelCase fields.
Optional fields default to ``UNSET`` and are omitted from the JSON when absent.

This module only declares the types and their bounds; validating, encoding and decoding them is
``events/codec.py``. Construction does not validate (msgspec validates while decoding). Rules that
span fields (``failedRecords`` <= ``totalRecords``) live in ``__post_init__``, which msgspec runs on
decode as well. Counts are bounded to a signed 64-bit long so that every valid event also fits the
Avro schemas in ``schemas/`` (generated from these Structs by ``events/schemas.py``) and Java
consumers; floats to finite values (JSON has no NaN or infinity); ``timestamp`` to 0 ..
9999-12-31T23:59:59.999Z, the last instant RFC 3339 (and so CloudEvents' ``time``) can write. The
producer also refuses timestamps more than an hour ahead of its clock (``envelope.MAX_FUTURE_MS``,
Kafka's broker default).

Invariant: ``EVENT_TYPES`` lists every catalog type once; ``EVENT_TYPES_BY_NAME`` and
``EVENT_TYPE_BY_TOPIC`` are derived from it.

Spec: docs/events.md (the catalog); CloudEvents 1.0 for ``CE_TYPE`` names.
"""

from __future__ import annotations

import sys
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from carbonplane.errors import EventValidationError

SCHEMA_VERSION = "1.0.0"
MAX_LONG = 2**63 - 1  # counts and timestamps must fit a signed 64-bit long (Avro, Java, Kafka)

MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: RFC 3339 has four-digit years
MAX_FLOAT = sys.float_info.max  # the bound keeps infinity out (NaN fails every bound)

NonNegInt = Annotated[int, Meta(ge=0, le=MAX_LONG)]
Timestamp = Annotated[int, Meta(ge=0, le=MAX_TIMESTAMP_MS)]
NonNegFloat = Annotated[float, Meta(ge=0, le=MAX_FLOAT)]
Ratio = Annotated[float, Meta(ge=0.0, le=1.0)]
Name = Annotated[str, Meta(min_length=1)]
StatusCode = Annotated[int, Meta(ge=100, le=599)]
StrMap = dict[str, str]

RunStatus = Literal["SUCCESS", "FAILURE", "PARTIAL"]
Outcome = Literal["SUCCESS", "FAILURE", "DENIED"]


class Event(msgspec.Struct, kw_only=True, rename="camel"):
    """The envelope every event carries. ``eventId``/``timestamp``/``source`` are filled by the
    producer when left empty."""

    event_id: str = ""
    event_type: str = ""
    timestamp: Timestamp = 0
    source: str = ""
    version: str = SCHEMA_VERSION
    correlation_id: str | UnsetType = UNSET
    causation_id: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = ""
    CE_TYPE: ClassVar[str] = ""


class DataIngestionEvent(Event, kw_only=True, rename="camel"):
    """A batch of records landed in a dataset (one ingestion run)."""

    event_type: Literal["DataIngestionEvent"] = "DataIngestionEvent"
    dataset_name: Name
    record_count: NonNegInt
    size_bytes: NonNegInt
    format: str = "parquet"
    location: str
    status: RunStatus = "SUCCESS"
    metadata: StrMap = {}

    TOPIC: ClassVar[str] = "data-ingestion"
    CE_TYPE: ClassVar[str] = "com.carbon254.data.ingestion"


class DataQualityEvent(Event, kw_only=True, rename="camel"):
    """The outcome of one data-quality check on a dataset; ``failedRecords`` <= ``totalRecords``."""

    event_type: Literal["DataQualityEvent"] = "DataQualityEvent"
    dataset_name: Name
    check_type: Name
    check_name: Name
    result: Literal["PASS", "FAIL", "WARNING"]
    score: Ratio
    failed_records: NonNegInt
    total_records: NonNegInt
    message: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "data-quality"
    CE_TYPE: ClassVar[str] = "com.carbon254.data.quality"

    def __post_init__(self) -> None:
        # Only compare well-typed counts: a wrong type is reported by validation, naming its field,
        failed, total = self.failed_records, self.total_records
        # and a negative total is reported as totalRecords' own error, not as this one.
        if type(failed) is int and type(total) is int and 0 <= total < failed:
            raise EventValidationError(
                "DataQualityEvent",
                "failedRecords",
                f"failedRecords ({failed}) exceeds totalRecords ({total})",
            )


class ColumnLineage(msgspec.Struct, kw_only=True, rename="camel"):
    """One target column and the source column it was derived from."""

    source_column: Name
    target_column: Name
    transformation: str | UnsetType = UNSET


class DataLineageEvent(Event, kw_only=True, rename="camel"):
    """A dataset was derived from another; optionally column by column."""

    event_type: Literal["DataLineageEvent"] = "DataLineageEvent"
    source_dataset: Name
    target_dataset: Name
    transformation_type: Literal["COPY", "TRANSFORM", "AGGREGATE", "JOIN", "FILTER"]
    transformation_name: Name
    query: str | UnsetType = UNSET
    columns: list[ColumnLineage] = []

    TOPIC: ClassVar[str] = "data-lineage"
    CE_TYPE: ClassVar[str] = "com.carbon254.data.lineage"


class DataTransformationEvent(Event, kw_only=True, rename="camel"):
    """One run of a transformation job: datasets in and out, record counts, duration, outcome."""

    event_type: Literal["DataTransformationEvent"] = "DataTransformationEvent"
    job_name: Name
    input_datasets: list[str]
    output_datasets: list[str]
    records_in: NonNegInt
    records_out: NonNegInt
    duration_ms: NonNegInt
    status: RunStatus
    engine: str | UnsetType = UNSET
    error_message: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "data-transformation"
    CE_TYPE: ClassVar[str] = "com.carbon254.data.transformation"


class ServiceHealthEvent(Event, kw_only=True, rename="camel"):
    """A service's health as observed at one moment: status, latency and error rate."""

    event_type: Literal["ServiceHealthEvent"] = "ServiceHealthEvent"
    service_name: Name
    namespace: Name
    health_status: Literal["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"]
    latency_ms: NonNegFloat
    error_rate: Ratio
    message: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "system-health"
    CE_TYPE: ClassVar[str] = "com.carbon254.system.health"


class DeploymentEvent(Event, kw_only=True, rename="camel"):
    """A deployment was rolled out, rolled back, scaled or restarted."""

    event_type: Literal["DeploymentEvent"] = "DeploymentEvent"
    deployment_name: Name
    namespace: Name
    action: Literal["DEPLOY", "ROLLBACK", "SCALE", "RESTART"]
    deployed_version: Name
    previous_version: str | UnsetType = UNSET
    replicas: NonNegInt
    deployed_by: Name

    TOPIC: ClassVar[str] = "deployment-events"
    CE_TYPE: ClassVar[str] = "com.carbon254.system.deployment"


class ConfigChangeEvent(Event, kw_only=True, rename="camel"):
    """A platform configuration resource was created, updated or deleted."""

    event_type: Literal["ConfigChangeEvent"] = "ConfigChangeEvent"
    resource: Name
    change_type: Literal["CREATE", "UPDATE", "DELETE"]
    changed_by: Name
    config_version: str | UnsetType = UNSET
    diff: str | UnsetType = UNSET
    reason: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "config-changes"
    CE_TYPE: ClassVar[str] = "com.carbon254.system.config"


class SecurityEvent(Event, kw_only=True, rename="camel"):
    """A security-relevant occurrence: failed authentication, denial, rate limit,
    certificate, TLS."""

    event_type: Literal["SecurityEvent"] = "SecurityEvent"
    category: Literal[
        "AUTHN_FAILURE",
        "AUTHZ_DENIED",
        "RATE_LIMITED",
        "CERT_ISSUED",
        "CERT_EXPIRING",
        "POLICY_VIOLATION",
        "TLS_ERROR",
    ]
    severity: Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    resource: Name
    principal: str | UnsetType = UNSET
    source_ip: str | UnsetType = UNSET
    details: StrMap = {}

    TOPIC: ClassVar[str] = "security-events"
    CE_TYPE: ClassVar[str] = "com.carbon254.system.security"


class AuditUserActionEvent(Event, kw_only=True, rename="camel"):
    """Audit trail: a user did something to a resource."""

    event_type: Literal["AuditUserActionEvent"] = "AuditUserActionEvent"
    user_id: Name
    username: Name
    action: Name
    resource: Name
    resource_type: Name
    result: Outcome
    ip_address: Name
    user_agent: str | UnsetType = UNSET
    details: StrMap = {}

    TOPIC: ClassVar[str] = "audit-user-actions"
    CE_TYPE: ClassVar[str] = "com.carbon254.audit.user_action"


class AuditAPICallEvent(Event, kw_only=True, rename="camel"):
    """Audit trail: one API call through the gateway (never carries secrets, only key
    identifiers)."""

    event_type: Literal["AuditAPICallEvent"] = "AuditAPICallEvent"
    service: Name
    endpoint: Name
    method: Name
    status_code: StatusCode
    latency_ms: NonNegFloat
    request_size_bytes: NonNegInt
    response_size_bytes: NonNegInt
    user_id: str | UnsetType = UNSET
    api_key_id: str | UnsetType = UNSET
    ip_address: Name
    error_message: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "audit-api-calls"
    CE_TYPE: ClassVar[str] = "com.carbon254.audit.api_call"


class AuditDataAccessEvent(Event, kw_only=True, rename="camel"):
    """Audit trail: a user read, wrote, deleted or exported data of a dataset."""

    event_type: Literal["AuditDataAccessEvent"] = "AuditDataAccessEvent"
    user_id: Name
    dataset: Name
    access_type: Literal["READ", "WRITE", "DELETE", "EXPORT"]
    result: Outcome
    row_count: NonNegInt | UnsetType = UNSET
    query: str | UnsetType = UNSET
    ip_address: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "audit-data-access"
    CE_TYPE: ClassVar[str] = "com.carbon254.audit.data_access"


class AuditAdminOperationEvent(Event, kw_only=True, rename="camel"):
    """Audit trail: an administrator performed a privileged operation."""

    event_type: Literal["AuditAdminOperationEvent"] = "AuditAdminOperationEvent"
    admin_user: Name
    operation: Name
    target: Name
    result: Outcome
    ip_address: str | UnsetType = UNSET
    details: StrMap = {}

    TOPIC: ClassVar[str] = "audit-admin-operations"
    CE_TYPE: ClassVar[str] = "com.carbon254.audit.admin_operation"


EVENT_TYPES: tuple[type[Event], ...] = (
    DataIngestionEvent,
    DataQualityEvent,
    DataLineageEvent,
    DataTransformationEvent,
    ServiceHealthEvent,
    DeploymentEvent,
    ConfigChangeEvent,
    SecurityEvent,
    AuditUserActionEvent,
    AuditAPICallEvent,
    AuditDataAccessEvent,
    AuditAdminOperationEvent,
)
EVENT_TYPES_BY_NAME: dict[str, type[Event]] = {t.__name__: t for t in EVENT_TYPES}
EVENT_TYPE_BY_TOPIC: dict[str, type[Event]] = {t.TOPIC: t for t in EVENT_TYPES}
