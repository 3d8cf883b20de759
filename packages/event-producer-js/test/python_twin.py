"""The Python library's side of the Node parity tests: one JSON command on stdin, JSON on stdout.

Run with the repository's venv (`.venv/bin/python test/python_twin.py`), which has carbonplane.

Commands (`{"command": ..., ...}`):
- ``seal``: ``cases`` = [{eventType, event}] -> [{key, value, headers}] as ``envelope.seal`` makes
  them (the event is a whole camelCase payload, envelope fields included, so the output is
  deterministic).
- ``call``: ``cases`` = [{method, args}] -> [{ok, eventType, field, problem}]: the public method
  (``produce_<snake>_event``) called with the snake_case keyword arguments, on an in-memory backend.
- ``payload``: ``cases`` = [{topic, event}] -> the same verdicts for ``produce_custom_event``.
- ``floats``: ``values`` -> the JSON text msgspec writes for each float.
- ``partition``: ``keys``, ``partitions`` -> ``partition_for`` of each UTF-8 key; and ``murmur2`` of
  each.
- ``produce``: ``topic``, ``keys`` -> the partition Kafka acknowledged for a DataIngestionEvent with
  each key, produced through ``get_event_producer`` on ``bootstrap`` (the real broker).
- ``read``: ``records`` = [{topic, partition, offset}], ``bootstrap`` -> each record as the Python
  reader sees it (key, value, headers, timestamp) and whether ``decode_event`` accepts its value.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import msgspec

from carbonplane.errors import EventValidationError
from carbonplane.events import codec
from carbonplane.events import types as T
from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.catalog import TOPICS
from carbonplane.events.envelope import seal
from carbonplane.events.partitioner import murmur2, partition_for
from carbonplane.events.producer import EventProducer


def snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def memory_producer() -> EventProducer:
    log = MemoryLog()
    log.apply_topics(TOPICS)
    return EventProducer(source_service="twin", backend=log)


def verdict(call) -> dict[str, Any]:
    try:
        call()
    except EventValidationError as exc:  # a missing method argument too (no TypeError escapes)
        return {
            "ok": False,
            "eventType": exc.event_type,
            "field": exc.field,
            "problem": exc.problem,
        }
    return {"ok": True}


def cmd_seal(req: dict) -> list:
    out = []
    for case in req["cases"]:
        event = msgspec.convert(case["event"], T.EVENT_TYPES_BY_NAME[case["eventType"]])
        key, value, headers = seal(event, "unused")
        out.append(
            {
                "key": key.decode(),
                "value": value.decode(),
                "headers": [[k, v.decode()] for k, v in headers],
            }
        )
    return out


def cmd_call(req: dict) -> list:
    producer = memory_producer()
    out = []
    for case in req["cases"]:
        method = getattr(producer, snake(case["method"]))
        args = {snake(k): v for k, v in case["args"].items()}
        out.append(verdict(lambda: method(**args)))
    return out


def cmd_payload(req: dict) -> list:
    producer = memory_producer()
    return [
        verdict(lambda c=case: producer.produce_custom_event(c["topic"], "k", c["event"]))
        for case in req["cases"]
    ]


def cmd_floats(req: dict) -> list:
    return [msgspec.json.encode(float(v)).decode() for v in req["values"]]


def cmd_partition(req: dict) -> dict:
    keys = [k.encode() for k in req["keys"]]
    return {
        "partitions": [partition_for(k, req["partitions"]) for k in keys],
        "murmur2": [murmur2(k) for k in keys],
    }


def cmd_produce(req: dict) -> list:
    from event_producer import get_event_producer

    producer = get_event_producer("python-twin", bootstrap_servers=req["bootstrap"])
    futures = [
        producer.produce_data_ingestion_event(
            dataset_name=k, record_count=1, size_bytes=1, location="s3://b/k"
        )
        for k in req["keys"]
    ]
    result = producer.close(30)
    if not result.ok:
        raise SystemExit(f"python producer could not deliver: {result}")
    return [f.result(0).partition for f in futures]


def cmd_read(req: dict) -> list:
    from carbonplane.events.backends.kafka import KafkaReader
    from carbonplane.events.config import EventsConfig

    reader = KafkaReader(EventsConfig.from_env({}, bootstrap_servers=req["bootstrap"]))
    out = []
    try:
        for r in req["records"]:
            got = reader.read(r["topic"], r["partition"], r["offset"], max_records=1, timeout=10)
            if not got or got[0].offset != r["offset"]:
                out.append(None)
                continue
            rec = got[0]
            try:
                decoded = type(codec.decode_event(rec.value)).__name__
            except EventValidationError as exc:
                decoded = f"rejected: {exc}"
            out.append(
                {
                    "key": rec.key.decode() if rec.key is not None else None,
                    "value": rec.value.decode(),
                    "headers": [[k, v.decode()] for k, v in rec.headers],
                    "timestamp": rec.timestamp_ms,
                    "decoded": decoded,
                }
            )
    finally:
        reader.close()
    return out


COMMANDS = {
    "seal": cmd_seal,
    "call": cmd_call,
    "payload": cmd_payload,
    "floats": cmd_floats,
    "partition": cmd_partition,
    "produce": cmd_produce,
    "read": cmd_read,
}

if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(COMMANDS[request["command"]](request), sys.stdout)
