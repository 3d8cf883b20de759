"""``carbonplane demo``: a short, honest tour of the event system on whatever backend is configured.

It produces one event of each of the 12 catalog types through the report's API, waits for every
acknowledgement, reads each record back from the log at the partition/offset the backend reported,
shows one invalid event being refused with nothing written, and prints the producer's stats.
Everything printed is read back or measured; nothing is written by hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec

from carbonplane.errors import EventValidationError
from carbonplane.events import codec
from carbonplane.events import types as T
from carbonplane.events.backends.factory import open_admin, open_reader
from carbonplane.events.catalog import TOPICS
from carbonplane.events.config import EventsConfig
from carbonplane.events.producer import EventProducer
from carbonplane.events.samples import sample_events


@dataclass
class DemoRow:
    event_type: str
    topic: str
    partition: int
    offset: int
    key: str
    ce_type: str
    round_trip_equal: bool


@dataclass
class DemoReport:
    backend: str
    where: str
    rows: list[DemoRow]
    rejected: str
    stats: dict[str, int]
    seconds: float


def run_demo(cfg: EventsConfig | None = None) -> DemoReport:
    cfg = cfg or EventsConfig.from_env()
    started = time.perf_counter()
    open_admin(cfg).apply_topics(TOPICS)
    events = sample_events(int(time.time()))
    with EventProducer(source_service="carbonplane-demo", config=cfg) as producer:
        futures = [producer.produce(e) for e in events]
        producer.flush(30)
        deliveries = [f.result(30) for f in futures]
        try:
            producer.produce_data_quality_event(
                "prices", "completeness", "nulls", "PASS", 0.9, 11, 10
            )
            rejected = "(accepted?)"
        except EventValidationError as exc:
            rejected = str(exc)
        stats = producer.get_stats()
    reader = open_reader(cfg)
    rows = []
    try:
        for event, d in zip(events, deliveries):
            rec = reader.read(d.topic, d.partition, d.offset, max_records=1, timeout=10)[0]
            rows.append(
                DemoRow(
                    type(event).__name__,
                    d.topic,
                    d.partition,
                    d.offset,
                    (rec.key or b"").decode(),
                    dict(rec.headers).get("ce_type", b"").decode(),
                    _same_event(rec.value, event),
                )
            )
    finally:
        reader.close()
    where = cfg.bootstrap_servers if cfg.backend == "kafka" else str(cfg.log_path)
    return DemoReport(
        cfg.backend, where or "", rows, rejected, stats, time.perf_counter() - started
    )


def _same_event(value: bytes, sent: T.Event) -> bool:
    """Whether ``value`` decodes to ``sent``, with the envelope fields the producer filled in (it
    fills them on its own copy: ``sent`` keeps an empty eventId, a zero timestamp, an empty source).
    """
    back = codec.decode_event(value)
    generated = {
        f: getattr(back, f) for f in ("event_id", "timestamp", "source") if not getattr(sent, f)
    }
    return back == msgspec.structs.replace(sent, **generated)
