"""The topic catalog: the 12 topics of the 254Carbon platform and their settings.

Settings are the original platform's (names, partitions, retention, cleanup policy), with the
corrections of docs/events.md: lz4 everywhere, replication ``min(3, brokers)`` and
``min.insync.replicas`` ``min(2, rf)``, and no reliance on broker auto-creation.

Invariants: topic names are unique; each topic carries exactly one event type and a key field
(the camelCase field whose value becomes the record key).
"""

from __future__ import annotations

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


def _t(name: str, category: str, partitions: int, days: int, cleanup: str, etype: str, key: str) -> TopicSpec:
    return TopicSpec(name, category, partitions, days * DAY_MS, cleanup, etype, key)


TOPICS: tuple[TopicSpec, ...] = (
    _t("data-ingestion", "data", 12, 7, "delete", "DataIngestionEvent", "datasetName"),
    _t("data-quality", "data", 6, 30, "delete", "DataQualityEvent", "datasetName"),
    _t("data-lineage", "data", 3, 90, "compact", "DataLineageEvent", "sourceDataset->targetDataset"),
    _t("data-transformation", "data", 6, 7, "delete", "DataTransformationEvent", "jobName"),
    _t("system-health", "system", 3, 7, "compact", "ServiceHealthEvent", "serviceName"),
    _t("deployment-events", "system", 3, 90, "delete", "DeploymentEvent", "deploymentName"),
    _t("config-changes", "system", 3, 365, "compact", "ConfigChangeEvent", "resource"),
    _t("security-events", "system", 6, 365, "delete", "SecurityEvent", "category"),
    _t("audit-user-actions", "audit", 12, 365, "delete", "AuditUserActionEvent", "userId"),
    _t("audit-api-calls", "audit", 12, 30, "delete", "AuditAPICallEvent", "service"),
    _t("audit-data-access", "audit", 12, 90, "delete", "AuditDataAccessEvent", "dataset"),
    _t("audit-admin-operations", "audit", 3, 365, "delete", "AuditAdminOperationEvent", "adminUser"),
)

TOPICS_BY_NAME: dict[str, TopicSpec] = {t.name: t for t in TOPICS}
TOPIC_BY_EVENT_TYPE: dict[str, TopicSpec] = {t.event_type: t for t in TOPICS}


def topic_spec(name: str) -> TopicSpec:
    try:
        return TOPICS_BY_NAME[name]
    except KeyError:
        raise UnknownTopicError(name, "catalog topics are: " + ", ".join(TOPICS_BY_NAME)) from None
