"""Open the configured backend: ``local`` (embedded log) or ``kafka``. Imports are lazy so that a
local-only user never loads librdkafka, and a Kafka user never opens the local database."""

from __future__ import annotations

from carbonplane.events.backends.base import LogAdmin, LogReader, ProducerBackend
from carbonplane.events.config import EventsConfig


def open_producer_backend(cfg: EventsConfig, client_id: str) -> ProducerBackend:
    if cfg.backend == "kafka":
        from carbonplane.events.backends.kafka import KafkaProducerBackend

        return KafkaProducerBackend(cfg, client_id)
    from carbonplane.events.backends.local import LocalLog

    return LocalLog.from_config(cfg)


def open_admin(cfg: EventsConfig) -> LogAdmin:
    if cfg.backend == "kafka":
        from carbonplane.events.backends.kafka import KafkaAdmin

        return KafkaAdmin(cfg)
    from carbonplane.events.backends.local import LocalLog

    return LocalLog.from_config(cfg)


def open_reader(cfg: EventsConfig) -> LogReader:
    if cfg.backend == "kafka":
        from carbonplane.events.backends.kafka import KafkaReader

        return KafkaReader(cfg)
    from carbonplane.events.backends.local import LocalLog

    return LocalLog.from_config(cfg)
