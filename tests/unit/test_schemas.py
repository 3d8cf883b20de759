"""The generated schemas: current, loadable, and true to the event types they come from."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import fastavro
import msgspec
import pytest
from event_samples import FULL, MINIMAL, full_event, minimal_event
from jsonschema import Draft202012Validator

from carbonplane.events import codec
from carbonplane.events import schemas as S
from carbonplane.events import types as T
from carbonplane.events.catalog import TOPICS
from carbonplane.events.envelope import seal
from carbonplane.events.field_docs import field_doc

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
TYPES = pytest.mark.parametrize("cls", T.EVENT_TYPES, ids=lambda c: c.__name__)


def _json_schema(cls: type[T.Event]) -> dict[str, Any]:
    return json.loads((SCHEMAS / "json" / f"{cls.__name__}.schema.json").read_text())


def _avro(cls: type[T.Event]) -> dict[str, Any]:
    return json.loads((SCHEMAS / "avro" / f"{cls.__name__}.avsc").read_text())


def _wire(event: T.Event) -> dict[str, Any]:
    """The record value exactly as the producer sends it."""
    _, value, _ = seal(event, "unit-tests")
    return json.loads(value)


# -- the committed files are current ---------------------------------------------------------------


def test_committed_schemas_are_current():
    stale = S.stale_schemas(SCHEMAS)
    assert not stale, (
        f"schemas/ is out of date with events/types.py: {stale}. "
        "Run `make schemas` (python -m carbonplane.events.schemas schemas) and commit the result."
    )


def test_staleness_is_detected_and_repaired(tmp_path):
    assert S.stale_schemas(tmp_path) == sorted(S.render_schemas())  # empty folder: all missing
    S.write_schemas(tmp_path)
    assert S.stale_schemas(tmp_path) == []
    edited = tmp_path / "avro" / "DeploymentEvent.avsc"
    edited.write_text(edited.read_text().replace('"replicas"', '"replicaCount"'))
    (tmp_path / "json" / "DataQualityEvent.schema.json").unlink()
    (tmp_path / "json" / "RetiredEvent.schema.json").write_text("{}")
    assert S.stale_schemas(tmp_path) == [
        "avro/DeploymentEvent.avsc",
        "json/DataQualityEvent.schema.json",
        "json/RetiredEvent.schema.json",
    ]
    changed = S.write_schemas(tmp_path)
    assert len(changed) == 3 and not (tmp_path / "json" / "RetiredEvent.schema.json").exists()
    assert S.stale_schemas(tmp_path) == [] and S.write_schemas(tmp_path) == []


def test_check_command_exit_codes(tmp_path, capsys):
    assert S.main(["--check", str(tmp_path)]) == 1
    assert "make schemas" in capsys.readouterr().err
    assert S.main([str(tmp_path)]) == 0
    assert S.main(["--check", str(tmp_path)]) == 0


def test_rendering_is_deterministic():
    assert S.render_schemas() == S.render_schemas()


def test_every_field_is_described():
    for cls in (*T.EVENT_TYPES, T.ColumnLineage):
        for name in cls.__struct_encode_fields__:
            assert len(field_doc(cls.__name__, name)) > 10, (
                f"{cls.__name__}.{name} has no description"
            )


# -- Avro ------------------------------------------------------------------------------------------


@TYPES
def test_avro_parses_in_fastavro_with_namespace_and_wire_order(cls):
    schema = _avro(cls)
    parsed = fastavro.parse_schema(schema)
    category = next(t.category for t in TOPICS if t.event_type == cls.__name__)
    assert parsed["name"] == f"com.carbon254.events.{category}.{cls.__name__}"
    assert [f["name"] for f in schema["fields"]] == list(_wire(full_event(cls)))


def test_all_avro_schemas_load_together_without_name_clashes():
    named: dict[str, Any] = {}
    for cls in T.EVENT_TYPES:
        fastavro.parse_schema(_avro(cls), named_schemas=named)
    enums = [n for n, s in named.items() if isinstance(s, dict) and s.get("type") == "enum"]
    assert len(enums) == 13 and "com.carbon254.events.system.ServiceHealthStatus" in enums


def test_avro_types_follow_the_mapping():
    fields = {f["name"]: f for f in _avro(T.AuditAPICallEvent)["fields"]}
    assert fields["timestamp"]["type"] == "long" and fields["requestSizeBytes"]["type"] == "long"
    assert fields["statusCode"]["type"] == "int" and fields["latencyMs"]["type"] == "double"
    assert fields["userId"] == {**fields["userId"], "type": ["null", "string"], "default": None}
    fields = {f["name"]: f for f in _avro(T.DataIngestionEvent)["fields"]}
    assert fields["status"]["type"]["symbols"] == ["SUCCESS", "FAILURE", "PARTIAL"]
    assert fields["status"]["default"] == "SUCCESS"
    assert (
        fields["metadata"]["type"] == {"type": "map", "values": "string"}
        and fields["metadata"]["default"] == {}
    )
    columns = {f["name"]: f for f in _avro(T.DataLineageEvent)["fields"]}["columns"]
    assert columns["type"]["items"]["name"] == "ColumnLineage" and columns["default"] == []


def _to_avro(value: Any, schema: Any) -> Any:
    """Avro-friendly form of a JSON value: every absent optional field becomes None."""
    if isinstance(schema, list):  # ["null", T]
        return None if value is None else _to_avro(value, schema[1])
    if isinstance(schema, dict) and schema["type"] == "record":
        return {f["name"]: _to_avro(value.get(f["name"]), f["type"]) for f in schema["fields"]}
    if isinstance(schema, dict) and schema["type"] == "array":
        return [_to_avro(v, schema["items"]) for v in value]
    return value


def _from_avro(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _from_avro(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_from_avro(v) for v in value]
    return value


@TYPES
@pytest.mark.parametrize("build", [full_event, minimal_event], ids=["full", "minimal"])
def test_events_round_trip_through_avro_binary(cls, build):
    event = build(cls)
    payload = _wire(event)
    schema = fastavro.parse_schema(_avro(cls))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, _to_avro(payload, _avro(cls)))
    buf.seek(0)
    back = _from_avro(fastavro.schemaless_reader(buf, schema, schema))
    assert back == payload
    # the wire value is the event with its envelope filled (sealing leaves ``event`` itself as it
    # was)
    filled = msgspec.structs.replace(
        event, event_id=payload["eventId"], timestamp=payload["timestamp"], source=payload["source"]
    )
    assert codec.decode_event(json.dumps(back).encode()) == filled


# -- JSON Schema -----------------------------------------------------------------------------------


@TYPES
def test_json_schema_is_valid_standalone_2020_12(cls):
    schema = _json_schema(cls)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (
        schema["$id"].endswith(f"/{cls.__name__}.schema.json") and schema["title"] == cls.__name__
    )
    assert (
        schema["description"] and "$ref" not in schema
    )  # the type itself is inline, not a $defs hop
    assert list(schema["properties"]) == list(cls.__struct_encode_fields__)
    assert all(p["description"] for p in schema["properties"].values())
    assert schema["x-cloudevents-type"] == cls.CE_TYPE and schema["x-kafka-topic"] == cls.TOPIC


@TYPES
@pytest.mark.parametrize("build", [full_event, minimal_event], ids=["full", "minimal"])
def test_sample_events_validate_against_their_json_schema(cls, build):
    validator = Draft202012Validator(_json_schema(cls))
    payload = _wire(build(cls))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(payload)]
    assert errors == []


@TYPES
def test_required_lists_exactly_the_fields_always_on_the_wire(cls):
    always = list(_wire(minimal_event(cls)))
    assert _json_schema(cls)["required"] == always
    optional = set(_wire(full_event(cls))) - set(always)
    assert optional == {f for f in cls.__struct_encode_fields__ if f not in always}


def _mutations(cls: type[T.Event]):
    """(field, bad value) pairs the decoder must reject, derived from the JSON Schema's keywords."""
    for name, prop in _json_schema(cls)["properties"].items():
        if "enum" in prop:
            yield name, prop["enum"][0].lower() + "_NOT_IN_SET"
        if "const" in prop:
            yield name, "SomeOtherEvent"
        if prop.get("minimum") == 0:
            yield name, -1
        if "maximum" in prop:
            yield name, prop["maximum"] + 1
        if prop.get("minLength") == 1:
            yield name, ""
        if prop.get("type") == "string":
            yield name, 7
        if prop.get("type") in ("integer", "number"):
            yield name, "12"
        if prop.get("type") == "object":
            yield name, {"k": 1}
        if prop.get("type") == "array":
            yield name, "not-a-list"


