"""The original platform's import path, kept: ``from event_producer import get_event_producer``.

A thin facade over ``carbonplane.events``: the same names the original module exported
(``EventProducer``, ``get_event_producer``, ``EventType``, ``Topic``) plus the typed event classes,
so ``producer.produce(DataIngestionEvent(...))`` works from here too. Unlike the original, importing
it has no side effects (no logging configuration, no prints) and it never drops events silently.
``__all__`` is this module's public API, pinned by ``tests/unit/test_event_api.py``; everything here
is also public in ``carbonplane.events``, except the original's two enums.
"""

from __future__ import annotations

from enum import Enum

from carbonplane.events import (
    AuditAdminOperationEvent,
    AuditAPICallEvent,
    AuditDataAccessEvent,
    AuditUserActionEvent,
    ColumnLineage,
    ConfigChangeEvent,
    DataIngestionEvent,
    DataLineageEvent,
    DataQualityEvent,
    DataTransformationEvent,
    Delivery,
    DeliveryFuture,
    DeploymentEvent,
    Event,
    EventProducer,
    FlushResult,
    SecurityEvent,
    ServiceHealthEvent,
    get_event_producer,
)


class EventType(str, Enum):
    """The original's 12 event type names."""

    DATA_INGESTION = "DataIngestionEvent"
    DATA_QUALITY = "DataQualityEvent"
    DATA_LINEAGE = "DataLineageEvent"
    DATA_TRANSFORMATION = "DataTransformationEvent"
    SERVICE_HEALTH = "ServiceHealthEvent"
    DEPLOYMENT = "DeploymentEvent"
    CONFIG_CHANGE = "ConfigChangeEvent"
    SECURITY = "SecurityEvent"
    USER_ACTION = "AuditUserActionEvent"
    API_CALL = "AuditAPICallEvent"
    DATA_ACCESS = "AuditDataAccessEvent"
    ADMIN_OPERATION = "AuditAdminOperationEvent"


class Topic(str, Enum):
    """The original's 12 topics."""

    DATA_INGESTION = "data-ingestion"
    DATA_QUALITY = "data-quality"
    DATA_LINEAGE = "data-lineage"
    DATA_TRANSFORMATION = "data-transformation"
    SYSTEM_HEALTH = "system-health"
    DEPLOYMENT_EVENTS = "deployment-events"
    CONFIG_CHANGES = "config-changes"
    SECURITY_EVENTS = "security-events"
    AUDIT_USER_ACTIONS = "audit-user-actions"
    AUDIT_API_CALLS = "audit-api-calls"
    AUDIT_DATA_ACCESS = "audit-data-access"
    AUDIT_ADMIN_OPS = "audit-admin-operations"


__all__ = [
    "AuditAPICallEvent",
    "AuditAdminOperationEvent",
    "AuditDataAccessEvent",
    "AuditUserActionEvent",
    "ColumnLineage",
    "ConfigChangeEvent",
    "DataIngestionEvent",
    "DataLineageEvent",
    "DataQualityEvent",
    "DataTransformationEvent",
    "Delivery",
    "DeliveryFuture",
    "DeploymentEvent",
    "Event",
    "EventProducer",
    "EventType",
    "FlushResult",
    "SecurityEvent",
    "ServiceHealthEvent",
    "Topic",
    "get_event_producer",
]
