"""The 12 event types: wire layout and every validation rule, on the produce and the decode path.

Every rejection must be an ``EventValidationError`` whose ``event_type`` and ``field`` name the
culprit, whether the event was built from keyword arguments (what ``produce_*_event`` does) or
decoded from JSON (what a consumer does).
"""

from __future__ import annotations

import copy
import json
import math
import typing
from typing import Any

import msgspec
import pytest
from event_samples import FULL, MINIMAL, full_event, minimal_event, produce_path
from msgspec import inspect as mi

from carbonplane.errors import EventValidationError
from carbonplane.events import codec
from carbonplane.events import types as T

TYPES = pytest.mark.parametrize("cls", T.EVENT_TYPES, ids=lambda c: c.__name__)
ENVELOPE = [
    "eventId",
    "eventType",
    "timestamp",
    "source",
    "version",
    "correlationId",
    "causationId",
]

# The documented field order after the envelope (docs/events.md, "Event types").
LAYOUT: dict[type[T.Event], list[str]] = {
    T.DataIngestionEvent: [
        "datasetName",
        "recordCount",
        "sizeBytes",
        "format",
        "location",
        "status",
        "metadata",
    ],
    T.DataQualityEvent: [
        "datasetName",
        "checkType",
        "checkName",
        "result",
        "score",
        "failedRecords",
        "totalRecords",
        "message",
    ],
    T.DataLineageEvent: [
        "sourceDataset",
        "targetDataset",
        "transformationType",
        "transformationName",
        "query",
        "columns",
    ],
    T.DataTransformationEvent: [
        "jobName",
        "inputDatasets",
        "outputDatasets",
        "recordsIn",
        "recordsOut",
        "durationMs",
        "status",
        "engine",
        "errorMessage",
    ],
    T.ServiceHealthEvent: [
        "serviceName",
        "namespace",
        "healthStatus",
        "latencyMs",
        "errorRate",
        "message",
    ],
    T.DeploymentEvent: [
        "deploymentName",
        "namespace",
        "action",
        "deployedVersion",
        "previousVersion",
        "replicas",
        "deployedBy",
    ],
    T.ConfigChangeEvent: ["resource", "changeType", "changedBy", "configVersion", "diff", "reason"],
    T.SecurityEvent: ["category", "severity", "resource", "principal", "sourceIp", "details"],
    T.AuditUserActionEvent: [
        "userId",
        "username",
        "action",
        "resource",
        "resourceType",
        "result",
        "ipAddress",
        "userAgent",
        "details",
    ],
    T.AuditAPICallEvent: [
        "service",
        "endpoint",
        "method",
        "statusCode",
        "latencyMs",
        "requestSizeBytes",
        "responseSizeBytes",
        "userId",
        "apiKeyId",
        "ipAddress",
        "errorMessage",
    ],
    T.AuditDataAccessEvent: [
        "userId",
        "dataset",
        "accessType",
        "result",
        "rowCount",
        "query",
        "ipAddress",
    ],
    T.AuditAdminOperationEvent: [
        "adminUser",
        "operation",
        "target",
        "result",
        "ipAddress",
        "details",
    ],
}
COUNTS = {
    "recordCount",
    "sizeBytes",
    "failedRecords",
    "totalRecords",
    "recordsIn",
    "recordsOut",
    "durationMs",
    "replicas",
    "requestSizeBytes",
    "responseSizeBytes",
    "rowCount",
}


def _camel(cls: type, attr: str) -> str:
    return dict(zip(cls.__struct_fields__, cls.__struct_encode_fields__))[attr]


def _fields(cls: type) -> list[tuple[str, str, mi.Type]]:
    """(attribute, wire name, msgspec type without metadata) of each field."""
    info = mi.type_info(cls)
    out = []
    for f in info.fields:
        t = f.type.type if isinstance(f.type, mi.Metadata) else f.type
        out.append((f.name, f.encode_name, t))
    return out


def _enums(cls: type) -> list[tuple[str, tuple[str, ...]]]:
    """(attribute, values in declaration order) of each closed-set field with more
    than one value."""
    out = []
    for attr, _, t in _fields(cls):
        if isinstance(t, mi.LiteralType) and len(t.values) > 1:
            hint = typing.get_type_hints(cls)[attr]
            out.append((attr, typing.get_args(hint)))
    return out


def _decode_path(cls: type[T.Event], wire: str, bad: Any) -> T.Event:
    """What a consumer does: JSON bytes -> typed event."""
    payload = json.loads(codec.encode_event(full_event(cls)))
    payload[wire] = bad
    return codec.decode_event(json.dumps(payload).encode())


