"""What a Kafka delivery error means for carbonplane, and the producer's librdkafka settings.

- ``producer_config``: the producer settings (``EventsConfig.librdkafka``) plus the defaults this
  backend relies on: ``message.timeout.ms`` 30 s (librdkafka's 300 s would hide an outage for five
  minutes), no client-side topic auto-creation, librdkafka's own log routed to Python logging.
- ``is_permanent``: errors the broker will answer the same way however often the record is re-sent
  (unknown topic, record too large, not authorised, invalid record). Everything else (timeouts,
  transport errors, purges, leader elections, too few in-sync replicas) is an outage: the record may
  succeed later, so with a spool it is spooled instead of failed.
- ``describe``: a delivery error as one line saying what failed and how to fix it.
- ``FailureLog``: WARNING lines on ``carbonplane.events.kafka`` for failed or spooled deliveries,
  at most one line per (topic, error) every ``interval`` seconds, with a count of the lines folded
  in.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError

from carbonplane.events.config import EventsConfig

log = logging.getLogger("carbonplane.events.kafka")
librdkafka_log = logging.getLogger("carbonplane.events.kafka.librdkafka")

DEFAULT_MESSAGE_TIMEOUT_MS = 30_000
UNKNOWN_TOPIC_HINT = "the topic does not exist; create it with `carbonplane topics apply`"

_UNKNOWN_TOPIC = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC})
_PERMANENT = _UNKNOWN_TOPIC | {
    KafkaError._UNKNOWN_PARTITION,
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.INVALID_RECORD,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError.INVALID_REQUIRED_ACKS,
    KafkaError.POLICY_VIOLATION,
    KafkaError._INVALID_ARG,
}
_TIMEOUTS = frozenset(
    {KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT}
)


def producer_config(cfg: EventsConfig, client_id: str) -> dict[str, Any]:
    """librdkafka producer settings; ``cfg.overrides`` (already applied by ``librdkafka``) win."""
    conf = cfg.librdkafka(client_id)
    if "delivery.timeout.ms" not in conf:
        conf.setdefault("message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT_MS)
    conf.setdefault("allow.auto.create.topics", False)  # the catalog creates topics: `topics apply`
    conf.setdefault("log.connection.close", False)  # idle disconnects are normal, not errors
    conf.setdefault("logger", librdkafka_log)
    return conf


def message_timeout_ms(conf: dict[str, Any]) -> int:
    return int(
        conf.get("delivery.timeout.ms", conf.get("message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT_MS))
    )


def is_unknown_topic(err: KafkaError) -> bool:
    return err.code() in _UNKNOWN_TOPIC


def is_permanent(err: KafkaError) -> bool:
    """True when re-sending the record cannot succeed without someone changing the cluster or it."""
    return err.code() in _PERMANENT


def describe(err: KafkaError, topic: str, timeout_ms: int | None = None) -> str:
    """``<ERROR_NAME>: <librdkafka text>`` plus what to do about it."""
    text = f"{err.name()}: {err.str()}"
    code = err.code()
    if code in _UNKNOWN_TOPIC:
        return f"{text} ({UNKNOWN_TOPIC_HINT.replace('the topic', f'topic {topic!r}')})"
    if code in _TIMEOUTS and timeout_ms:
        return (
            f"{text} (not acknowledged within message.timeout.ms={timeout_ms}; "
            "is the broker reachable?)"
        )
    if code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
        return (
            f"{text} (the broker is unreachable; check KAFKA_BOOTSTRAP_SERVERS and that Kafka runs)"
        )
    if code in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT):
        return (
            f"{text} (taken back unacknowledged: the broker was unreachable or the producer closed)"
        )
    if code in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE):
        return f"{text} (the record exceeds message.max.bytes; send less per event)"
    return text


class FailureLog:
    """Rate-limited WARNING lines for delivery outcomes that need attention."""

    def __init__(self, logger: logging.Logger = log, interval: float = 5.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[tuple[str, str, str], float] = {}
        self._folded: dict[tuple[str, str, str], int] = {}

    def warn(self, what: str, topic: str, reason: str) -> None:
        """Log ``<what> to <topic>: <reason>`` unless the same line went out less than ``interval``
        ago."""
        key = (what, topic, reason.split(":", 1)[0])
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            self._folded[key] = self._folded.get(key, 0) + 1
            return
        self._last[key] = now
        folded = self._folded.pop(key, 0)
        more = f" (and {folded} more like it since the last report)" if folded else ""
        self.logger.warning("%s to %r: %s%s", what, topic, reason, more)

    def summary(self) -> None:
        """Log the lines folded since their last report (call on close)."""
        for (what, topic, name), n in sorted(self._folded.items()):
            self.logger.warning("%d more: %s to %r (%s)", n, what, topic, name)
        self._folded.clear()
