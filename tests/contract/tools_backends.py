"""The backend of the read-side tools' contract tests: the embedded log, real Kafka, or memory.

``open_tool_log(kind, request, home)`` gives a ``ToolLog``: the admin, reader and producer backend
of one configuration, ``new_topic`` (a throwaway topic with a unique name, deleted again on Kafka),
``produce`` (seals catalog events with the CloudEvents envelope and waits for every
acknowledgement) and ``cli`` (runs the ``carbonplane`` command against the same backend). The
``log`` fixture (tests/contract/conftest.py) opens one per kind for each test that asks for it.

The local kind lives under the test's own ``CARBONPLANE_HOME``; the Kafka kind needs the broker on
127.0.0.1:9092 and fails (``make kafka-up``) when it does not answer; ``memory`` (``MemoryLog``)
is held to the same contract as the two real backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from typer.testing import CliRunner, Result

from carbonplane.cli.main import app
from carbonplane.cli.output import Backends
from carbonplane.events.backends.base import Delivery, Headers, LogAdmin, LogReader, ProducerBackend
from carbonplane.events.backends.factory import open_admin, open_producer_backend, open_reader
from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.catalog import DAY_MS, TOPICS, TopicSpec
from carbonplane.events.config import EventsConfig
from carbonplane.events.envelope import seal
from carbonplane.events.samples import sample_event
from carbonplane.events.types import Event

SOURCE = "tools-contract"


@dataclass
class ToolLog:
    kind: str
    cfg: EventsConfig
    admin: LogAdmin
    reader: LogReader
    producer: ProducerBackend
    env: dict[str, str]
    created: list[str] = field(default_factory=list)

    def cli(self, *args: str) -> Result:
        """Run ``carbonplane <args>`` in-process against this backend (its env, or the shared
        memory log)."""
        if self.kind == "memory":
            return CliRunner().invoke(app, list(args), obj=Backends.shared(self.reader))
        return CliRunner().invoke(app, list(args), env=self.env)

    def new_topic(self, partitions: int = 3, label: str = "t") -> str:
        name = f"tools-{label}-{uuid.uuid4().hex[:12]}"
        spec = TopicSpec(
            name, "data", partitions, 7 * DAY_MS, "delete", "DataIngestionEvent", "datasetName"
        )
        self.admin.apply_topics([spec])
        self.created.append(name)
        return name

    def produce_raw(
        self, topic: str, records: list[tuple[bytes | None, bytes | None, Headers, int]]
    ) -> list[Delivery]:
        """Produce ``(key, value, headers, timestamp_ms)`` records in order; every one must be
        acknowledged."""
        return self._send([(topic, *record) for record in records])

    def produce(
        self, events: list[Event], *, topic: str | None = None, source: str = SOURCE
    ) -> list[Delivery]:
        """Seal and produce catalog events (to their own topic unless ``topic``); record time =
        event time."""
        sends = []
        for event in events:
            key, value, headers = seal(event, source)
            sends.append((topic or event.TOPIC, key, value, headers, event.timestamp))
        return self._send(sends)

    def _send(
        self, sends: list[tuple[str, bytes | None, bytes | None, Headers, int]]
    ) -> list[Delivery]:
        slots: list[Delivery | None] = [None] * len(sends)
        for i, (topic, key, value, headers, ts) in enumerate(sends):
            self.producer.produce(
                topic, value, key, headers, lambda d, i=i: slots.__setitem__(i, d), ts
            )  # type: ignore[arg-type]
        left = self.producer.flush(30)
        self.producer.poll(0)
        missing = sum(1 for d in slots if d is None)
        assert left == 0 and not missing, f"{missing} of {len(sends)} records unacknowledged"
        failed = [d.error for d in slots if d is not None and not d.ok]
        assert not failed, f"deliveries failed: {failed[:3]}"
        return slots  # type: ignore[return-value]


KINDS = ["memory", "local", "kafka"]


@contextmanager
def open_tool_log(kind: str, request, home) -> Iterator[ToolLog]:  # noqa: ANN001
    env = {"CARBONPLANE_HOME": str(home)}
    if kind == "kafka":
        env["KAFKA_BOOTSTRAP_SERVERS"] = request.getfixturevalue("kafka_bootstrap")
    cfg = EventsConfig.from_env(env=env)
    if kind == "memory":
        admin = reader = producer = MemoryLog()
    else:
        admin, reader, producer = (
            open_admin(cfg),
            open_reader(cfg),
            open_producer_backend(cfg, "tools-contract"),
        )
    admin.apply_topics(TOPICS)
    log = ToolLog(kind, cfg, admin, reader, producer, env)
    try:
        yield log
    finally:
        producer.close(10)
        reader.close()
        if hasattr(admin, "close"):
            admin.close()
        if kind == "kafka" and log.created:
            _delete_kafka_topics(env["KAFKA_BOOTSTRAP_SERVERS"], log.created)


def _delete_kafka_topics(bootstrap: str, names: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    client = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until every future is done
    for future in client.delete_topics(names, operation_timeout=30).values():
        future.result(30)


def ingestion_at(i: int, ts: int) -> Event:
    """Sample DataIngestionEvent ``i`` stamped ``ts`` (epoch ms)."""
    event = sample_event("DataIngestionEvent", i)
    event.timestamp = ts
    return event
