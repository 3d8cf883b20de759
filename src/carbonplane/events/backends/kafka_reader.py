"""Reading Kafka back (``LogReader``): partitions, watermarks, offset-for-time, batches, group
offsets.

One assign-only consumer serves every read (no group membership, ``enable.auto.commit`` off): a
read that continues where the previous one stopped keeps librdkafka's prefetched data; any other
offset re-assigns. ``read`` returns as soon as it has ``max_records`` or has caught up with the
partition's high watermark, and waits up to ``timeout`` only while nothing has arrived.

Consumer-group offsets use one consumer per group (``group.id`` = the group, never subscribed),
which commits synchronously: the broker accepts commits from a member-less ("simple") consumer.

Records come back as ``base.Record``: key/value bytes (None when absent), headers as
``list[tuple[str, bytes]]`` (a null header value becomes ``b""``), timestamp in epoch ms.
"""

from __future__ import annotations

import os
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from carbonplane.errors import BackendUnavailableError, UnknownTopicError
from carbonplane.events.backends.base import LogReader, Record
from carbonplane.events.backends.kafka_errors import (
    UNKNOWN_TOPIC_HINT,
    is_unknown_topic,
    librdkafka_log,
    log,
)
from carbonplane.events.config import EventsConfig


class KafkaReader(LogReader):
    """Read topics and manage consumer-group offsets on the cluster at ``cfg.bootstrap_servers``."""

    def __init__(self, cfg: EventsConfig, *, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self._common = {
            **cfg.librdkafka_common(),
            "logger": librdkafka_log,
            "error_cb": lambda err: log.debug("kafka reader: %s", err),
        }
        self._consumer: Consumer | None = None
        self._position: tuple[str, int, int] | None = None  # where the last read stopped
        self._groups: dict[str, Consumer] = {}

    def partitions(self, topic: str) -> list[int]:
        try:
            meta = self._reader().list_topics(topic, timeout=self.timeout).topics.get(topic)
        except KafkaException as exc:
            raise self._unreachable(exc) from None
        if (
            meta is None
            or not meta.partitions
            or (meta.error is not None and is_unknown_topic(meta.error))
        ):
            raise UnknownTopicError(topic, UNKNOWN_TOPIC_HINT)
        return sorted(meta.partitions)

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        try:
            marks = self._reader().get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self.timeout, cached=False
            )
        except KafkaException as exc:
            raise self._failed(topic, exc.args[0]) from None
        if marks is None:
            raise BackendUnavailableError(
                f"no watermarks for {topic}[{partition}] within {self.timeout:g} s"
            )
        return marks

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        try:
            [tp] = self._reader().offsets_for_times(
                [TopicPartition(topic, partition, timestamp_ms)], timeout=self.timeout
            )
        except KafkaException as exc:
            raise self._failed(topic, exc.args[0]) from None
        if tp.error is not None:
            raise self._failed(topic, tp.error)
        return tp.offset if tp.offset >= 0 else self.watermarks(topic, partition)[1]

    def read(
        self, topic: str, partition: int, offset: int, max_records: int = 500, timeout: float = 1.0
    ) -> list[Record]:
        consumer = self._reader()
        if self._position != (topic, partition, offset):
            consumer.assign([TopicPartition(topic, partition, offset)])
        records: list[Record] = []
        next_offset = offset
        deadline = time.monotonic() + timeout
        while len(records) < max_records:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # librdkafka's consume waits for the whole count: wait for the first record only, then
            # take what is prefetched in short slices until caught up with the high watermark.
            want, wait = (1, left) if not records else (max_records - len(records), min(left, 0.02))
            for msg in consumer.consume(num_messages=want, timeout=wait):
                if msg.error() is not None:
                    self._position = None
                    raise self._failed(topic, msg.error())
                records.append(_record(msg))
                next_offset = msg.offset() + 1
            if records and self._caught_up(consumer, topic, partition, next_offset):
                break
        self._position = (topic, partition, next_offset)
        return records

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        try:
            result = self._group(group).commit(
                offsets=[TopicPartition(topic, partition, offset)], asynchronous=False
            )
        except KafkaException as exc:
            raise self._failed(
                topic, exc.args[0], f"committing offset {offset} for group {group!r}"
            ) from None
        for tp in result or []:
            if tp.error is not None:
                raise self._failed(
                    topic, tp.error, f"committing offset {offset} for group {group!r}"
                )

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        try:
            [tp] = self._group(group).committed(
                [TopicPartition(topic, partition)], timeout=self.timeout
            )
        except KafkaException as exc:
            raise self._failed(topic, exc.args[0], f"reading group {group!r}'s offset") from None
        if tp.error is not None:
            raise self._failed(topic, tp.error, f"reading group {group!r}'s offset")
        return tp.offset if tp.offset >= 0 else None

    def close(self) -> None:
        for consumer in [self._consumer, *self._groups.values()]:
            if consumer is not None:
                consumer.close()
        self._consumer, self._groups, self._position = None, {}, None

    # -- internals -------------------------------------------------------------------------------

    def _reader(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                {
                    **self._common,
                    # group.id is required, never joined
                    "group.id": f"carbonplane-reader-{os.getpid()}-{id(self):x}",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    # an offset below the low watermark reads from it
                    "auto.offset.reset": "earliest",
                    # a fetch the broker parks for up to 500 ms (the default) also delays every
                    # offset lookup queued behind it; tools scan many partitions, so answer quickly
                    # instead
                    "fetch.wait.max.ms": 10,
                }
            )
        return self._consumer

    def _group(self, group: str) -> Consumer:
        if group not in self._groups:
            self._groups[group] = Consumer(
                {**self._common, "group.id": group, "enable.auto.commit": False}
            )
        return self._groups[group]

    def _caught_up(self, consumer: Consumer, topic: str, partition: int, next_offset: int) -> bool:
        tp = TopicPartition(topic, partition)
        _, high = consumer.get_watermark_offsets(tp, cached=True) or (-1, -1)
        if high < 0:
            high = self.watermarks(topic, partition)[1]
        return next_offset >= high

    def _unreachable(self, exc: KafkaException) -> BackendUnavailableError:
        err = exc.args[0] if exc.args else exc
        return BackendUnavailableError(
            f"Kafka at {self.cfg.bootstrap_servers} did not answer within {self.timeout:g} s "
            f"({err.str() if isinstance(err, KafkaError) else err}); start it (`make kafka-up`) or "
            "fix "
            "KAFKA_BOOTSTRAP_SERVERS"
        )

    def _failed(self, topic: str, err: KafkaError, doing: str = "reading") -> Exception:
        if is_unknown_topic(err):
            return UnknownTopicError(topic, UNKNOWN_TOPIC_HINT)
        return BackendUnavailableError(
            f"{doing} {topic!r} on Kafka failed: {err.name()}: {err.str()}"
        )


def _record(msg: Message) -> Record:
    return Record(
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        timestamp_ms=msg.timestamp()[1],
        key=msg.key(),
        value=msg.value(),
        headers=[(k, v if v is not None else b"") for k, v in (msg.headers() or [])],
    )
