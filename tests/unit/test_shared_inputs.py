"""The shared table of event inputs (tests/shared/event_inputs.json), on the Python side.

The Node library reads the same table (packages/event-producer-js/test/shared-inputs.test.js), so
both refuse the same bad inputs naming the same field, and encode the same good inputs to the same
bytes. Every bad input must raise EventValidationError (ConfigError for a producer's source) and
leave nothing sent; every good one is produced on the in-memory log and read back. The table's
``extensions`` cases do the same for CloudEvents extension attributes given to ``produce``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from carbonplane.errors import ConfigError, EventValidationError
from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.catalog import TOPIC_BY_EVENT_TYPE, TOPICS
from carbonplane.events.producer import EventProducer, get_event_producer

TABLE = json.loads(
    (Path(__file__).resolve().parents[1] / "shared" / "event_inputs.json").read_text()
)
FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def special(value: Any) -> Any:
    """The table's JSON with its special values ($float, $bytes, $nowPlusMs) made Python values."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, arg),) = value.items()
            if tag == "$float":
                return FLOATS[arg]
            if tag == "$bytes":
                return arg.encode()
            if tag == "$nowPlusMs":
                return time.time_ns() // 1_000_000 + arg
        return {k: special(v) for k, v in value.items()}
    if isinstance(value, list):
        return [special(v) for v in value]
    return value


def snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def arguments(case: dict[str, Any]) -> dict[str, Any]:
    args = {**TABLE["base"].get(case["method"], {}), **case.get("args", {}), **case.get("with", {})}
    for name in case.get("without", []):
        del args[name]
    return {snake(k): special(v) for k, v in args.items()}


@pytest.fixture
def log() -> MemoryLog:
    log = MemoryLog()
    log.apply_topics(TOPICS)
    return log


@pytest.fixture
def producer(log: MemoryLog) -> EventProducer:
    return EventProducer(source_service="shared-table", backend=log)


def test_the_table_names_every_method_once():
    assert sorted(TABLE["methods"].values()) == sorted(TOPIC_BY_EVENT_TYPE)
    assert len(TABLE["bad"]) >= 60 and len(TABLE["good"]) >= 20


@pytest.mark.parametrize("case", TABLE["bad"], ids=lambda c: c["label"])
def test_bad_method_input_is_refused_naming_type_and_field(producer, case):
    method = getattr(producer, snake(case["method"]))
    with pytest.raises(EventValidationError) as info:
        method(**arguments(case))
    err = info.value
    assert (err.event_type, err.field) == (TABLE["methods"][case["method"]], case["field"]), err
    assert case.get("problem", "") in err.problem
    stats = producer.get_stats()
    assert (stats["produced"], stats["rejected"]) == (0, 1)


@pytest.mark.parametrize("case", TABLE["badCustom"], ids=lambda c: c["label"])
def test_bad_custom_payload_is_refused_naming_the_field(producer, case):
    with pytest.raises(EventValidationError) as info:
        producer.produce_custom_event(case["topic"], "k", special(case["event"]))
    err = info.value
    assert (err.event_type, err.field) == (case.get("eventType", "custom"), case["field"]), err
    assert case.get("problem", "") in err.problem
    assert (producer.get_stats()["produced"], producer.get_stats()["rejected"]) == (0, 1)


@pytest.mark.parametrize("case", TABLE["badSources"], ids=lambda c: c["label"])
def test_a_source_that_cannot_be_a_cloudevents_source_is_refused(log, case):
    with pytest.raises(ConfigError, match="CloudEvents source") as info:
        get_event_producer(case["source"], backend=log)
    assert info.value.where == "source_service"


def _read_back(log: MemoryLog, future) -> Any:
    d = future.result(5)
    return log.read(d.topic, d.partition, d.offset, max_records=1, timeout=5)[0]


@pytest.mark.parametrize("case", TABLE["good"], ids=lambda c: c["label"])
def test_good_method_input_encodes_to_the_table_bytes(producer, log, case):
    future = getattr(producer, snake(case["method"]))(**arguments(case))
    assert producer.flush(5).ok
    record = _read_back(log, future)
    if case.get("acceptOnly"):
        return
    expect = case["expect"]
    assert record.value.decode() == expect["value"]
    assert record.key.decode() == expect["key"]
    assert [[k, v.decode()] for k, v in record.headers] == expect["headers"]