def rejected(
    cls: type[T.Event], attr: str, bad: Any, *, decode: bool = True
) -> EventValidationError:
    """Assert ``attr=bad`` is rejected on both paths, naming ``cls`` and the field; return the
    error."""
    wire = _camel(cls, attr)
    with pytest.raises(EventValidationError) as info:
        produce_path(cls, **{attr: bad})
    err = info.value
    assert (err.event_type, err.field) == (cls.__name__, wire), (
        f"{cls.__name__}.{attr}={bad!r}: {err}"
    )
    assert str(err).startswith(f"invalid {cls.__name__}.{wire}: ")
    if decode:
        with pytest.raises(EventValidationError) as info:
            _decode_path(cls, wire, bad)
        assert (info.value.event_type, info.value.field) == (cls.__name__, wire), (
            f"decode {wire}={bad!r}"
        )
    return err


def accepted(cls: type[T.Event], attr: str, good: Any) -> None:
    data = produce_path(cls, **{attr: good})
    assert getattr(codec.decode_event(data), attr) == good


# -- the wire layout -------------------------------------------------------------------------------


@TYPES
def test_full_event_encodes_envelope_first_then_documented_fields(cls):
    data = codec.encode_event(full_event(cls))
    assert data.startswith(b'{"eventId":"0b5e7d4c-')
    assert list(json.loads(data)) == ENVELOPE + LAYOUT[cls]


@TYPES
def test_minimal_event_omits_absent_optional_fields_and_writes_defaults(cls):
    payload = json.loads(codec.encode_event(minimal_event(cls)))
    assert None not in payload.values()
    assert list(payload)[:5] == ENVELOPE[:5] and payload["eventType"] == cls.__name__
    assert payload["version"] == T.SCHEMA_VERSION
    optional = set(ENVELOPE + LAYOUT[cls]) - set(payload)
    assert "correlationId" in optional and set(MINIMAL[cls]) <= set(cls.__struct_fields__)
    assert not optional & {_camel(cls, a) for a in MINIMAL[cls]}


@TYPES
def test_round_trip_is_lossless_with_and_without_named_type(cls):
    for event in (full_event(cls), minimal_event(cls)):
        data = codec.encode_event(event)
        assert codec.decode_event(data) == event == codec.decode_event(data, cls.__name__)
        assert codec.encode_event(codec.decode_event(data)) == data


def test_every_type_has_its_topic_and_cloudevents_type():
    assert len(T.EVENT_TYPES) == 12 == len({t.TOPIC for t in T.EVENT_TYPES})
    assert all(t.CE_TYPE.startswith("com.carbon254.") for t in T.EVENT_TYPES)
    assert set(T.EVENT_TYPE_BY_TOPIC.values()) == set(T.EVENT_TYPES) and set(LAYOUT) == set(
        T.EVENT_TYPES
    )


# -- closed sets -----------------------------------------------------------------------------------


def test_the_thirteen_enums_are_found():
    found = [(cls.__name__, attr) for cls in T.EVENT_TYPES for attr, _ in _enums(cls)]
    assert len(found) == 13 and ("SecurityEvent", "severity") in found


@TYPES
def test_every_enum_accepts_its_values_and_rejects_outsiders(cls):
    for attr, values in _enums(cls):
        for value in values:
            accepted(cls, attr, value)
        for bad in (values[0].lower(), f"{values[0]}_X", "", " " + values[0], 1):
            rejected(cls, attr, bad)


@TYPES
def test_event_type_is_fixed(cls):
    with pytest.raises(EventValidationError) as info:
        produce_path(cls, event_type="SomethingElse")
    assert (info.value.event_type, info.value.field) == (cls.__name__, "eventType")
    other = next(t for t in T.EVENT_TYPES if t is not cls)
    with pytest.raises(EventValidationError) as info:
        codec.decode_event(codec.encode_event(full_event(cls)), other.__name__)
    assert (info.value.event_type, info.value.field) == (other.__name__, "eventType")


# -- numbers ---------------------------------------------------------------------------------------


def _count_fields() -> list[tuple[type[T.Event], str]]:
    return [
        (cls, attr)
        for cls in T.EVENT_TYPES
        for attr, _, t in _fields(cls)
        if isinstance(t, mi.IntType) and t.ge == 0 and t.le == T.MAX_LONG
    ]


def test_count_fields_are_the_documented_ones():
    assert {_camel(cls, attr) for cls, attr in _count_fields()} == COUNTS
    assert len(_count_fields()) == 11


