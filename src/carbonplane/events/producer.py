"""The event producer: the report's call shape over any backend, with typed events and futures.

    from event_producer import get_event_producer

    with get_event_producer("my-service") as producer:
        producer.produce_data_ingestion_event(dataset_name="prices", record_count=10,
        size_bytes=1024,
                                              location="s3://bucket/prices.parquet")

Layers (wire core -> backend -> this API): an event is validated and sealed (``envelope.seal``: JSON
value, record key, CloudEvents headers) before anything is queued, so an invalid event raises
``EventValidationError`` and nothing is sent. The backend (embedded log or Kafka, chosen by
``EventsConfig``) queues it and later reports the delivery exactly once; this class turns that
report into counters (``get_stats``), Prometheus metrics, the caller's callback and the returned
``DeliveryFuture``. Delivery callbacks run on the thread that calls ``poll``/``flush`` (as in
confluent-kafka); every ``produce`` serves pending callbacks with ``poll(0)``.

Invariants: every accepted event is counted exactly once as delivered, failed or spooled;
``flush()`` says how many are still pending and how many failed since the previous flush.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from carbonplane.errors import EventValidationError
from carbonplane.events import codec
from carbonplane.events import types as T
from carbonplane.events.backends.base import Delivery, ProducerBackend
from carbonplane.events.backends.factory import open_producer_backend
from carbonplane.events.config import EventsConfig
from carbonplane.events.delivery import DeliveryFuture, FlushResult, Tally, UserCallback
from carbonplane.events.envelope import (
    ce_headers,
    check_source,
    extension_headers,
    new_event_id,
    seal_record,
)
from carbonplane.events.inputs import check_custom
from carbonplane.events.methods import CatalogMethods
from carbonplane.events.metrics import ProducerMetrics, default_metrics

log = logging.getLogger("carbonplane.events.producer")

# ``produce`` serves pending delivery reports every 16 events, and publishes the counts and
# latencies gathered meanwhile to the metrics every 256 (``flush``/``poll`` always do both): reports
# stay timely while the per-event cost of an empty poll and of a metrics update is shared.
POLL_EVERY_MASK = 15
PUBLISH_EVERY_MASK = 255


class EventProducer(CatalogMethods):
    """Produce catalog events (and custom JSON events) to the configured backend."""

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        schema_registry_url: str | None = None,
        source_service: str = "unknown-service",
        security_protocol: str | None = None,
        ssl_ca_location: str | None = None,
        ssl_certificate_location: str | None = None,
        ssl_key_location: str | None = None,
        ssl_key_password: str | None = None,
        additional_config: Mapping[str, Any] | None = None,
        *,
        config: EventsConfig | None = None,
        backend: ProducerBackend | None = None,
        metrics: ProducerMetrics | None = None,
    ) -> None:
        self.source_service = check_source(source_service)
        self.schema_registry_url = (
            schema_registry_url  # accepted for compatibility; JSON is the wire format
        )
        if config is None:
            ssl = {
                k: v
                for k, v in {
                    "ssl.ca.location": ssl_ca_location,
                    "ssl.certificate.location": ssl_certificate_location,
                    "ssl.key.location": ssl_key_location,
                    "ssl.key.password": ssl_key_password,
                }.items()
                if v
            }
            config = EventsConfig.from_env(
                bootstrap_servers=bootstrap_servers,
                backend="kafka" if bootstrap_servers else None,
                security_protocol=security_protocol,
                ssl=ssl,
                overrides=dict(additional_config or {}),
            )
        self.config = config
        self.bootstrap_servers = config.bootstrap_servers
        self._backend = (
            backend
            if backend is not None
            else open_producer_backend(config, f"{source_service}-producer")
        )
        self._metrics = metrics if metrics is not None else default_metrics()
        self._tally = Tally()
        self._last_error_log = 0.0
        self._suppressed = 0
        self._closed = False
        self._report_failure = self._backend.accept_reports(self._successes_reported)
        log.info("EventProducer for %s on the %s backend", source_service, config.backend)

    # -- the typed API ---------------------------------------------------------------------------

    def produce(
        self,
        event: T.Event,
        *,
        on_delivery: UserCallback | None = None,
        extensions: Mapping[str, str] | None = None,
        topic: str | None = None,
    ) -> DeliveryFuture:
        """Validate and queue one catalog event; returns its future. Raises EventValidationError.
        ``extensions``: CloudEvents extension attributes (``{"traceparent": ...}``), each sent as a
        ``ce_<name>`` header after the standard ones (``envelope.extension_headers``). ``topic``:
        another topic than the type's catalog topic (a per-environment copy, a test's own); None:
        the catalog topic; anything but a Kafka topic name is refused, as the Node twin refuses it
        (the ``topics`` cases of tests/shared/event_inputs.json)."""
        given, topic = topic, topic if _is_topic_name(topic) else event.TOPIC
        try:
            if given is not None and topic is not given:
                raise EventValidationError(
                    type(event).__name__,
                    "topic",
                    "must be a Kafka topic name, 1-249 letters, digits, '.', '_' or '-' "
                    f"(or absent for the catalog topic), got {given!r}",
                )
            key, value, headers, ts = seal_record(event, self.source_service)
            if extensions is not None:
                headers += extension_headers(type(event).__name__, extensions)
        except EventValidationError as exc:
            self._reject(topic, type(event).__name__, exc)
            raise
        return self._send(topic, type(event).__name__, key, value, headers, ts, on_delivery)

    def produce_custom_event(
        self,
        topic: str,
        key: str | None,
        event: Mapping[str, Any],
        *,
        on_delivery: UserCallback | None = None,
    ) -> DeliveryFuture:
        """Send ``event`` as given (JSON). A payload whose ``eventType`` is a catalog type is
        validated as that type first; anything else goes out as a custom CloudEvent."""
        etype = event.get("eventType") if isinstance(event, Mapping) else None
        cls = T.EVENT_TYPES_BY_NAME.get(etype) if isinstance(etype, str) else None
        if cls is not None:
            try:
                try:
                    typed = msgspec.convert(dict(event), cls)
                except msgspec.ValidationError as exc:
                    raise codec.payload_error(cls.__name__, event, exc) from None
                _, value, headers, ts = seal_record(typed, self.source_service)
            except EventValidationError as err:
                self._reject(topic, cls.__name__, err)
                raise
            return self._send(topic, cls.__name__, _key_bytes(key), value, headers, ts, on_delivery)
        try:
            value, event_id, source, ts = check_custom(event)
        except EventValidationError as err:
            self._reject(topic, "custom", err)
            raise
        if ts is None:
            ts = time.time_ns() // 1_000_000
        headers = ce_headers(
            event_id or new_event_id(),
            source or self.source_service,
            f"com.carbon254.custom.{topic}",
            ts,
        )
        return self._send(
            topic, str(etype or "custom"), _key_bytes(key), value, headers, ts, on_delivery
        )

    produce_event = produce  # alias for readers of the typed API

    # -- one method per catalog type (the report's call shape) -------------------------------------

    # ``produce_data_ingestion_event(...)`` and the eleven others are generated from the catalog in
    # ``events/methods.py`` (``CatalogMethods``): each builds its event and hands it to ``_emit``.

    # -- lifecycle ---------------------------------------------------------------------------------

    def poll(self, timeout: float = 0.0) -> int:
        """Serve pending delivery callbacks (on this thread); returns how many ran."""
        self._publish_produced()
        n = self._backend.poll(timeout)
        self._publish_produced()
        self._metrics.set_pending(len(self._backend))
        return n

    def flush(self, timeout: float = 10.0) -> FlushResult:
        """Wait up to ``timeout`` s for every queued event; report pending and failures since last
        flush."""
        self._publish_produced()
        remaining = self._backend.flush(timeout)
        self._publish_produced()
        delivered, failed, spooled, errors = self._tally.take_since_flush()
        self._metrics.set_pending(remaining)
        if remaining:
            log.warning(
                "%d events were not delivered within %.1f s (still queued)", remaining, timeout
            )
        if failed:
            log.error(
                "%d events failed delivery since the last flush: %s", failed, "; ".join(errors[:3])
            )
        return FlushResult(remaining, delivered, failed, spooled, errors)

    def close(self, timeout: float = 10.0) -> FlushResult:
        """Flush, then release the backend. Events still pending are reported, never dropped
        silently."""
        if self._closed:
            return FlushResult(0)
        result = self.flush(timeout)
        self._backend.close(0)
        self._closed = True
        stats = self.get_stats()
        log.info("EventProducer for %s closed: %s", self.source_service, stats)
        return result

    def get_stats(self) -> dict[str, int]:
        """``delivered`` and ``errors`` as in the original, plus
        produced/pending/spooled/rejected."""
        t = self._tally
        with t.lock:
            return {
                "delivered": t.delivered,
                "errors": t.errors,
                "produced": t.produced,
                "pending": len(self._backend) if not self._closed else 0,
                "spooled": t.spooled,
                "rejected": t.rejected,
            }

    def __enter__(self) -> "EventProducer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------------

    def _emit(self, event: T.Event, extra: dict[str, Any]) -> DeliveryFuture:
        """``produce`` for the produce_* methods: ``extra`` holds envelope fields and
        ``on_delivery``; a field left ``None`` takes its default (the slow path, only when the event
        does not
        validate)."""
        on_delivery = extra.pop("on_delivery", None) if extra else None
        try:
            if extra:
                event = _replaced(event, {k: v for k, v in extra.items() if v is not None})
            try:
                sealed = seal_record(event, self.source_service)
            except EventValidationError:
                if None not in msgspec.structs.astuple(event):
                    raise
                sealed = None
            if (
                sealed is None
            ):  # outside the handler, so that a missing field is reported as missing
                event = _replaced(event, None)
                sealed = seal_record(event, self.source_service)
            key, value, headers, ts = sealed
        except EventValidationError as exc:
            self._reject(event.TOPIC, type(event).__name__, exc)
            raise
        return self._send(event.TOPIC, type(event).__name__, key, value, headers, ts, on_delivery)

    def _send(
        self,
        topic: str,
        etype: str,
        key: bytes | None,
        value: bytes,
        headers: list,
        ts: int,
        on_delivery: UserCallback | None,
    ) -> DeliveryFuture:
        tally = self._tally
        flow = tally.flow(topic, etype)
        future = DeliveryFuture(self, flow, on_delivery, headers[1][1])
        self._backend.produce(topic, value, key, headers, future, ts)
        with tally.lock:
            produced = tally.produced = tally.produced + 1
            flow.produced += 1
        if not produced & POLL_EVERY_MASK:  # serve delivery reports in small batches
            self._backend.poll(0)
            if not produced & PUBLISH_EVERY_MASK:
                self._publish_produced()
        return future

    def _publish_produced(self) -> None:
        """Hand the counts gathered since the last call to the metrics (produced, then
        delivered)."""
        for flow, produced, latencies in self._tally.take_unpublished():
            if produced:
                self._metrics.produced(flow.topic, flow.event_type, produced)
            if latencies:
                self._metrics.delivered_many(flow.topic, flow.event_type, latencies)

    def _successes_reported(self) -> int:
        return self._tally.reported_ok

    def _account_failure(self, future: DeliveryFuture, d: Delivery) -> None:
        """A failed or spooled event (successes are counted by the future itself)."""
        self._tally.failure(d)
        if d.spooled:
            self._metrics.spooled(future.topic)
        else:
            self._metrics.failed(future.topic, future.event_type, "delivery")
            self._log_failure(d)

    def _log_failure(self, d: Delivery) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= 1.0:
            more = f" (+{self._suppressed} more in the last second)" if self._suppressed else ""
            log.error("event delivery to %s failed: %s%s", d.topic, d.error, more)
            self._last_error_log, self._suppressed = now, 0
        else:
            self._suppressed += 1

    def _reject(self, topic: str, etype: str, exc: EventValidationError) -> None:
        with self._tally.lock:
            self._tally.rejected += 1
        self._metrics.failed(topic, etype, "validation")
        log.debug("rejected invalid %s: %s", etype, exc)


_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}\Z")  # Kafka's rule (local_topics checks it too)


def _is_topic_name(topic: object) -> bool:
    return isinstance(topic, str) and bool(_TOPIC_NAME.match(topic)) and topic not in (".", "..")


def _replaced(event: T.Event, changes: dict[str, Any] | None) -> T.Event:
    """``event`` with ``changes``, or (``None``) with every field that is ``None`` back at its
    default; an unknown or missing field raises EventValidationError naming it."""
    try:
        if changes is not None:
            return msgspec.structs.replace(event, **changes)
        return type(event)(
            **{
                name: value
                for name in event.__struct_fields__
                if (value := getattr(event, name)) is not None
            }
        )
    except TypeError as exc:
        raise codec.validation_error(type(event).__name__, exc) from None


def _key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    return str(key).encode()


def get_event_producer(service_name: str, **options: Any) -> EventProducer:
    """The report's entry point: an EventProducer for ``service_name``, configured from the
    environment."""
    return EventProducer(source_service=service_name, **options)


__all__ = ["DeliveryFuture", "EventProducer", "FlushResult", "get_event_producer"]