@TYPES
def test_json_schema_and_decoder_reject_the_same_bad_values(cls):
    validator = Draft202012Validator(_json_schema(cls))
    good = _wire(full_event(cls))
    cases = list(_mutations(cls))
    assert len(cases) >= 15
    for name, bad in cases:
        payload = {**good, name: bad}
        assert not validator.is_valid(payload), f"JSON Schema accepted {name}={bad!r}"
        with pytest.raises(T.EventValidationError) as info:
            codec.decode_event(json.dumps(payload).encode(), cls.__name__)
        assert info.value.field is not None and info.value.field.split("[")[0] == name, (name, bad)


@TYPES
def test_missing_required_field_is_rejected_by_both(cls):
    validator = Draft202012Validator(_json_schema(cls))
    good = _wire(minimal_event(cls))
    camel = dict(zip(cls.__struct_fields__, cls.__struct_encode_fields__))
    for name in MINIMAL[cls]:
        key = camel[name]
        payload = {k: v for k, v in good.items() if k != key}
        assert not validator.is_valid(payload)
        with pytest.raises(T.EventValidationError) as info:
            codec.decode_event(json.dumps(payload).encode(), cls.__name__)
        assert info.value.field == key


def test_nested_column_lineage_is_checked():
    validator = Draft202012Validator(_json_schema(T.DataLineageEvent))
    payload = _wire(full_event(T.DataLineageEvent))
    payload["columns"][1] = {"sourceColumn": "ts"}
    assert [list(e.absolute_path) for e in validator.iter_errors(payload)] == [["columns", 1]]