@TYPES
def test_timestamp_is_epoch_ms_that_rfc3339_can_write(cls):
    for bad in (-1, T.MAX_TIMESTAMP_MS + 1, 1.5e12, True, "1795795200123"):
        rejected(cls, "timestamp", bad)
    accepted(
        cls, "timestamp", T.MAX_TIMESTAMP_MS
    )  # 9999-12-31T23:59:59.999Z (the producer refuses it as future)


@pytest.mark.parametrize("cls,attr", _count_fields(), ids=lambda x: getattr(x, "__name__", x))
def test_counts_are_non_negative_64_bit_integers(cls, attr):
    rejected(cls, attr, -1)
    rejected(cls, attr, 2**63)
    rejected(cls, attr, 1.5)
    rejected(cls, attr, True)
    rejected(cls, attr, "10")
    rejected(cls, attr, 2**70, decode=False)
    if attr != "failed_records":  # bounded by totalRecords, tested below
        accepted(cls, attr, 0)
        accepted(cls, attr, T.MAX_LONG)


@pytest.mark.parametrize(
    "cls", [T.ServiceHealthEvent, T.AuditAPICallEvent], ids=lambda c: c.__name__
)
def test_latency_is_a_non_negative_finite_number(cls):
    for bad in (-0.001, -1, "12.5", True):
        rejected(cls, "latency_ms", bad)
    for bad in (math.nan, math.inf):
        err = rejected(cls, "latency_ms", bad, decode=False)
        assert "finite" in err.problem
    accepted(cls, "latency_ms", 0.0)
    accepted(cls, "latency_ms", 12)


@pytest.mark.parametrize(
    "cls,attr",
    [(T.DataQualityEvent, "score"), (T.ServiceHealthEvent, "error_rate")],
    ids=["score", "errorRate"],
)
def test_ratios_stay_within_zero_and_one(cls, attr):
    for bad in (-0.01, 1.0001, 2, -math.inf, "0.5", False):
        rejected(cls, attr, bad, decode=not (isinstance(bad, float) and math.isinf(bad)))
    rejected(cls, attr, math.nan, decode=False)
    for good in (0.0, 0.5, 1.0, 1):
        accepted(cls, attr, good)


def test_status_code_is_an_http_status():
    for bad in (99, 600, 0, -200, 200.0, "200"):
        rejected(T.AuditAPICallEvent, "status_code", bad)
    for good in (100, 204, 404, 599):
        accepted(T.AuditAPICallEvent, "status_code", good)


def test_failed_records_cannot_exceed_total_records():
    base = copy.deepcopy(FULL[T.DataQualityEvent])
    bad = {**base, "failed_records": 31, "total_records": 30}
    with pytest.raises(EventValidationError) as info:  # direct construction
        T.DataQualityEvent(**bad)
    assert (info.value.event_type, info.value.field) == ("DataQualityEvent", "failedRecords")
    assert "31" in info.value.problem and "30" in info.value.problem
    with pytest.raises(EventValidationError) as info:  # produce_*_event's path
        codec.build_event(T.DataQualityEvent, **bad)
    assert info.value.field == "failedRecords"
    wire = json.loads(codec.encode_event(full_event(T.DataQualityEvent)))
    wire.update(failedRecords=31, totalRecords=30)
    with pytest.raises(EventValidationError) as info:  # a consumer decoding it
        codec.decode_event(json.dumps(wire).encode())
    assert (info.value.event_type, info.value.field) == ("DataQualityEvent", "failedRecords")
    with pytest.raises(
        msgspec.ValidationError, match="exceeds totalRecords"
    ):  # produce_custom_event's path
        msgspec.convert(wire, T.DataQualityEvent)
    accepted(T.DataQualityEvent, "failed_records", 10_000)  # equal to the sample's total


def test_mistyped_counts_are_named_not_crashed_on():
    for attr in ("failed_records", "total_records"):
        rejected(T.DataQualityEvent, attr, "30")
        with pytest.raises(EventValidationError) as info:
            codec.encode_event(
                T.DataQualityEvent(**{**copy.deepcopy(FULL[T.DataQualityEvent]), attr: None})
            )
        assert info.value.field == _camel(T.DataQualityEvent, attr)


# -- presence and types ----------------------------------------------------------------------------


@TYPES
def test_missing_required_field_names_the_field(cls):
    for attr in MINIMAL[cls]:
        kwargs = {k: v for k, v in copy.deepcopy(MINIMAL[cls]).items() if k != attr}
        with pytest.raises(EventValidationError) as info:
            codec.build_event(cls, **kwargs)
        assert (info.value.event_type, info.value.field) == (cls.__name__, _camel(cls, attr))
        with pytest.raises(EventValidationError) as info:  # None means absent
            codec.build_event(cls, **{**kwargs, attr: None})
        assert info.value.field == _camel(cls, attr)
        wire = json.loads(codec.encode_event(minimal_event(cls)))
        del wire[_camel(cls, attr)]
        with pytest.raises(EventValidationError) as info:
            codec.decode_event(json.dumps(wire).encode())
        assert (info.value.event_type, info.value.field) == (cls.__name__, _camel(cls, attr))


