"""The event library's public API: what users may import from ``carbonplane.events``.

    from carbonplane.events import DataIngestionEvent, get_event_producer

    with get_event_producer("my-service") as producer:
        producer.produce(DataIngestionEvent(dataset_name="prices", record_count=10, size_bytes=1024,
                                            location="s3://bucket/prices.parquet"))

``__all__`` lists every public name; ``tests/unit/test_event_api.py`` pins it, so adding or removing
one is a deliberate change of that test (and of docs/events.md). Everything else in the package's
modules is internal and may change. ``event_producer`` (the original platform's import path) is a
facade over these names.

Names are loaded on first use (PEP 562 ``__getattr__``): importing one submodule, as the gateway and
the CLI do (``carbonplane.events.catalog``), does not import the producer, its backends and
Prometheus. The ``TYPE_CHECKING`` imports below say the same to static checkers; the test checks
that they and ``_HOME`` agree.

Invariant: each public name is the very object its home module defines (no copies, no wrappers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbonplane.errors import DeliveryError, EventValidationError
    from carbonplane.events.backends.base import Delivery
    from carbonplane.events.backends.local import LocalLog
    from carbonplane.events.backends.memory import MemoryLog
    from carbonplane.events.catalog import TOPICS, TopicSpec, topic_spec
    from carbonplane.events.codec import decode_event
    from carbonplane.events.config import EventsConfig
    from carbonplane.events.delivery import DeliveryFuture, FlushResult
    from carbonplane.events.metrics import serve_metrics
    from carbonplane.events.producer import EventProducer, get_event_producer
    from carbonplane.events.types import (
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
        DeploymentEvent,
        Event,
        SecurityEvent,
        ServiceHealthEvent,
    )

_HOME: dict[str, str] = {
    name: module
    for module, names in {  # public name -> the module defining it
        "carbonplane.errors": "DeliveryError EventValidationError",
        "carbonplane.events.backends.base": "Delivery",
        "carbonplane.events.backends.local": "LocalLog",
        "carbonplane.events.backends.memory": "MemoryLog",
        "carbonplane.events.catalog": "TOPICS TopicSpec topic_spec",
        "carbonplane.events.config": "EventsConfig",
        "carbonplane.events.delivery": "DeliveryFuture FlushResult",
        "carbonplane.events.metrics": "serve_metrics",
        "carbonplane.events.producer": "EventProducer get_event_producer",
        "carbonplane.events.codec": "decode_event",
        "carbonplane.events.types": (
            "AuditAdminOperationEvent AuditAPICallEvent AuditDataAccessEvent AuditUserActionEvent "
            "ColumnLineage ConfigChangeEvent DataIngestionEvent DataLineageEvent DataQualityEvent "
            "DataTransformationEvent DeploymentEvent Event SecurityEvent ServiceHealthEvent"
        ),
    }.items()
    for name in names.split()
}

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
    "DeliveryError",
    "DeliveryFuture",
    "DeploymentEvent",
    "Event",
    "EventProducer",
    "EventValidationError",
    "EventsConfig",
    "FlushResult",
    "LocalLog",
    "MemoryLog",
    "SecurityEvent",
    "ServiceHealthEvent",
    "TOPICS",
    "TopicSpec",
    "decode_event",
    "get_event_producer",
    "serve_metrics",
    "topic_spec",
]


if not TYPE_CHECKING:  # a module __getattr__ would make static checkers accept any name

    def __getattr__(name: str) -> Any:
        home = _HOME.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