def test_json_schema_and_types_agree_on_numeric_bounds():
    props = _json_schema(T.AuditAPICallEvent)["properties"]
    assert (props["statusCode"]["minimum"], props["statusCode"]["maximum"]) == (100, 599)
    props = _json_schema(T.DataQualityEvent)["properties"]
    assert (props["score"]["minimum"], props["score"]["maximum"]) == (0, 1)
    assert props["failedRecords"]["maximum"] == 2**63 - 1


# -- catalog.json and docs/events.md ---------------------------------------------------------------


def test_catalog_json_lists_the_twelve_topics():
    doc = json.loads((SCHEMAS / "catalog.json").read_text())
    rows = doc["topics"]
    assert [r["name"] for r in rows] == [t.name for t in TOPICS] and len(rows) == 12
    for row, spec in zip(rows, TOPICS):
        cls = T.EVENT_TYPES_BY_NAME[spec.event_type]
        assert (row["category"], row["partitions"], row["retention.ms"], row["cleanup.policy"]) == (
            spec.category,
            spec.partitions,
            spec.retention_ms,
            spec.cleanup_policy,
        )
        assert (row["eventType"], row["key"], row["ce_type"]) == (
            spec.event_type,
            spec.key_field,
            cls.CE_TYPE,
        )
        assert (SCHEMAS / row["jsonSchema"]).is_file() and (SCHEMAS / row["avroSchema"]).is_file()


def _doc_topic_rows() -> list[list[str]]:
    text = (REPO / "docs" / "events.md").read_text()
    section = text.split("## Topics", 1)[1].split("\n## ", 1)[0]
    rows = [
        [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|")
    ]
    return [r for r in rows[1:] if not re.fullmatch(r"-+", r[0])]  # drop header and rule


def test_docs_topic_table_matches_the_catalog():
    rows = _doc_topic_rows()
    assert [r[0] for r in rows] == [t.name for t in TOPICS], (
        "docs/events.md topic names differ from catalog.py"
    )
    for row, spec in zip(rows, TOPICS):
        days = spec.retention_ms // 86_400_000
        expected = [
            spec.name,
            spec.category,
            str(spec.partitions),
            f"{days} d",
            spec.cleanup_policy,
            spec.event_type,
            spec.key_field,
            T.EVENT_TYPES_BY_NAME[spec.event_type].CE_TYPE,
        ]
        assert row == expected, f"docs/events.md row for {spec.name} differs from catalog.py"


def test_full_samples_set_every_field():
    for cls, kwargs in FULL.items():
        assert set(kwargs) | {"event_type"} == set(cls.__struct_fields__), cls.__name__
        assert msgspec.structs.asdict(full_event(cls)).keys() == set(cls.__struct_fields__)
