"""Decoding what is not a valid event: garbage, truncated and unknown payloads, forward-compatible
fields, and values JSON would write as something else."""

from __future__ import annotations

import decimal
import json
import uuid

import pytest
from event_samples import full_event, produce_path

from carbonplane.errors import CarbonplaneError, EventValidationError
from carbonplane.events import codec
from carbonplane.events import types as T

# -- decoding garbage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,field",
    [
        (b"{nope", None),
        (b"", None),
        (b"[1, 2]", None),
        (b'"DataIngestionEvent"', None),
        (b"{}", "eventType"),
        (b'{"eventType": 7}', "eventType"),
    ],
    ids=["malformed", "empty", "array", "string", "no-type", "numeric-type"],
)
def test_undecodable_payloads_are_validation_errors(data, field):
    with pytest.raises(EventValidationError) as info:
        codec.decode_event(data)
    assert (info.value.event_type, info.value.field) == ("<unknown>", field)


def test_unknown_event_type_is_named():
    with pytest.raises(EventValidationError) as info:
        codec.decode_event(b'{"eventType": "PaymentEvent"}')
    assert (info.value.event_type, info.value.field) == ("PaymentEvent", "eventType")
    with pytest.raises(EventValidationError) as info:
        codec.encode_event(T.Event())
    assert info.value.event_type == "Event" and "12 catalog event types" in info.value.problem


def test_truncated_payload_of_a_known_type():
    data = codec.encode_event(full_event(T.DeploymentEvent))[:-10]
    with pytest.raises(EventValidationError) as info:
        codec.decode_event(data, "DeploymentEvent")
    assert (info.value.event_type, info.value.field) == ("DeploymentEvent", None)
    assert "not valid JSON" in info.value.problem


def test_validation_errors_belong_to_the_tree():
    with pytest.raises(EventValidationError) as info:
        produce_path(T.ServiceHealthEvent, health_status="OK")
    assert isinstance(info.value, CarbonplaneError) and isinstance(info.value, ValueError)
    assert str(info.value) == "invalid ServiceHealthEvent.healthStatus: Invalid enum value 'OK'"


def test_decoder_ignores_unknown_fields_for_forward_compatibility():
    wire = json.loads(codec.encode_event(full_event(T.SecurityEvent)))
    wire["addedInV2"] = {"anything": [1, 2]}
    assert codec.decode_event(json.dumps(wire).encode()) == full_event(T.SecurityEvent)


@pytest.mark.parametrize(
    "value",
    [
        b"s3://x",
        bytearray(b"s3://x"),
        memoryview(b"s3://x"),
        uuid.UUID(int=7),
        decimal.Decimal("1.5"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_objects_that_json_would_write_as_text_are_not_strings(value):
    """msgspec's JSON writes bytes as base64 text and a UUID or a Decimal as text: none may pass for
    a str."""
    for changes in ({"location": value}, {"metadata": {"region": value}}, {"event_id": value}):
        field = "eventId" if "event_id" in changes else next(iter(changes))
        with pytest.raises(EventValidationError) as info:
            produce_path(T.DataIngestionEvent, **changes)
        assert info.value.field == field, info.value


def test_an_int_for_a_float_field_is_written_as_a_float():
    assert b'"latencyMs":25.0,"errorRate":0.0' in produce_path(
        T.ServiceHealthEvent, latency_ms=25, error_rate=0
    )
    assert b'"score":1.0' in produce_path(T.DataQualityEvent, score=1)