def _wrong_values(t: mi.Type) -> list[Any]:
    if isinstance(t, mi.StrType):
        return [12345, ["a"], None]
    if isinstance(t, mi.IntType):
        return ["1", 1.25, False, None]
    if isinstance(t, mi.FloatType):
        return ["1.5", True, None, [1.0]]
    if isinstance(t, mi.LiteralType):
        return [0, None, [t.values[0]]]
    if isinstance(t, mi.DictType):
        return [["k", "v"], {"k": 1}, {"k": None}, "k=v"]
    if isinstance(t, mi.ListType):
        if isinstance(t.item_type, mi.StructType):
            return [{"sourceColumn": "a"}, [{"sourceColumn": 1, "targetColumn": "b"}], ["a"]]
        return ["raw.prices", [1], [None], {"a": "b"}]
    raise AssertionError(f"no wrong values for {t!r}")


@TYPES
def test_every_field_rejects_values_of_the_wrong_type(cls):
    checked = 0
    for attr, wire, t in _fields(cls):
        for bad in _wrong_values(t):
            if bad is None and attr in MINIMAL[cls]:
                continue  # None means absent on the produce path: covered by the missing-field test
            if bad is None and attr not in MINIMAL[cls]:
                with pytest.raises(EventValidationError) as info:  # direct construction keeps None
                    codec.encode_event(msgspec.structs.replace(full_event(cls), **{attr: None}))
                assert info.value.field == wire
                continue
            with pytest.raises(EventValidationError) as info:
                produce_path(cls, **{attr: bad})
            assert info.value.event_type == cls.__name__
            assert (
                info.value.field is not None
                and info.value.field.split("[")[0].split(".")[0] == wire
            ), f"{attr}={bad!r} -> {info.value}"
            checked += 1
    assert checked >= 2 * len(LAYOUT[cls])


@TYPES
def test_required_names_are_not_empty(cls):
    names = [attr for attr, _, t in _fields(cls) if isinstance(t, mi.StrType) and t.min_length == 1]
    assert names, cls.__name__
    for attr in names:
        rejected(cls, attr, "")
        accepted(cls, attr, "x")


def test_unknown_keyword_is_named():
    with pytest.raises(EventValidationError) as info:
        codec.build_event(T.SecurityEvent, **FULL[T.SecurityEvent], colour="red")
    assert (info.value.event_type, info.value.field) == ("SecurityEvent", "colour")


def test_nested_column_lineage_errors_carry_the_path():
    col = T.ColumnLineage(source_column="", target_column="b")
    with pytest.raises(EventValidationError) as info:
        produce_path(
            T.DataLineageEvent, columns=[T.ColumnLineage(source_column="a", target_column="b"), col]
        )
    assert info.value.field == "columns[1].sourceColumn"
    wire = json.loads(codec.encode_event(full_event(T.DataLineageEvent)))
    del wire["columns"][0]["targetColumn"]
    with pytest.raises(EventValidationError) as info:
        codec.decode_event(json.dumps(wire).encode())
    assert (info.value.event_type, info.value.field) == (
        "DataLineageEvent",
        "columns[0].targetColumn",
    )


def test_map_values_must_be_strings():
    err = rejected(T.DataIngestionEvent, "metadata", {"region": "eu", "rows": 10})
    assert err.problem == "the value of key 'rows': Expected `str`, got `int`"
    with pytest.raises(EventValidationError) as info:
        _decode_path(T.SecurityEvent, "details", {"limit": None})
    assert (info.value.field, info.value.problem) == (
        "details",
        "a value of the map: Expected `str`, got `null`",
    )


def test_values_that_are_not_json_name_their_field():
    with pytest.raises(EventValidationError) as info:
        produce_path(T.AuditAdminOperationEvent, details={"when": object()})
    assert (info.value.event_type, info.value.field) == ("AuditAdminOperationEvent", "details")
    with pytest.raises(EventValidationError) as info:
        produce_path(T.DeploymentEvent, replicas=complex(1, 2))
    assert (info.value.field, info.value.problem.startswith("cannot be encoded as JSON")) == (
        "replicas",
        True,
    )


def test_envelope_fields_are_validated_too():
    rejected(T.ConfigChangeEvent, "timestamp", -5)
    rejected(T.ConfigChangeEvent, "correlation_id", 42)
    rejected(T.ConfigChangeEvent, "source", ["svc"])