@pytest.mark.parametrize("case", TABLE["goodCustom"], ids=lambda c: c["label"])
def test_good_custom_payload_encodes_to_the_table_bytes(producer, log, case):
    future = producer.produce_custom_event(case["topic"], case["key"], special(case["event"]))
    assert producer.flush(5).ok
    record = _read_back(log, future)
    expect = case["expect"]
    assert record.value.decode() == expect["value"]
    assert [[k, v.decode()] for k, v in record.headers] == expect["headers"]


EXTENSIONS = TABLE["extensions"]


def _extended_event() -> Any:
    """The event of the extension cases: their method's base arguments (all field names)."""
    from carbonplane.events import types as T

    cls = T.EVENT_TYPES_BY_NAME[TABLE["methods"][EXTENSIONS["method"]]]
    return cls(**{snake(k): v for k, v in TABLE["base"][EXTENSIONS["method"]].items()})


@pytest.mark.parametrize("case", EXTENSIONS["bad"], ids=lambda c: c["label"])
def test_bad_extensions_are_refused_naming_the_extension(producer, case):
    with pytest.raises(EventValidationError) as info:
        producer.produce(_extended_event(), extensions=special(case["extensions"]))
    err = info.value
    assert (err.event_type, err.field) == (TABLE["methods"][EXTENSIONS["method"]], case["field"]), (
        err
    )
    assert case.get("problem", "") in err.problem
    assert (producer.get_stats()["produced"], producer.get_stats()["rejected"]) == (0, 1)


@pytest.mark.parametrize("case", EXTENSIONS["good"], ids=lambda c: c["label"])
def test_good_extensions_follow_the_standard_headers_as_written(producer, log, case):
    future = producer.produce(_extended_event(), extensions=special(case["extensions"]))
    assert producer.flush(5).ok
    headers = _read_back(log, future).headers
    assert [k for k, _ in headers[:6]] == [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "content-type",
    ]
    assert [[k, v.decode()] for k, v in headers[6:]] == case["expect"]


@pytest.mark.parametrize("case", TABLE["topics"]["bad"], ids=lambda c: c["label"])
def test_a_topic_option_that_is_no_topic_name_is_refused(producer, case):
    with pytest.raises(EventValidationError) as info:
        producer.produce(_extended_event(), topic=special(case["topic"]))
    err = info.value
    assert (err.event_type, err.field) == (TABLE["methods"][EXTENSIONS["method"]], "topic"), err
    assert (producer.get_stats()["produced"], producer.get_stats()["rejected"]) == (0, 1)


@pytest.mark.parametrize("case", TABLE["topics"]["good"], ids=lambda c: c["label"])
def test_a_good_topic_option_is_where_the_event_goes(producer, log, case):
    future = producer.produce(_extended_event(), topic=case["topic"])
    assert producer.flush(5).ok
    assert future.result(5).topic == case["expect"]


def test_one_event_object_produced_twice_gets_two_ids_unless_the_caller_set_one(producer, log):
    from carbonplane.events import types as T

    event = T.ServiceHealthEvent(
        service_name="svc", namespace="ns", health_status="HEALTHY", latency_ms=1.0, error_rate=0.0
    )
    first, second = producer.produce(event), producer.produce(event)
    assert producer.flush(5).ok
    ids = [json.loads(_read_back(log, f).value)["eventId"] for f in (first, second)]
    assert ids[0] != ids[1] and event.event_id == "" and event.timestamp == 0
    assert [first.event_id, second.event_id] == ids  # the future says which id was sent
    event.event_id = "caller-chosen"
    again = [producer.produce(event), producer.produce(event)]
    assert producer.flush(5).ok
    assert [json.loads(_read_back(log, f).value)["eventId"] for f in again] == ["caller-chosen"] * 2
    by_argument = [
        producer.produce_service_health_event("svc", "ns", "HEALTHY", 1.0, 0.0, event_id="e-1")
        for _ in range(2)
    ]
    assert producer.flush(5).ok
    assert [dict(_read_back(log, f).headers)["ce_id"] for f in by_argument] == [b"e-1", b"e-1"]
