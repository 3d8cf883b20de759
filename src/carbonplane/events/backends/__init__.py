"""Event backends: where produced records go and where tools read them back.

``local``  the embedded durable log (SQLite, WAL) under ``$CARBONPLANE_HOME``: the default.
``kafka``  Apache Kafka through confluent-kafka, when ``KAFKA_BOOTSTRAP_SERVERS`` is set.

Both implement the interfaces in ``base``; ``open_backend`` picks one from ``EventsConfig``.
"""

from carbonplane.events.backends.base import (
    Delivery,
    LogAdmin,
    LogReader,
    ProducerBackend,
    Record,
    TopicChange,
    TopicState,
)

__all__ = [
    "Delivery",
    "LogAdmin",
    "LogReader",
    "ProducerBackend",
    "Record",
    "TopicChange",
    "TopicState",
]
