"""The topic catalog: the 12 topics of the 254Carbon platform and their settings.

Settings are the original platform's (names, partitions, retention, cleanup policy), with the
corrections of docs/events.md: lz4 everywhere, replication ``min(3, brokers)`` and
``min.insync.replicas`` ``min(2, rf)``, and no reliance on broker auto-creation.

Each row also names the topic's ``produce_*_event`` method (derived from the event type, as the
Node twin derives ``produce*Event``) and lists that method's parameters in the original library's
order: the one table ``events/methods.py`` generates the twelve methods from.

Invariants: topic names are unique; each topic carries exactly one event type and a key field
(the camelCase field whose value becomes the record key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from carbonplane.errors import UnknownTopicError

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    category: str  # data | system | audit
    partitions: int
    retention_ms: int
    cleanup_policy: str  # delete | compact
    event_type: str
    key_field: str  # camelCase field, or "sourceDataset->targetDataset"
    compression: str = "lz4"
    # the produce_*_event method's parameters in the report's order (snake_case; see
    # events/methods.py)
    parameters: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        """The producer's method for this topic: ``AuditAPICallEvent`` ->
        ``produce_api_call_event``."""
        short = self.event_type.removeprefix("Audit").removesuffix("Event")
        return f"produce_{_snake(short)}_event"

    def replication_factor(self, brokers: int) -> int:
        return max(1, min(3, brokers))

    def min_insync_replicas(self, brokers: int) -> int:
        return max(1, min(2, self.replication_factor(brokers)))

    def kafka_config(self, brokers: int) -> dict[str, str]:
        """Topic-level configs as Kafka names them (what ``topics apply`` sets)."""
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            "compression.type": self.compression,
            "min.insync.replicas": str(self.min_insync_replicas(brokers)),
        }


def _snake(camel: str) -> str:
    return re.sub(
        r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", camel)
    ).lower()


def _t(
    name: str,
    category: str,
    partitions: int,
    days: int,
    cleanup: str,
    etype: str,
    key: str,
    parameters: str,
) -> TopicSpec:
    return TopicSpec(
        name,
        category,
        partitions,
        days * DAY_MS,
        cleanup,
        etype,
        key,
        parameters=tuple(parameters.split()),
    )


TOPICS: tuple[TopicSpec, ...] = (
    _t(
        "data-ingestion",
        "data",
        12,
        7,
        "delete",
        "DataIngestionEvent",
        "datasetName",
        "dataset_name record_count size_bytes location status format metadata",
    ),
    _t(
        "data-quality",
        "data",
        6,
        30,
        "delete",
        "DataQualityEvent",
        "datasetName",
        "dataset_name check_type check_name result score failed_records total_records message",
    ),
    _t(
        "data-lineage",
        "data",
        3,
        90,
        "compact",
        "DataLineageEvent",
        "sourceDataset->targetDataset",
        "source_dataset target_dataset transformation_type transformation_name query columns",
    ),
    _t(
        "data-transformation",
        "data",
        6,
        7,
        "delete",
        "DataTransformationEvent",
        "jobName",
        "job_name input_datasets output_datasets records_in records_out duration_ms status engine "
        "error_message",
    ),
    _t(
        "system-health",
        "system",
        3,
        7,
        "compact",
        "ServiceHealthEvent",
        "serviceName",
        "service_name namespace health_status latency_ms error_rate message",
    ),
    _t(
        "deployment-events",
        "system",
        3,
        90,
        "delete",
        "DeploymentEvent",
        "deploymentName",
        "deployment_name namespace action deployed_version deployed_by replicas previous_version",
    ),
    _t(
        "config-changes",
        "system",
        3,
        365,
        "compact",
        "ConfigChangeEvent",
        "resource",
        "resource change_type changed_by config_version diff reason",
    ),
    _t(
        "security-events",
        "system",
        6,
        365,
        "delete",
        "SecurityEvent",
        "category",
        "category severity resource principal source_ip details",
    ),
    _t(
        "audit-user-actions",
        "audit",
        12,
        365,
        "delete",
        "AuditUserActionEvent",
        "userId",
        "user_id username action resource resource_type result ip_address user_agent details",
    ),
    _t(
        "audit-api-calls",
        "audit",
        12,
        30,
        "delete",
        "AuditAPICallEvent",
        "service",
        "service endpoint method status_code latency_ms request_size response_size user_id "
        "ip_address error_message api_key_id",
    ),
    _t(
        "audit-data-access",
        "audit",
        12,
        90,
        "delete",
        "AuditDataAccessEvent",
        "dataset",
        "user_id dataset access_type result row_count query ip_address",
    ),
    _t(
        "audit-admin-operations",
        "audit",
        3,
        365,
        "delete",
        "AuditAdminOperationEvent",
        "adminUser",
        "admin_user operation target result ip_address details",
    ),
)

TOPICS_BY_NAME: dict[str, TopicSpec] = {t.name: t for t in TOPICS}
TOPIC_BY_EVENT_TYPE: dict[str, TopicSpec] = {t.event_type: t for t in TOPICS}


def topic_spec(name: str) -> TopicSpec:
    try:
        return TOPICS_BY_NAME[name]
    except KeyError:
        raise UnknownTopicError(name, "catalog topics are: " + ", ".join(TOPICS_BY_NAME)) from None
